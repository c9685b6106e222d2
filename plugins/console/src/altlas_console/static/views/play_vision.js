// Vision playground: an uploaded image sent to a vision task route, the answer drawn over
// it (boxes, keypoints, OCR lines, segmentation masks) or shown as bars (classification).
import { useEffect, useRef, useState } from "preact/hooks";
import { call, Curl, curl, Timing } from "../api.js";
import { html } from "../html.js";
import { ErrorLine, ModelPicker, useRun } from "./playground.js";

const TASKS = {
  "object-detection": "/api/vision/object-detection",
  ocr: "/api/vision/ocr",
  "image-segmentation": "/api/vision/image-segmentation",
  "image-classification": "/api/vision/image-classification",
};
export const BOX_COLOR = "#ff2d55";
const PALETTE = [[255, 45, 85], [37, 99, 235], [22, 163, 74], [234, 88, 12], [147, 51, 234], [14, 165, 233]];
// COCO's keypoint pairs, by index (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
const SKELETON = [[0, 1], [0, 2], [1, 3], [2, 4], [5, 6], [5, 7], [7, 9], [6, 8], [8, 10],
  [5, 11], [6, 12], [11, 12], [11, 13], [13, 15], [12, 14], [14, 16]];

/** A COCO uncompressed RLE mask (column-major runs, zeros first) as a 0/1 array, row-major. */
function decodeRle({ size: [height, width], counts }) {
  const mask = new Uint8Array(height * width);
  let index = 0;
  counts.forEach((run, i) => {
    if (i % 2) {
      for (let k = index; k < index + run; k++) mask[(k % height) * width + Math.floor(k / height)] = 1;
    }
    index += run;
  });
  return mask;
}

async function maskPixels(mask) {
  if (mask.format === "rle") return decodeRle(mask);
  const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${mask.png}`)).blob());
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  return Uint8Array.from({ length: bitmap.width * bitmap.height }, (_, i) => (data[i * 4] > 127 ? 1 : 0));
}

async function drawSegments(ctx, segments) {
  const { width, height } = ctx.canvas;
  const overlay = ctx.getImageData(0, 0, width, height);
  for (const [n, segment] of segments.entries()) {
    if (segment.label === "background") continue;
    const pixels = await maskPixels(segment.mask);
    const [r, g, b] = PALETTE[n % PALETTE.length];
    pixels.forEach((on, i) => {
      if (!on) return;
      overlay.data[i * 4] = (overlay.data[i * 4] + r) / 2;
      overlay.data[i * 4 + 1] = (overlay.data[i * 4 + 1] + g) / 2;
      overlay.data[i * 4 + 2] = (overlay.data[i * 4 + 2] + b) / 2;
    });
  }
  ctx.putImageData(overlay, 0, 0);
}

function drawDetections(ctx, detections) {
  const scale = Math.max(1, ctx.canvas.width / 600);
  ctx.lineWidth = 3 * scale;
  ctx.font = `${14 * scale}px sans-serif`;
  for (const d of detections) {
    const { x1, y1, x2, y2 } = d.box;
    ctx.strokeStyle = BOX_COLOR;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const label = `${d.label} ${(d.confidence ?? 0).toFixed(2)}`;
    ctx.fillStyle = BOX_COLOR;
    ctx.fillRect(x1, y1 - 18 * scale, ctx.measureText(label).width + 8 * scale, 18 * scale);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x1 + 4 * scale, y1 - 4 * scale);
    const points = d.keypoints || [];
    ctx.strokeStyle = "#22d3ee";
    for (const [a, b] of SKELETON) {
      if (points[a]?.confidence > 0.5 && points[b]?.confidence > 0.5) {
        ctx.beginPath();
        ctx.moveTo(points[a].x, points[a].y);
        ctx.lineTo(points[b].x, points[b].y);
        ctx.stroke();
      }
    }
    ctx.fillStyle = "#facc15";
    for (const p of points.filter((p) => p.confidence > 0.5)) {
      ctx.beginPath();
      ctx.arc(p.x, p.y, 4 * scale, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}

function drawLines(ctx, lines) {
  ctx.strokeStyle = "#16a34a";
  ctx.lineWidth = 2;
  for (const line of lines) {
    ctx.beginPath();
    line.polygon.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.stroke();
  }
}

/** The image with the answer drawn over it. */
function Drawing({ file, outputs }) {
  const canvas = useRef(null);
  useEffect(() => {
    let live = true;
    (async () => {
      const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
      if (!live) return;
      const el = canvas.current;
      el.width = bitmap.width;
      el.height = bitmap.height;
      const ctx = el.getContext("2d");
      ctx.drawImage(bitmap, 0, 0);
      if (outputs?.segments) await drawSegments(ctx, outputs.segments);
      if (outputs?.detections) drawDetections(ctx, outputs.detections);
      if (outputs?.lines) drawLines(ctx, outputs.lines);
      el.dataset.drawn = outputs ? "answer" : "image";
    })();
    return () => (live = false);
  }, [file, outputs]);
  return html`<canvas class="drawing" ref=${canvas} data-testid="drawing" aria-label="the uploaded image with the answer drawn over it"></canvas>`;
}

export function Bars({ labels }) {
  return html`<ul class="bars">${labels.map((l) => html`<li>
    <span class="bar" style=${`width: ${(100 * l.score).toFixed(1)}%`}></span>
    <span>${l.label} ${l.score.toFixed(3)}</span></li>`)}</ul>`;
}

function Details({ outputs }) {
  if (outputs.labels) return html`<${Bars} labels=${outputs.labels} />`;
  if (outputs.detections) {
    return html`<ol class="found" data-testid="found">${outputs.detections.map((d) => html`
      <li>${d.label} ${d.confidence?.toFixed(3)}${d.keypoints ? ` · ${d.keypoints.length} keypoints` : ""}</li>`)}</ol>`;
  }
  if (outputs.lines) return html`<ol class="found">${outputs.lines.map((l) => html`<li>${l.text}</li>`)}</ol>`;
  if (outputs.segments) return html`<ol class="found">${outputs.segments.map((s) => html`<li>${s.label}: ${s.area} px</li>`)}</ol>`;
  return null;
}

export function VisionPlay({ models }) {
  const [task, setTask] = useState("object-detection");
  const [model, setModel] = useState("");
  const [file, setFile] = useState(null);
  const [answer, setAnswer] = useState(null);
  const [sent, setSent] = useState(null);
  const [run, busy, error] = useRun();
  const send = (event) => {
    event.preventDefault();
    const form = { image: file, model_id: model };
    setSent(curl(TASKS[task], { form }));
    setAnswer(null);
    run(async () => {
      const body = new FormData();
      Object.entries(form).forEach(([k, v]) => body.append(k, v));
      setAnswer(await (await call(TASKS[task], { method: "POST", body })).json());
    });
  };
  return html`<form class="play" onSubmit=${send}>
    <label>Task <select name="task" value=${task} onChange=${(e) => (setTask(e.target.value), setModel(""))}>
      ${Object.keys(TASKS).map((t) => html`<option>${t}</option>`)}</select></label>
    <${ModelPicker} key=${task} models=${models} tasks=${[task]} value=${model} onChange=${setModel} />
    <label>Image <input type="file" name="image" accept="image/*" required onChange=${(e) => setFile(e.target.files[0] || null)} /></label>
    <button disabled=${busy || !file || !model}>${busy ? "Running…" : "Run"}</button>
  </form>
  <${Curl} text=${sent} />
  <${ErrorLine} error=${error} />
  ${file && html`<${Drawing} file=${file} outputs=${answer?.outputs} />`}
  ${answer && html`<${Details} outputs=${answer.outputs} /><${Timing} answer=${answer} />`}`;
}
