// Text playgrounds: chat (streamed), embeddings (a similarity matrix), orchestrated requests.
import { useState } from "preact/hooks";
import { call, Curl, curl, json, Timing } from "../api.js";
import { html } from "../html.js";
import { ErrorLine, ModelPicker, useRun } from "./playground.js";

/** Yields the JSON of each server-sent event of `response` until `[DONE]`. */
async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

export function ChatPlay({ models }) {
  const [model, setModel] = useState("");
  const [system, setSystem] = useState("You are a helpful assistant.");
  const [prompt, setPrompt] = useState("Write a haiku about local AI models.");
  const [params, setParams] = useState({ temperature: 0.7, max_tokens: 128, top_p: 0.95, seed: "" });
  const [reply, setReply] = useState("");
  const [answer, setAnswer] = useState(null);
  const [sent, setSent] = useState(null);
  const [run, busy, error] = useRun();
  const body = () => {
    const { seed, ...rest } = params;
    return {
      model, stream: true, stream_options: { include_usage: true }, ...rest, ...(seed === "" ? {} : { seed: Number(seed) }),
      messages: [...(system ? [{ role: "system", content: system }] : []), { role: "user", content: prompt }],
    };
  };
  const send = (event) => {
    event.preventDefault();
    const request = body();
    setSent(curl("/v1/chat/completions", { body: request, stream: true }));
    setReply("");
    setAnswer(null);
    run(async () => {
      const started = performance.now();
      let first = null, text = "", usage = null;
      const response = await call("/v1/chat/completions", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request),
      });
      for await (const chunk of events(response)) {
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) {
          first ??= performance.now() - started;
          text += delta;
          setReply(text);
        }
        usage = chunk.usage || usage;
      }
      const total = performance.now() - started;
      setAnswer({ model: request.model, first, total, usage });
    });
  };
  const param = (name, step) => html`<label>${name}
    <input type="number" step=${step} value=${params[name]} name=${name}
      onInput=${(e) => setParams({ ...params, [name]: e.target.value === "" ? "" : Number(e.target.value) })} /></label>`;
  return html`<form class="play" onSubmit=${send}>
    <${ModelPicker} models=${models} tasks=${["chat"]} value=${model} onChange=${setModel} />
    <label>System <input value=${system} onInput=${(e) => setSystem(e.target.value)} /></label>
    <label>Message <textarea name="prompt" rows="3" value=${prompt} onInput=${(e) => setPrompt(e.target.value)}></textarea></label>
    <fieldset class="params"><legend>Parameters</legend>
      ${param("temperature", "0.1")}${param("max_tokens", "1")}${param("top_p", "0.05")}${param("seed", "1")}</fieldset>
    <button disabled=${busy || !model}>${busy ? "Generating…" : "Send"}</button>
  </form>
  <${Curl} text=${sent} />
  <${ErrorLine} error=${error} />
  <div class="reply" data-testid="reply" aria-live="polite">${reply}</div>
  ${answer && html`<p class="timing" data-testid="timing">model <b>${answer.model}</b>
    ${` · first token ${answer.first?.toFixed(0)} ms · total ${answer.total.toFixed(0)} ms (measured by the page)`}
    ${answer.usage && ` · ${answer.usage.completion_tokens} tokens`}</p>`}`;
}

const cosine = (a, b) => {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb || 1);
};

export function EmbeddingsPlay({ models }) {
  const [model, setModel] = useState("");
  const [text, setText] = useState("A cat sleeps on the sofa.\nA kitten naps on the couch.\nThe stock market fell today.");
  const [result, setResult] = useState(null);
  const [sent, setSent] = useState(null);
  const [run, busy, error] = useRun();
  const send = (event) => {
    event.preventDefault();
    const sentences = text.split("\n").map((s) => s.trim()).filter(Boolean);
    const request = { model_id: model, inputs: sentences };
    setSent(curl("/api/inference/", { body: request }));
    run(async () => {
      const answer = await json("/api/inference/", request);
      const vectors = answer.outputs.embeddings;
      setResult({ answer, sentences, matrix: vectors.map((a) => vectors.map((b) => cosine(a, b))) });
    });
  };
  return html`<form class="play" onSubmit=${send}>
    <${ModelPicker} models=${models} tasks=${["embedding"]} value=${model} onChange=${setModel} />
    <label>Sentences, one a line <textarea rows="4" value=${text} onInput=${(e) => setText(e.target.value)}></textarea></label>
    <button disabled=${busy || !model}>Compare</button>
  </form>
  <${Curl} text=${sent} />
  <${ErrorLine} error=${error} />
  ${result && html`<div class="scroll"><table class="matrix"><caption>Cosine similarity</caption>
    <thead><tr><th></th>${result.sentences.map((_, i) => html`<th scope="col">${i + 1}</th>`)}</tr></thead>
    <tbody>${result.matrix.map((row, i) => html`<tr><th scope="row" title=${result.sentences[i]}>${i + 1}. ${result.sentences[i]}</th>
      ${row.map((v) => html`<td style=${`background: rgba(37, 99, 235, ${Math.max(0, v).toFixed(2)}); color: ${v > 0.5 ? "#fff" : "inherit"}`}>${v.toFixed(3)}</td>`)}</tr>`)}</tbody>
  </table></div><${Timing} answer=${result.answer} />`}`;
}

export function OrchestratedPlay({ models }) {
  const tasks = [...new Set(models.flatMap((m) => m.tasks))].sort();
  const [task, setTask] = useState("embedding");
  const [inputs, setInputs] = useState('["a cat sleeps on the sofa"]');
  const [strategy, setStrategy] = useState("default");
  const [fallback, setFallback] = useState(true);
  const [answer, setAnswer] = useState(null);
  const [sent, setSent] = useState(null);
  const [run, busy, error] = useRun();
  const send = (event) => {
    event.preventDefault();
    run(async () => {
      const request = { task_type: task, inputs: JSON.parse(inputs), model_id: "auto", strategy, fallback };
      setSent(curl("/api/inference/orchestrated", { body: request }));
      setAnswer(await json("/api/inference/orchestrated", request));
    });
  };
  const o = answer?.orchestration;
  return html`<form class="play" onSubmit=${send}>
    <label>Task <select value=${task} onChange=${(e) => setTask(e.target.value)}>
      ${tasks.map((t) => html`<option>${t}</option>`)}</select></label>
    <label>Inputs (JSON) <textarea rows="3" value=${inputs} onInput=${(e) => setInputs(e.target.value)}></textarea></label>
    <label>Strategy <select value=${strategy} onChange=${(e) => setStrategy(e.target.value)}>
      ${["default", "performance", "accuracy", "cost"].map((s) => html`<option>${s}</option>`)}</select></label>
    <label class="check"><input type="checkbox" checked=${fallback} onChange=${(e) => setFallback(e.target.checked)} /> fall back on failure</label>
    <button disabled=${busy}>Run</button>
  </form>
  <${Curl} text=${sent} />
  <${ErrorLine} error=${error} />
  ${o && html`<p><b>${o.strategy}</b>: ${o.reason}</p>
    <h3>Ranking</h3><ol>${o.ranking.map((r) => html`<li><b>${r.model_id}</b>: ${r.reason}</li>`)}</ol>
    <h3>Attempts</h3><ol>${o.attempts.map((a) => html`<li><b>${a.model_id}</b>: ${a.outcome}
      ${a.ms !== undefined && ` in ${a.ms} ms`}${a.error && ` — ${a.error.message}`}</li>`)}</ol>
    <details><summary>Outputs</summary><pre>${JSON.stringify(answer.outputs, null, 2).slice(0, 4000)}</pre></details>
    <${Timing} answer=${answer} />`}`;
}
