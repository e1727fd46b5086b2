// rnnkit serve: one page, a view per kind of loaded model, each calling the JSON API.
// Plain JavaScript, inline SVG, no external assets: it works with no network.
"use strict";

const KINDS = {
  language_model: "Language model",
  classifier: "Classifier",
  tagger: "Tagger",
  seq2seq: "Sequence to sequence",
  recogniser: "Recogniser",
  frames: "Frames",
};
const SVG = "http://www.w3.org/2000/svg";
let MODELS = [];

const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function setStatus(text) {
  $("#status").textContent = text;
}

function showError(view, message) {
  const box = $(".error", view);
  box.textContent = message || "";
  box.hidden = !message;
}

// POST JSON; the parsed reply, or an Error carrying the API's {"error": ...} message.
async function api(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const reply = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(`${response.status}: ${reply.error}`);
  return reply;
}

// The form's fields as a request body: numbers as numbers, empty fields left out.
function formBody(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.value === "") continue;
    body[field.name] = field.type === "number" ? Number(field.value) : field.value;
  }
  return body;
}

// A span's background at opacity |strength| of rgb, and the text colour that reads on it
// (textColour: /static/colours.js, the rule `rnnkit inspect` uses too).
function shade(span, [r, g, b], strength) {
  const a = Math.min(1, Math.abs(strength)).toFixed(3);
  span.style.backgroundColor = `rgba(${r}, ${g}, ${b}, ${a})`;
  span.style.color = textColour(r, g, b, Number(a));
}

// Blue (-1) .. white (0) .. red (+1).
function diverging(span, value) {
  shade(span, value >= 0 ? [214, 39, 40] : [31, 119, 180], value);
}

// -- language model ---------------------------------------------------------------------

const lm = { text: "", prime: "" };

async function generate(event) {
  event.preventDefault();
  const view = $("#view-language_model");
  const form = event.target;
  const body = formBody(form);
  body.prime = form.elements.prime.value;  // a prime of spaces or newlines is still a prime
  const output = $("#lm-output");
  output.textContent = body.prime;
  output.classList.remove("coloured");
  showError(view, "");
  setStatus("generating…");
  try {
    const response = await fetch("/api/generate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const reply = await response.json().catch(() => ({ error: response.statusText }));
      throw new Error(`${response.status}: ${reply.error}`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      output.append(decoder.decode(value, { stream: true }));
    }
    output.append(decoder.decode());
    lm.prime = body.prime;
    lm.text = output.textContent;
    setStatus(`generated ${lm.text.length - lm.prime.length} characters`);
    await colour();
  } catch (error) {
    showError(view, error.message);
    setStatus("");
  }
}

async function colour() {
  const view = $("#view-language_model");
  if (!lm.text || !$("#lm-colour").checked) return;
  const body = {
    model: $("#lm-form").elements.model.value,
    text: lm.text,
    layer: Number($("#lm-layer").value || 0),
  };
  if ($("#lm-unit").value !== "") body.unit = Number($("#lm-unit").value);
  if (!$("#lm-source").disabled) body.source = $("#lm-source").value;
  try {
    drawActivations(await api("/api/activations", body));
    showError(view, "");
  } catch (error) {
    showError(view, error.message);
  }
}

function drawActivations(reply) {
  const output = $("#lm-output");
  output.replaceChildren();
  output.classList.add("coloured");
  reply.tokens.forEach((token, t) => {
    if (t > 0 && reply.joiner) output.append(reply.joiner);
    const value = reply.values[t];
    const next = reply.top[t].map(([s, p]) => `${JSON.stringify(s)} ${p.toFixed(2)}`).join(", ");
    const span = el("span", { "data-value": value, title: `${value.toFixed(3)} — next: ${next}` }, token);
    diverging(span, value);
    output.append(span);
  });
  $("#lm-unit").value = reply.unit;
  const ranked = $("#lm-ranked");
  ranked.replaceChildren();
  for (const unit of reply.ranked) {
    const button = el("button", { type: "button", class: "chip" }, String(unit));
    button.addEventListener("click", () => { $("#lm-unit").value = unit; colour(); });
    ranked.append(button);
  }
  setStatus(`layer ${reply.layer}, cell ${reply.unit}, ${reply.source === "cell" ? "tanh(c)" : "h"}`);
}

function chooseLanguageModel() {
  const model = MODELS.find((m) => m.name === $("#lm-form").elements.model.value);
  if (!model) return;
  const layers = $("#lm-layer");
  layers.replaceChildren(...Array.from({ length: model.num_layers }, (_, k) => el("option", { value: k }, String(k))));
  layers.value = String(model.num_layers - 1);
  $("#lm-unit").max = model.hidden_size - 1;
  $("#lm-unit").value = "";
  const source = $("#lm-source");
  source.disabled = model.cell !== "lstm";
  source.value = source.disabled ? "h" : "cell";
}

// -- classifier -------------------------------------------------------------------------

async function classify(event) {
  event.preventDefault();
  const view = $("#view-classifier");
  showError(view, "");
  try {
    const reply = await api("/api/classify", formBody(event.target));
    $("#classify-label").textContent = reply.label;
    $("#classify-probability").textContent = `(p = ${reply.probability.toFixed(3)})`;
    drawBars($("#classify-bars"), reply.probabilities);
    drawContributions($("#classify-tokens"), reply);
    $("#classify-result").hidden = false;
    setStatus(`classified: ${reply.label}`);
  } catch (error) {
    showError(view, error.message);
  }
}

function drawBars(chart, probabilities) {
  const entries = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
  const row = 22, label = 140, width = 300;
  chart.setAttribute("width", label + width + 70);
  chart.setAttribute("height", row * entries.length);
  chart.replaceChildren();
  entries.forEach(([name, p], i) => {
    const y = i * row;
    chart.append(svg("text", { x: label - 6, y: y + 15, "text-anchor": "end" }, name));
    chart.append(svg("rect", { x: label, y: y + 3, width: Math.max(1, p * width), height: row - 6, class: "bar" }));
    chart.append(svg("text", { x: label + p * width + 6, y: y + 15 }, p.toFixed(3)));
  });
}

function drawContributions(box, reply) {
  const scale = Math.max(1e-6, ...reply.contributions.filter((c) => c !== null).map(Math.abs));
  box.replaceChildren();
  reply.tokens.forEach((token, t) => {
    if (t > 0 && reply.joiner) box.append(reply.joiner);
    const c = reply.contributions[t];
    const span = el("span", { "data-contribution": c === null ? "" : c }, token);
    span.title = c === null ? "not measured (past the occlusion limit)" : `contribution ${c.toFixed(4)}`;
    if (c !== null) {
      shade(span, c >= 0 ? [44, 160, 44] : [214, 39, 40], c / scale);
    }
    box.append(span);
  });
}

// -- tagger -----------------------------------------------------------------------------

function hue(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

async function tag(event) {
  event.preventDefault();
  const view = $("#view-tagger");
  showError(view, "");
  try {
    const reply = await api("/api/tag", formBody(event.target));
    const box = $("#tag-result");
    box.replaceChildren();
    reply.tokens.forEach((word, i) => {
      const item = el("span", { class: "tagged-word" });
      item.append(el("span", { class: "word" }, word));
      const tagName = el("span", { class: "tag" }, reply.tags[i]);
      tagName.style.backgroundColor = `hsl(${hue(reply.tags[i])}, 60%, 85%)`;
      item.append(tagName);
      box.append(item);
    });
    setStatus(`tagged ${reply.tokens.length} words (${reply.column})`);
  } catch (error) {
    showError(view, error.message);
  }
}

// -- sequence to sequence ---------------------------------------------------------------

async function translate(event) {
  event.preventDefault();
  const view = $("#view-seq2seq");
  showError(view, "");
  try {
    const reply = await api("/api/translate", formBody(event.target));
    const rows = $("#translate-outputs tbody");
    rows.replaceChildren();
    reply.outputs.forEach((out, i) => {
      const row = el("tr", { "data-rank": i + 1 });
      row.append(el("td", {}, String(i + 1)), el("td", {}, out.output || "(empty)"), el("td", {}, out.score.toFixed(3)));
      row.addEventListener("click", () => chooseHypothesis(reply, i));
      rows.append(row);
    });
    $("#translate-outputs").hidden = false;
    chooseHypothesis(reply, 0);
    const tokens = reply.unknown === 1 ? "token" : "tokens";
    const unknown = reply.unknown ? `; ${reply.unknown} input ${tokens} unseen in training` : "";
    setStatus(`${reply.outputs.length} outputs${unknown}`);
  } catch (error) {
    showError(view, error.message);
  }
}

function chooseHypothesis(reply, index) {
  document.querySelectorAll("#translate-outputs tbody tr").forEach((row, i) => {
    row.classList.toggle("chosen", i === index);
  });
  const box = $("#translate-heatmap");
  const out = reply.outputs[index];
  box.replaceChildren(out.attention ? heatmap(reply.source, out.rows, out.attention) :
    el("p", { class: "note" }, "This model has no attention to show."));
}

// Rows: output tokens (and </s>); columns: source tokens; darker: more attention.
function heatmap(source, rows, weights) {
  const cell = 26, left = 70, top = 60;
  const chart = svg("svg", { id: "attention", width: left + cell * source.length + 10,
    height: top + cell * rows.length + 10, role: "img", "aria-label": "attention heatmap" });
  source.forEach((token, j) => {
    const x = left + j * cell + cell / 2;
    chart.append(svg("text", { x, y: top - 8, transform: `rotate(-45 ${x} ${top - 8})` }, token));
  });
  rows.forEach((token, i) => {
    const y = top + i * cell;
    chart.append(svg("text", { x: left - 6, y: y + cell / 2 + 4, "text-anchor": "end" }, token));
    weights[i].forEach((w, j) => {
      const rect = svg("rect", { x: left + j * cell, y, width: cell - 1, height: cell - 1,
        fill: `rgba(31, 119, 180, ${w.toFixed(3)})`, class: "cell", "data-weight": w });
      rect.append(svg("title", {}, `${token} ← ${source[j]}: ${w.toFixed(3)}`));
      chart.append(rect);
    });
  });
  return chart;
}

// -- the page ---------------------------------------------------------------------------

function showView(kind) {
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== `view-${kind}`; });
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.kind === kind));
}

async function start() {
  const reply = await (await fetch("/api/models")).json();
  MODELS = reply.models;
  const kinds = Object.keys(KINDS).filter((k) => MODELS.some((m) => m.kind === k));
  for (const kind of kinds) {
    const tab = el("button", { type: "button", "data-kind": kind, id: `tab-${kind}` }, KINDS[kind]);
    tab.addEventListener("click", () => showView(kind));
    $("#tabs").append(tab);
    const select = $(`#view-${kind} select[name=model]`);
    for (const m of MODELS.filter((m) => m.kind === kind)) select.append(el("option", { value: m.name }, m.name));
  }
  // A view for a kind that no loaded model has is removed, not shown empty.
  document.querySelectorAll(".view").forEach((v) => { if (!kinds.includes(v.id.slice(5))) v.remove(); });
  if (kinds.includes("language_model")) {
    $("#lm-form").addEventListener("submit", generate);
    $("#lm-form").elements.model.addEventListener("change", chooseLanguageModel);
    for (const id of ["#lm-layer", "#lm-unit", "#lm-source", "#lm-colour"]) $(id).addEventListener("change", colour);
    chooseLanguageModel();
  }
  if (kinds.includes("classifier")) $("#classify-form").addEventListener("submit", classify);
  if (kinds.includes("tagger")) $("#tag-form").addEventListener("submit", tag);
  if (kinds.includes("seq2seq")) $("#translate-form").addEventListener("submit", translate);
  startVision(kinds);  // vision.js: the recogniser and frames views
  if (kinds.length) showView(kinds[0]);
  setStatus(`${MODELS.length} model${MODELS.length === 1 ? "" : "s"} loaded`);
  document.body.dataset.ready = "true";
}

start().catch((error) => setStatus(`could not list the models: ${error.message}`));
