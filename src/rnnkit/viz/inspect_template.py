"""The HTML, CSS and plain JavaScript of the inspect page; ``$NAME`` fields are filled in."""

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$TITLE</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:72em;color:#222}
#text{font:14px/1.55 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;
 border:1px solid #ddd;padding:.6em;word-break:break-all}
#text span{cursor:default}
#tip{position:fixed;display:none;background:#fff;border:1px solid #888;padding:.3em .6em;
 font:12px/1.4 ui-monospace,monospace;box-shadow:0 1px 4px #0004;pointer-events:none;
 white-space:pre}
.scale{display:inline-block;width:10em;height:.8em;vertical-align:middle;
 background:linear-gradient(to right,rgb(59,76,192),#fff,rgb(180,4,38))}
table{border-collapse:collapse}td,th{padding:.15em .6em;text-align:left}
button.cell{font:12px ui-monospace,monospace;border:1px solid #aaa;background:#f6f6f6;
 border-radius:3px;cursor:pointer;margin:1px}
button.cell.on{background:#ffe9a8}
.sat{font-size:10px;margin-right:1em}.sat-panels{display:flex;flex-wrap:wrap}
</style></head><body>
<h1>$TITLE</h1>
<p>Colour: $WHAT of the chosen cell: &minus;1 <span class="scale"></span> +1.
Hover a character for the cell's value and the model's five most likely next characters.</p>
<p><label>cell <input id="cell" type="number" min="0" step="1" style="width:5em"></label>
<span id="range"></span> <button id="prev" title="previous cell">&#9664;</button>
<button id="next" title="next cell">&#9654;</button></p>
<div id="text"></div>
<h2>Cells that track the text</h2>
<p>Pearson correlation, over the positions of this text, of each cell's activation with a
property of the text read so far; click a cell to colour the text by it.</p>
<table id="trackers"><tr><th>property</th><th>cells (r)</th></tr></table>
<h2>Gate saturation</h2>
<p>For every gate unit, the fraction of positions where it is left-saturated (&lt; 0.1) against
the fraction where it is right-saturated (&gt; 0.9), as in Karpathy, Johnson &amp; Fei-Fei
(2015), Fig. 3. Units on the diagonal are always saturated one way or the other.</p>
$SATURATION
<div id="tip"></div>
<script type="application/json" id="data">$DATA</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const T = D.chars.length;
const raw = atob(D.codes);
const codes = new Int8Array(raw.length);
for (let i = 0; i < raw.length; i++) codes[i] = (raw.charCodeAt(i) << 24) >> 24;
const text = document.getElementById("text");
const tip = document.getElementById("tip");
const picker = document.getElementById("cell");
let cell = D.start;

function value(c, t) { return codes[c * T + t] / 127 * D.scale; }
$TEXTCOLOUR
function paint(span, v) {
  const x = Math.max(-1, Math.min(1, v / D.scale));
  const end = x > 0 ? [180, 4, 38] : [59, 76, 192];
  const rgb = end.map(e => Math.round(255 + (e - 255) * Math.abs(x)));  // over white
  span.style.background = "rgb(" + rgb.join(",") + ")";
  span.style.color = textColour(...rgb);
}
function shown(ch) { return ch === "\\n" ? "\\u21b5\\n" : ch; }
function quoted(ch) { return JSON.stringify(ch); }

const spans = D.chars.map((ch, t) => {
  const s = document.createElement("span");
  s.textContent = shown(ch);
  s.dataset.t = t;
  text.appendChild(s);
  return s;
});

function choose(c) {
  cell = Math.max(0, Math.min(D.cells - 1, Math.floor(Number(c) || 0)));
  picker.value = cell;
  spans.forEach((s, t) => paint(s, value(cell, t)));
  document.querySelectorAll("button.cell").forEach(b => {
    b.classList.toggle("on", Number(b.dataset.cell) === cell);
  });
  document.body.dataset.cell = cell;
}

text.addEventListener("mousemove", e => {
  const at = e.target.dataset ? e.target.dataset.t : undefined;
  if (at === undefined) { tip.style.display = "none"; return; }
  const t = Number(at);
  const lines = ["position " + t + "  " + quoted(D.chars[t]),
                 "cell " + cell + ": " + value(cell, t).toFixed(3), "next:"];
  for (const [ch, p] of D.next[t]) lines.push("  " + quoted(ch).padEnd(6) + p.toFixed(3));
  tip.textContent = lines.join("\\n");
  tip.style.display = "block";
  tip.style.left = Math.min(e.clientX + 14, innerWidth - 180) + "px";
  tip.style.top = (e.clientY + 14) + "px";
});
text.addEventListener("mouseleave", () => { tip.style.display = "none"; });

const table = document.getElementById("trackers");
for (const [name, found] of Object.entries(D.trackers)) {
  const row = table.insertRow();
  row.insertCell().textContent = name;
  const where = row.insertCell();
  if (!found.length) where.textContent = "(constant over this text)";
  for (const [c, r] of found) {
    const b = document.createElement("button");
    b.className = "cell";
    b.dataset.cell = c;
    b.textContent = c + " (" + (r > 0 ? "+" : "") + r.toFixed(2) + ")";
    b.addEventListener("click", () => choose(c));
    where.appendChild(b);
  }
}

picker.max = D.cells - 1;
document.getElementById("range").textContent = "of 0\\u2013" + (D.cells - 1);
picker.addEventListener("input", () => choose(picker.value));
document.getElementById("prev").addEventListener("click", () => choose(cell - 1));
document.getElementById("next").addEventListener("click", () => choose(cell + 1));
choose(cell);
</script>
</body></html>
"""
