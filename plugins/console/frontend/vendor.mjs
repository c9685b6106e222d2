// Copies the distributed files of the console's libraries (and the /docs renderer, which
// the core serves itself) out of node_modules, each licence beside them, and records
// what was copied in versions.json. Run by scripts/build-console.sh.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

const root = new URL("../../..", import.meta.url).pathname;
const targets = {
  [join(root, "plugins/console/src/altlas_console/static/vendor")]: {
    preact: ["dist/preact.mjs", "hooks/dist/hooks.mjs"],
    htm: ["dist/htm.mjs"],
    uplot: ["dist/uPlot.esm.js", "dist/uPlot.min.css"],
  },
  [join(root, "core/src/altlas/http/static/swagger-ui")]: {
    "swagger-ui-dist": ["swagger-ui-bundle.js", "swagger-ui-bundle.js.LICENSE.txt", "swagger-ui.css", "NOTICE"],
  },
};

for (const [target, packages] of Object.entries(targets)) {
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  const files = {};
  for (const [name, paths] of Object.entries(packages)) {
    const dir = join("node_modules", name);
    const { version } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    // Every package's licence is called LICENSE: keep each under its package's name.
    for (const [source, copy] of [...paths.map((p) => [p, basename(p)]), ["LICENSE", `LICENSE.${name}`]]) {
      copyFileSync(join(dir, source), join(target, copy));
      const sha256 = createHash("sha256").update(readFileSync(join(target, copy))).digest("hex");
      files[copy] = { package: name, version, sha256 };
    }
  }
  writeFileSync(join(target, "versions.json"), JSON.stringify(files, null, 2) + "\n");
  console.log(`vendored ${Object.keys(files).length} files into ${target}`);
}
