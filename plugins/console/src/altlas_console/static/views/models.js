// Models: every catalog entry with its state, where it runs, its memory against the
// budget and its queue; load, unload, pin and unpin. Polled every two seconds.
import { useEffect, useState } from "preact/hooks";
import { call, json } from "../api.js";
import { bytes, until } from "../format.js";
import { html } from "../html.js";
import { byLabel, parseMetrics } from "../metrics.js";

const POLL_MS = 2000;

/** Polls `load` every `ms` while the view is shown; returns [data, error, refresh]. */
export function usePoll(load, ms) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const run = () => load().then(
      (value) => live && (setData(value), setError(null)),
      (err) => live && setError(err),
    );
    run();
    const timer = setInterval(run, ms);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [tick]);
  return [data, error, () => setTick((t) => t + 1)];
}

// The budget and the queues come from metrics-scoped routes: without that scope the
// table still shows the models.
async function loadModels() {
  const { models } = await json("/api/models/");
  const [resources, metrics] = await Promise.all([
    json("/api/system/resources").catch(() => null),
    call("/metrics").then((r) => r.text()).then(parseMetrics).catch(() => null),
  ]);
  return {
    models,
    budget: resources?.ram?.budget_bytes ?? null,
    queued: metrics ? byLabel(metrics, "altlas_queue_depth", "model") : {},
  };
}

function Memory({ status, budget }) {
  const est = status.memory_estimated, measured = status.memory_measured;
  if (!est && !measured) return "–";
  const used = measured?.ram_bytes ?? est?.ram_bytes ?? 0;
  const share = budget ? Math.min(100, (100 * used) / budget) : null;
  return html`<span class="memory" title="estimated ${bytes(est?.ram_bytes)}, measured ${bytes(measured?.ram_bytes)}${budget ? `, budget ${bytes(budget)}` : ""}">
    ${measured ? bytes(measured.ram_bytes) : "–"}<small> measured</small>
    ${(est?.gpu_bytes || measured?.gpu_bytes) ? html` · GPU ${bytes(measured?.gpu_bytes ?? est?.gpu_bytes)}` : ""}
    <small class="detail">${bytes(est?.ram_bytes)} estimated</small>
    ${share !== null && html`<meter min="0" max="100" value=${share} aria-label="share of the memory budget"></meter>`}
  </span>`;
}

function Actions({ model, admin, act }) {
  if (!admin) return null;
  const s = model.status;
  const busy = ["loading", "unloading", "downloading"].includes(s.state);
  const loaded = s.state === "loaded";
  const broken = ["weights_missing", "unavailable"].includes(s.state);
  return html`<span class="actions">
    ${!loaded && html`<button disabled=${busy || broken} onClick=${() => act(model.id, "load")}>Load</button>`}
    ${loaded && html`<button disabled=${busy} onClick=${() => act(model.id, "unload")}>Unload</button>`}
    ${s.pinned
      ? html`<button disabled=${busy} onClick=${() => act(model.id, "load", { pin: false })}>Unpin</button>`
      : html`<button disabled=${busy || broken} onClick=${() => act(model.id, "load", { pin: true })}>Pin</button>`}
  </span>`;
}

function Row({ model, budget, queued, admin, act }) {
  const s = model.status;
  const where = s.host ? `${s.host.kind}${s.host.node ? ` @ ${s.host.node}` : ""}` : "";
  return html`<tr data-model=${model.id}>
    <th scope="row">${model.id}</th>
    <td data-label="Tasks">${model.tasks.map((t) => html`<span class="task">${t}</span> `)}</td>
    <td data-label="Backend">${model.backend}</td>
    <td data-label="State"><span class="state state-${s.state}" data-testid="state">${s.state}</span>
      ${s.detail && html`<div class="detail">${s.detail}</div>`}</td>
    <td data-label="Actions"><${Actions} model=${model} admin=${admin} act=${act} /></td>
    <td data-label="Device / host">${[s.device, where].filter(Boolean).join(" · ") || "–"}</td>
    <td data-label="Memory"><${Memory} status=${s} budget=${budget} /></td>
    <td data-label="Pinned">${s.pinned ? "yes" : "no"}</td>
    <td data-label="In flight">${s.in_flight || 0}</td>
    <td data-label="Queued">${queued[model.id] || 0}</td>
    <td data-label="Keep-alive">${until(s.expires_at)}</td>
  </tr>`;
}

export function ModelsView({ admin }) {
  const [data, error, refresh] = usePoll(loadModels, POLL_MS);
  const [message, setMessage] = useState(null);
  const act = async (id, action, body) => {
    setMessage(`${action} ${id}…`);
    try {
      await json(`/api/models/${encodeURIComponent(id)}/${action}`, body ?? {});
      setMessage(null);
    } catch (err) {
      setMessage(`${action} ${id}: ${err.message}`);
    }
    refresh();
  };
  return html`<section>
    <h2>Models</h2>
    ${data?.budget && html`<p>Memory budget: ${bytes(data.budget)}</p>`}
    ${message && html`<p class="message" role="status">${message}</p>`}
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    ${data && html`<div class="scroll"><table class="models">
      <thead><tr><th>Model</th><th>Tasks</th><th>Backend</th><th>State</th><th>Actions</th><th>Device / host</th>
        <th>Memory</th><th>Pinned</th><th>In flight</th><th>Queued</th><th>Keep-alive</th></tr></thead>
      <tbody>${data.models.map((m) => html`<${Row} key=${m.id} model=${m} budget=${data.budget}
        queued=${data.queued} admin=${admin} act=${act} />`)}</tbody>
    </table></div>`}
  </section>`;
}
