// Reads the Prometheus text format of /metrics into samples the views sum and chart.

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of the exposition `text`: {name, labels, value}. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const labels = {};
    for (const [, key, value] of (match[2] || "").matchAll(LABEL)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `where`. */
export function total(samples, name, where = {}) {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Sums of `name` grouped by the label `by`: {labelValue: sum}. */
export function byLabel(samples, name, by) {
  const groups = {};
  for (const s of samples) {
    if (s.name === name) groups[s.labels[by]] = (groups[s.labels[by]] || 0) + s.value;
  }
  return groups;
}

/**
 * The `q` quantile (0..1) of the requests observed between two histogram snapshots
 * (`before`, `after`: {le: cumulative count}), interpolated inside the bucket as
 * Prometheus's histogram_quantile does; null when no request was observed.
 */
export function quantile(q, before, after) {
  const bounds = Object.keys(after).map(Number).sort((a, b) => a - b);
  const counts = bounds.map((le) => after[le] - (before[le] || 0));
  const count = counts[counts.length - 1];
  if (!count) return null;
  const rank = q * count;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] >= rank) {
      if (bounds[i] === Infinity) return bounds[i - 1] ?? null;
      const lower = i ? bounds[i - 1] : 0;
      const below = i ? counts[i - 1] : 0;
      return lower + ((bounds[i] - lower) * (rank - below)) / Math.max(counts[i] - below, 1);
    }
  }
  return null;
}

/** The cumulative buckets of histogram `name`, summed over its other labels: {le: count}. */
export function buckets(samples, name) {
  const out = {};
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    out[le] = (out[le] || 0) + s.value;
  }
  return out;
}
