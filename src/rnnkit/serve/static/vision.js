// rnnkit serve: the recogniser view (CTC: a line of handwriting, or an uploaded WAV file for a
// speech model -> labels, with each frame's label posteriors) and the frames view (moving
// digits: the observed, true and predicted frames).
// Images are drawn on <canvas> from the numbers the API sends; nothing is fetched elsewhere.
"use strict";

const pad = { rows: 8, cols: 64, cell: 8, ink: [] };

// Pixels (rows of numbers in [0, 1]) onto a canvas, white ink on black, `scale` px a pixel.
function drawPixels(canvas, rows, scale) {
  canvas.width = rows[0].length * scale;
  canvas.height = rows.length * scale;
  const ctx = canvas.getContext("2d");
  rows.forEach((row, y) => row.forEach((v, x) => {
    const g = Math.round(255 * Math.min(1, Math.max(0, v)));
    ctx.fillStyle = `rgb(${g},${g},${g})`;
    ctx.fillRect(x * scale, y * scale, scale, scale);
  }));
}

function resetPad() {
  const H = Number($("#recognise-form").dataset.height || 8);
  pad.rows = H;
  pad.ink = Array.from({ length: H }, () => new Array(pad.cols).fill(0));
  drawPixels($("#recognise-pad"), pad.ink, pad.cell);
}

function inkAt(event) {
  if (event.buttons !== 1 && event.type !== "pointerdown") return;
  const box = event.target.getBoundingClientRect();
  const x = Math.floor((event.clientX - box.left) / pad.cell);
  const y = Math.floor((event.clientY - box.top) / pad.cell);
  for (const [dy, dx, v] of [[0, 0, 1], [0, 1, 0.5], [1, 0, 0.5], [0, -1, 0.5], [-1, 0, 0.5]]) {
    const r = y + dy, c = x + dx;
    if (r >= 0 && r < pad.rows && c >= 0 && c < pad.cols) pad.ink[r][c] = Math.max(pad.ink[r][c], v);
  }
  drawPixels($("#recognise-pad"), pad.ink, pad.cell);
}

// Each frame's posteriors: a column per frame, a row per label (the blank first).
function posteriorChart(labels, posteriors) {
  const cell = 12, left = 22;
  const chart = svg("svg", { width: left + cell * posteriors.length, height: cell * labels.length + 4,
                             id: "recognise-posteriors", role: "img", "aria-label": "label posteriors per frame" });
  labels.forEach((label, k) => chart.append(svg("text", { x: 2, y: cell * (k + 1) - 2 }, label)));
  posteriors.forEach((frame, t) => frame.forEach((p, k) => {
    const rect = svg("rect", { x: left + t * cell, y: k * cell, width: cell - 1, height: cell - 1,
                               fill: `rgba(31, 119, 180, ${p.toFixed(3)})`, class: "cell" });
    rect.append(svg("title", {}, `frame ${t}: p(${labels[k]}) = ${p.toFixed(3)}`));
    chart.append(rect);
  }));
  return chart;
}

// POST to the recogniser's `path` and show the reply: the input as the model read it (pixels
// `scale` px each), what it read, and the posterior strip under it.
async function readInput(path, body, scale, truth) {
  const view = $("#view-recogniser");
  showError(view, "");
  body.model = $("#recognise-form").elements.model.value;
  let reply;
  try {
    reply = await api(path, body);
  } catch (error) {
    return showError(view, error.message);
  }
  drawPixels($("#recognise-image"), reply.image, scale);
  $("#recognise-best").textContent = reply.best_path || "(nothing)";
  $("#recognise-beam").textContent = reply.beam || "(nothing)";
  $("#recognise-truth").textContent = reply.truth === null ? truth : reply.truth;
  $("#recognise-chart").replaceChildren(posteriorChart(reply.labels, reply.posteriors));
  $("#recognise-result").hidden = false;
  view.dataset.done = "true";
  setStatus(`read: ${reply.best_path}`);
}

const recogniseLine = (body) => readInput("/api/recognise", body, 6, "(drawn)");

// A file's bytes as base64 text, what /api/transcribe takes.
async function base64Of(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

async function transcribeUpload() {
  const file = $("#transcribe-file").files[0];
  if (!file) return showError($("#view-recogniser"), "choose a WAV file first");
  await readInput("/api/transcribe", { wav: await base64Of(file) }, 2, `(${file.name})`);
}

const SPEECH_NOTE = "The image is the recording's log-mel spectrum (40 bands, low ones at the " +
  "bottom, 10 ms a column). A bidirectional LSTM reads it frame by frame and gives each frame a " +
  "probability for the blank (∅) and each label (darker: likelier); CTC reads the labels off " +
  "those frames.";

// The upload control of speech models, made once beside the handwriting controls; each model
// shows the controls of what it reads.
function uploadControls() {
  let box = $("#transcribe-controls");
  if (box) return box;
  box = el("div", { id: "transcribe-controls", class: "controls" });
  const input = el("input", { type: "file", id: "transcribe-file", accept: ".wav,audio/wav,audio/x-wav" });
  const label = el("label", {}, "WAV file ");
  label.append(input);
  const button = el("button", { type: "button", id: "transcribe-read" }, "Transcribe");
  button.addEventListener("click", transcribeUpload);
  box.append(label, button);
  $("#recognise-form").after(box);
  return box;
}

// Shown or not, whatever the stylesheet's display (`.controls` is a flex box, which outranks
// the `hidden` attribute).
function shown(node, on) {
  node.hidden = !on;
  node.style.display = on ? "" : "none";
}

function showControls(source) {
  const speech = source === "speech";
  const form = $("#recognise-form");
  shown(form.elements.seed.closest("label"), !speech);
  shown($("button[type=submit]", form), !speech);
  shown($("#recognise-pad").parentElement, !speech);
  shown(uploadControls(), speech);
  const note = $("#recognise-result .note");
  note.dataset.handwriting ??= note.textContent;
  note.textContent = speech ? SPEECH_NOTE : note.dataset.handwriting;
  $("#recognise-result").hidden = true;
}

async function predictFrames(event) {
  event.preventDefault();
  const form = $("#frames-form"), view = $("#view-frames");
  showError(view, "");
  let reply;
  try {
    reply = await api("/api/frames", { model: form.elements.model.value,
                                       seed: Number(form.elements.seed.value || 0) });
  } catch (error) {
    return showError(view, error.message);
  }
  for (const part of ["observed", "truth", "predicted"]) {
    const row = $(`#frames-${part}`);
    row.replaceChildren(...reply[part].map((frame) => {
      const canvas = el("canvas", { class: "frame" });
      drawPixels(canvas, frame, 2);
      return canvas;
    }));
  }
  $("#frames-mse").textContent = reply.mse.toFixed(2);
  $("#frames-result").hidden = false;
  view.dataset.done = "true";
  setStatus(`predicted ${reply.predicted.length} frames`);
}

function startVision(kinds) {
  if (kinds.includes("recogniser")) {
    const form = $("#recognise-form");
    const choose = () => {
      const m = MODELS.find((m) => m.name === form.elements.model.value);
      form.dataset.height = m.height;
      showControls(m.source);
      resetPad();
    };
    form.elements.model.addEventListener("change", choose);
    choose();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const m = MODELS.find((m) => m.name === form.elements.model.value);
      if (m.source === "speech") return transcribeUpload();
      recogniseLine({ seed: Number(form.elements.seed.value || 0) });
    });
    $("#recognise-read").addEventListener("click", () => recogniseLine({ image: pad.ink }));
    $("#recognise-clear").addEventListener("click", resetPad);
    for (const type of ["pointerdown", "pointermove"]) $("#recognise-pad").addEventListener(type, inkAt);
  }
  if (kinds.includes("frames")) $("#frames-form").addEventListener("submit", predictFrames);
}
