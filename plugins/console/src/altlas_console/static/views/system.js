// System: CPU, RAM and GPU use, requests per second, latency percentiles and queue depth
// over the last minutes, sampled by the page from /api/system/resources and /metrics
// every two seconds and drawn with uPlot; evictions, errors by code and open breakers.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { call, json } from "../api.js";
import { bytes, percent } from "../format.js";
import { html } from "../html.js";
import { buckets, byLabel, parseMetrics, quantile, total } from "../metrics.js";

const SAMPLE_MS = 2000;
const KEEP = 150; // five minutes of samples
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"];

/** One sample: the resources now and rates since the previous sample's metrics. */
function sample(resources, metrics, previous) {
  const now = Date.now() / 1000;
  const requests = total(metrics, "altlas_requests_total");
  const latency = buckets(metrics, "altlas_request_duration_seconds");
  const seconds = previous ? now - previous.time : null;
  const window = previous?.latency || {};
  const ms = (q) => {
    const v = previous ? quantile(q, window, latency) : null;
    return v === null ? null : v * 1000;
  };
  const statuses = {};
  for (const s of metrics) {
    if (s.name === "altlas_requests_total" && Number(s.labels.status) >= 400) {
      statuses[s.labels.status] = (statuses[s.labels.status] || 0) + s.value;
    }
  }
  return {
    time: now,
    requests,
    latency,
    cpu: resources.cpu.percent,
    ram: resources.ram.used_percent,
    gpus: resources.gpus.map((g) => g.utilization_percent),
    rps: seconds ? Math.max(0, requests - previous.requests) / seconds : null,
    p50: ms(0.5),
    p95: ms(0.95),
    p99: ms(0.99),
    queue: total(metrics, "altlas_queue_depth"),
    evictions: total(metrics, "altlas_model_events_total", { event: "evicted" }),
    errors: statuses,
    breakers: metrics.filter((s) => s.name === "altlas_circuit_open" && s.value > 0).map((s) => s.labels),
    resources,
  };
}

function useSamples() {
  const [samples, setSamples] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    let last = null;
    const run = async () => {
      try {
        const [resources, text] = await Promise.all([
          json("/api/system/resources"), call("/metrics").then((r) => r.text()),
        ]);
        if (!live) return;
        last = sample(resources, parseMetrics(text), last);
        setSamples((list) => [...list.slice(-(KEEP - 1)), last]);
        setError(null);
      } catch (err) {
        if (live) setError(err);
      }
    };
    run();
    const timer = setInterval(run, SAMPLE_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  return [samples, error];
}

/** A uPlot line chart of `series` ({label: [values]}) over `times`. */
function Chart({ title, times, series, unit }) {
  const box = useRef(null);
  const plot = useRef(null);
  const labels = Object.keys(series);
  const data = [times, ...labels.map((l) => series[l])];
  useEffect(() => {
    const width = Math.max(260, Math.min(560, box.current.clientWidth || 560));
    plot.current = new uPlot({
      title, width, height: 180,
      // Rates, latencies and queues start at zero; a flat line stays readable.
      scales: { x: { time: true }, y: { range: (_, min, max) => [0, Math.max(max, 1)] } },
      axes: [{}, { label: unit, size: 60 }],
      series: [{}, ...labels.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true }))],
    }, data, box.current);
    return () => plot.current.destroy();
  }, [labels.join()]);
  useEffect(() => plot.current?.setData(data), [times[times.length - 1]]);
  return html`<figure class="chart" ref=${box} aria-label=${title}></figure>`;
}

export function SystemView() {
  const [samples, error] = useSamples();
  const last = samples[samples.length - 1];
  if (!last) return html`<section><h2>System</h2>${error ? html`<p class="error" role="alert">${error.message}</p>` : html`<p>Sampling…</p>`}</section>`;
  const times = samples.map((s) => s.time);
  const col = (key) => samples.map((s) => s[key]);
  const usage = { "CPU %": col("cpu"), "RAM %": col("ram") };
  last.gpus.forEach((_, i) => (usage[`GPU ${i} %`] = samples.map((s) => s.gpus[i] ?? null)));
  const r = last.resources;
  return html`<section>
    <h2>System</h2>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    <p>CPU ${percent(r.cpu.percent)} of ${r.cpu.count} cores · RAM ${percent(r.ram.used_percent)} of ${bytes(r.ram.total_bytes)}
      · models ${bytes(r.ram.models_bytes)} of a ${bytes(r.ram.budget_bytes)} budget
      ${r.gpus.length === 0 && html` · ${r.gpu_note || "no GPU"}`}</p>
    <div class="charts">
      <${Chart} title="CPU, RAM and GPU use" unit="%" times=${times} series=${usage} />
      <${Chart} title="Requests per second" unit="req/s" times=${times} series=${{ "requests/s": col("rps") }} />
      <${Chart} title="Request latency" unit="ms" times=${times} series=${{ p50: col("p50"), p95: col("p95"), p99: col("p99") }} />
      <${Chart} title="Queue depth" unit="calls" times=${times} series=${{ queued: col("queue") }} />
    </div>
    <div class="facts">
      <p>Evictions (model unloads for memory): <b data-testid="evictions">${last.evictions}</b></p>
      <p>Errors by status: ${Object.keys(last.errors).length === 0 ? "none"
        : Object.entries(last.errors).map(([code, n]) => html`<span class="badge">${code}: ${n}</span> `)}</p>
      <p>Open circuit breakers: ${last.breakers.length === 0 ? "none"
        : last.breakers.map((b) => html`<span class="badge">${b.model} (${b.state})</span> `)}</p>
    </div>
  </section>`;
}
