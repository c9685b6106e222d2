// How numbers, sizes and times read on the page.

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** "in 4m 10s" for a Unix time in the future, "–" for none. */
export function until(unixSeconds) {
  if (!unixSeconds) return "–";
  const s = Math.max(0, Math.round(unixSeconds - Date.now() / 1000));
  return s >= 60 ? `in ${Math.floor(s / 60)}m ${s % 60}s` : `in ${s}s`;
}

export const percent = (x) => (x === null || x === undefined ? "–" : `${x.toFixed(1)} %`);
