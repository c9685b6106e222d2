// Playground: one view per task family, picked by the hash (#playground/chat).
import { useEffect, useState } from "preact/hooks";
import { json } from "../api.js";
import { html } from "../html.js";
import { AudioClassifyPlay, SpeechPlay, TtsPlay } from "./play_audio.js";
import { ChatPlay, EmbeddingsPlay, OrchestratedPlay } from "./play_text.js";
import { VisionPlay } from "./play_vision.js";

const FAMILIES = {
  chat: ["Chat", ChatPlay],
  embeddings: ["Embeddings", EmbeddingsPlay],
  vision: ["Vision", VisionPlay],
  stt: ["Speech to text", SpeechPlay],
  tts: ["Text to speech", TtsPlay],
  "audio-classification": ["Audio classification", AudioClassifyPlay],
  orchestrated: ["Orchestrated", OrchestratedPlay],
};

/** The catalog, loaded once per playground view (the model pickers read it). */
function useCatalog() {
  const [models, setModels] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => {
    json("/api/models/").then((body) => setModels(body.models), setError);
  }, []);
  return [models, error];
}

export function PlaygroundView({ sub }) {
  const family = FAMILIES[sub] ? sub : "chat";
  const [models, error] = useCatalog();
  const [, Play] = FAMILIES[family];
  return html`<section>
    <h2>Playground</h2>
    <nav class="tabs" aria-label="Task families">
      ${Object.entries(FAMILIES).map(([id, [label]]) => html`
        <a href="#playground/${id}" aria-current=${id === family ? "page" : undefined}>${label}</a>`)}
    </nav>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    <${Play} key=${family} models=${models} />
  </section>`;
}

/** A <select> of the models serving one of `tasks` (those that can run first). */
export function ModelPicker({ models, tasks, value, onChange, label = "Model", optional }) {
  const usable = models.filter((m) => m.tasks.some((t) => tasks.includes(t)));
  const ready = (m) => !["weights_missing", "unavailable"].includes(m.status.state);
  const sorted = [...usable.filter(ready), ...usable.filter((m) => !ready(m))];
  useEffect(() => {
    if (!optional && !value && sorted.length) onChange(sorted[0].id);
  }, [sorted.length]);
  return html`<label>${label}
    <select name="model" value=${value || ""} onChange=${(e) => onChange(e.target.value)}>
      ${optional && html`<option value="">(none)</option>`}
      ${sorted.map((m) => html`<option value=${m.id}>${m.id}${ready(m) ? "" : ` (${m.status.state})`}</option>`)}
    </select></label>`;
}

/** Runs `fn` with a busy flag and an error message; returns [run, busy, error]. */
export function useRun() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (fn) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(err.message || String(err));
    } finally {
      setBusy(false);
    }
  };
  return [run, busy, error];
}

export const ErrorLine = ({ error }) => error && html`<p class="error" role="alert">${error}</p>`;
