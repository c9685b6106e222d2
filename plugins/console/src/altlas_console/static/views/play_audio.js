// Audio playgrounds: speech to text from an upload or the microphone (speaker turns when a
// diarization model is picked), text to speech played in the page, audio classification
// over time.
import { useRef, useState } from "preact/hooks";
import { call, Curl, curl, json, Timing } from "../api.js";
import { html } from "../html.js";
import { ErrorLine, ModelPicker, useRun } from "./playground.js";
import { Bars } from "./play_vision.js";

async function postForm(path, form) {
  const body = new FormData();
  Object.entries(form).forEach(([k, v]) => v !== "" && body.append(k, v));
  return (await call(path, { method: "POST", body })).json();
}

/** A file input plus, where the browser allows it, a microphone recorder. */
function AudioInput({ onAudio }) {
  const [recording, setRecording] = useState(null);
  const canRecord = Boolean(navigator.mediaDevices?.getUserMedia && window.MediaRecorder);
  const toggle = async () => {
    if (recording) return recording.stop();
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream);
    const parts = [];
    recorder.ondataavailable = (e) => parts.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      onAudio(new File(parts, "recording.webm", { type: recorder.mimeType }));
      setRecording(null);
    };
    recorder.start();
    setRecording(recorder);
  };
  return html`<label>Audio <input type="file" name="audio" accept="audio/*" onChange=${(e) => onAudio(e.target.files[0] || null)} /></label>
    ${canRecord && html`<button type="button" class="secondary" onClick=${toggle}>${recording ? "Stop recording" : "Record"}</button>`}`;
}

const at = (s) => `${Math.floor(s / 60)}:${(s % 60).toFixed(2).padStart(5, "0")}`;

/** The speaker whose turn overlaps the segment most. */
function speakerOf(segment, turns) {
  let best = null, most = 0;
  for (const t of turns) {
    const overlap = Math.min(t.end, segment.end) - Math.max(t.start, segment.start);
    if (overlap > most) [best, most] = [t.speaker, overlap];
  }
  return best;
}

export function SpeechPlay({ models }) {
  const [model, setModel] = useState("");
  const [diarizer, setDiarizer] = useState("");
  const [file, setFile] = useState(null);
  const [words, setWords] = useState(false);
  const [result, setResult] = useState(null);
  const [sent, setSent] = useState(null);
  const [run, busy, error] = useRun();
  const send = (event) => {
    event.preventDefault();
    const form = { audio: file, model_id: model, word_timestamps: words };
    const requests = [curl("/api/audio/transcribe", { form })];
    if (diarizer) requests.push(curl("/api/audio/speaker-diarization", { form: { audio: file, model_id: diarizer } }));
    setSent(requests.join("\n\n"));
    run(async () => {
      const [answer, turns] = await Promise.all([
        postForm("/api/audio/transcribe", form),
        diarizer ? postForm("/api/audio/speaker-diarization", { audio: file, model_id: diarizer }) : null,
      ]);
      setResult({ answer, turns: turns?.outputs.segments || [] });
    });
  };
  const out = result?.answer.outputs;
  return html`<form class="play" onSubmit=${send}>
    <${ModelPicker} models=${models} tasks=${["speech-to-text"]} value=${model} onChange=${setModel} />
    <${ModelPicker} label="Speaker turns" optional models=${models} tasks=${["speaker-diarization"]} value=${diarizer} onChange=${setDiarizer} />
    <${AudioInput} onAudio=${setFile} />
    <label class="check"><input type="checkbox" checked=${words} onChange=${(e) => setWords(e.target.checked)} /> word timestamps</label>
    <button disabled=${busy || !file || !model}>${busy ? "Transcribing…" : "Transcribe"}</button>
  </form>
  <${Curl} text=${sent} />
  <${ErrorLine} error=${error} />
  ${out && html`<p>${out.language && `Language ${out.language} · `}${out.duration} s</p>
    <table class="segments"><thead><tr><th>Start</th><th>End</th>${result.turns.length > 0 && html`<th>Speaker</th>`}<th>Text</th></tr></thead>
    <tbody>${out.segments.map((s) => html`<tr><td>${at(s.start)}</td><td>${at(s.end)}</td>
      ${result.turns.length > 0 && html`<td>${speakerOf(s, result.turns)}</td>`}
      <td>${s.words ? s.words.map((w) => html`<span title="${at(w.start)}–${at(w.end)}">${w.word}</span>`) : s.text}</td></tr>`)}</tbody></table>
    <${Timing} answer=${result.answer} />`}`;
}

export function TtsPlay({ models }) {
  const [model, setModel] = useState("");
  const [text, setText] = useState("Hello from altlas. Every model, one API.");
  const [answer, setAnswer] = useState(null);
  const [sent, setSent] = useState(null);
  const [run, busy, error] = useRun();
  const player = useRef(null);
  const send = (event) => {
    event.preventDefault();
    // JSON answers carry the timing and the model; the audio comes base64-encoded.
    const request = { model_id: model, inputs: text, parameters: { response_format: "json" } };
    setSent(curl("/api/audio/text-to-speech", { body: request }));
    run(async () => {
      const result = await json("/api/audio/text-to-speech", request);
      setAnswer(result);
      requestAnimationFrame(() => player.current?.play().catch(() => {
        // Autoplay refused (no user gesture this browser counts): the controls remain.
      }));
    });
  };
  return html`<form class="play" onSubmit=${send}>
    <${ModelPicker} models=${models} tasks=${["text-to-speech"]} value=${model} onChange=${setModel} />
    <label>Text <textarea name="text" rows="3" value=${text} onInput=${(e) => setText(e.target.value)}></textarea></label>
    <button disabled=${busy || !model || !text}>${busy ? "Speaking…" : "Speak"}</button>
  </form>
  <${Curl} text=${sent} />
  <${ErrorLine} error=${error} />
  ${answer && html`<audio ref=${player} controls data-testid="speech"
      src=${`data:audio/${answer.outputs.format};base64,${answer.outputs.audio}`}></audio>
    <p>${answer.outputs.duration} s at ${answer.outputs.sample_rate} Hz</p><${Timing} answer=${answer} />`}`;
}

/** The events of an audio clip as bars along its duration. */
function Timeline({ events, duration }) {
  const labels = [...new Set(events.map((e) => e.label))];
  return html`<svg class="timeline" viewBox="0 0 1000 ${labels.length * 24 + 20}" role="img" aria-label="events over time">
    ${labels.map((label, row) => html`<g>
      <text x="4" y=${row * 24 + 16} font-size="12">${label}</text>
      ${events.filter((e) => e.label === label).map((e) => html`<rect x=${150 + (850 * e.start) / duration} y=${row * 24 + 4}
        width=${Math.max(2, (850 * (e.end - e.start)) / duration)} height="16" fill="#2563eb" opacity=${0.3 + 0.7 * e.score}>
        <title>${e.label} ${e.start}–${e.end} s (${e.score})</title></rect>`)}</g>`)}
    <text x="150" y=${labels.length * 24 + 16} font-size="11">0 s</text>
    <text x="960" y=${labels.length * 24 + 16} font-size="11">${duration} s</text>
  </svg>`;
}

export function AudioClassifyPlay({ models }) {
  const [model, setModel] = useState("");
  const [file, setFile] = useState(null);
  const [answer, setAnswer] = useState(null);
  const [sent, setSent] = useState(null);
  const [run, busy, error] = useRun();
  const send = (event) => {
    event.preventDefault();
    const form = { audio: file, model_id: model, top_k: 5 };
    setSent(curl("/api/audio/audio-classification", { form }));
    run(async () => setAnswer(await postForm("/api/audio/audio-classification", form)));
  };
  const out = answer?.outputs;
  return html`<form class="play" onSubmit=${send}>
    <${ModelPicker} models=${models} tasks=${["audio-classification"]} value=${model} onChange=${setModel} />
    <${AudioInput} onAudio=${setFile} />
    <button disabled=${busy || !file || !model}>${busy ? "Listening…" : "Classify"}</button>
  </form>
  <${Curl} text=${sent} />
  <${ErrorLine} error=${error} />
  ${out && html`<${Bars} labels=${out.labels} />
    ${out.events?.length > 0 && html`<${Timeline} events=${out.events} duration=${out.duration} />`}
    <${Timing} answer=${answer} />`}`;
}
