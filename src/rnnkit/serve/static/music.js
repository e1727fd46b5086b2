// rnnkit serve: the music view, for language models trained on ABC tunes (GET /api/music).
// The tune is drawn by the vendored abcjs (ABCJS.renderAbc, SVG) and played with Web Audio
// oscillators from the notes the server read with music21: no soundfonts, no network.
"use strict";

const music = { notes: [], context: null };

async function startMusic() {
  const reply = await (await fetch("/api/music")).json();
  if (!reply.models.length) {
    document.body.dataset.music = "none";
    return;
  }
  $("main").append($("#music-template").content.cloneNode(true));
  const tab = el("button", { type: "button", "data-kind": "music", id: "tab-music" }, "Music");
  tab.addEventListener("click", () => showView("music"));
  $("#tabs").append(tab);
  const form = $("#music-form");
  for (const m of reply.models) form.elements.model.append(el("option", { value: m.name }, m.name));
  const choose = () => {
    const m = reply.models.find((m) => m.name === form.elements.model.value);
    form.elements.meter.replaceChildren(...m.meters.map((v) => el("option", { value: v }, v)));
    form.elements.key.replaceChildren(...m.keys.map((v) => el("option", { value: v }, v)));
  };
  form.elements.model.addEventListener("change", choose);
  choose();
  form.addEventListener("submit", composeTune);
  $("#music-play").addEventListener("click", playTune);
  document.body.dataset.music = "ready";
}

async function composeTune(event) {
  event.preventDefault();
  const view = $("#view-music");
  showError(view, "");
  setStatus("composing…");
  try {
    const reply = await api("/api/compose", formBody(event.target));
    $("#music-abc").textContent = reply.abc;
    ABCJS.renderAbc("music-score", reply.abc, { responsive: "resize" });
    music.notes = reply.notes;
    $("#music-play").disabled = !reply.notes.length;
    $("#music-check").textContent = describeCheck(reply.check, reply.finished);
    setStatus(reply.warnings.length ? `warning: ${reply.warnings.join("; ")}` : "composed");
  } catch (error) {
    showError(view, error.message);
    setStatus("");
  }
}

function describeCheck(check, finished) {
  if (!check.parses) return `music21 cannot read this tune (${check.error})`;
  const tonic = check.ends_on_tonic ? "ends on the tonic" : "does not end on the tonic";
  const cut = finished ? "" : ", cut at the length limit";
  return `${check.matching} of ${check.bars} bars match the meter, ${tonic}${cut}`;
}

// Each note an oscillator with a short attack and release, so notes do not click.
function playTune() {
  music.context = music.context || new AudioContext();
  const ctx = music.context;
  ctx.resume();
  const t0 = ctx.currentTime + 0.05;
  for (const [start, length, midi] of music.notes) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "triangle";
    osc.frequency.value = 440 * 2 ** ((midi - 69) / 12);
    const on = t0 + start, off = on + Math.max(0.05, length * 0.95);
    gain.gain.setValueAtTime(0, on);
    gain.gain.linearRampToValueAtTime(0.2, on + 0.01);
    gain.gain.setValueAtTime(0.2, off - 0.03);
    gain.gain.linearRampToValueAtTime(0, off);
    osc.connect(gain).connect(ctx.destination);
    osc.start(on);
    osc.stop(off);
  }
  $("#music-play").dataset.scheduled = String(music.notes.length);
  setStatus(`playing ${music.notes.length} notes`);
}

// After app.js has built the tabs of the loaded kinds.
const waitForPage = setInterval(() => {
  if (document.body.dataset.ready !== "true") return;
  clearInterval(waitForPage);
  startMusic().catch((error) => setStatus(`music view: ${error.message}`));
}, 50);
