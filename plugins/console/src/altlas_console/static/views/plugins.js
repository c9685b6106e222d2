// Plugins: what is installed and what failed, with the reason.
import { json } from "../api.js";
import { html } from "../html.js";
import { usePoll } from "./models.js";

export function PluginsView() {
  const [data, error] = usePoll(() => json("/api/plugins"), 10000);
  if (error) return html`<p class="error" role="alert">${error.message}</p>`;
  if (!data) return html`<p>Loading…</p>`;
  return html`<section>
    <h2>Plugins</h2>
    ${data.failures.length > 0 && html`<h3>Failed</h3>
      <ul class="failures">${data.failures.map((f) => html`<li data-plugin=${f.name}>
        <b>${f.name}</b> ${f.distribution && html`(${f.distribution})`}<pre>${f.error}</pre></li>`)}</ul>`}
    <h3>Installed</h3>
    <div class="scroll"><table>
      <thead><tr><th>Plugin</th><th>Distribution</th><th>Version</th><th>Hooks</th></tr></thead>
      <tbody>${data.plugins.map((p) => html`<tr data-plugin=${p.name}>
        <th scope="row">${p.name}${p.builtin ? " (built-in)" : ""}</th><td>${p.distribution}</td>
        <td>${p.version}</td><td>${p.hooks.join(", ")}</td></tr>`)}</tbody>
    </table></div>
  </section>`;
}
