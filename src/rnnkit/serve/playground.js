// The playground: one page over the server's own API (the same endpoints a program calls).
"use strict";
const token = new URLSearchParams(location.search).get("token");
const headers = { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) };
const $ = (id) => document.getElementById(id);
let models = {}, current = null;

function showError(message) { $("error").textContent = message || ""; $("error").hidden = !message; }

async function call(path, body) {
  const response = await fetch(path, body === undefined ? { headers } :
    { method: "POST", headers, body: JSON.stringify(body) });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

async function guarded(button, work) {
  button.disabled = true; showError("");
  try { await work(); } catch (err) { showError(err.message); } finally { button.disabled = false; }
}

function choose(name) {
  current = models[name];
  const verbs = new Set(current.verbs);
  $("lm-panel").hidden = !verbs.has("generate");
  $("translate-panel").hidden = !verbs.has("translate");
  $("classify-panel").hidden = !verbs.has("classify");
  $("forecast-panel").hidden = !verbs.has("forecast");
  $("recolour").hidden = $("colour").parentElement.hidden = !verbs.has("score");
  $("label-box").hidden = !(current.task === "lines" && current.labels);
  $("label").innerHTML = (current.labels || []).map((l) => `<option>${escapeHtml(l)}</option>`).join("");
  const shown = ["bits_per_char", "accuracy", "bleu", "mae"].find((k) => current.validation &&
                                                                   current.validation[k] !== undefined);
  $("about").textContent = `${current.task}, ${(current.parameters || 0).toLocaleString()} parameters` +
    (shown ? `, validation ${shown.replace(/_/g, " ")} ${Number(current.validation[shown]).toFixed(3)}` : "");
  $("text").textContent = ""; $("legend").textContent = "";
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function* serverEvents(response) {
  const reader = response.body.getReader(), decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const name = (block.match(/^event: (.*)$/m) || [null, "message"])[1];
      const data = block.match(/^data: (.*)$/m);
      if (data) yield [name, JSON.parse(data[1])];
    }
  }
}

async function generate() {
  const body = { prime: $("prime").value, length: Number($("length").value), seed: Number($("seed").value),
                 temperature: Number($("temperature").value), top_k: Number($("top-k").value),
                 top_p: Number($("top-p").value), stream: true };
  if (!$("label-box").hidden) body.label = $("label").value;
  const response = await fetch(`/v1/models/${current.name}/generate`, { method: "POST", headers,
                                                                         body: JSON.stringify(body) });
  if (!response.ok) throw new Error((await response.json()).error);
  const out = $("text");
  out.textContent = current.task === "lines" ? "" : body.prime;
  $("legend").textContent = "";
  for await (const [name, data] of serverEvents(response)) {
    if (name === "error") throw new Error(data.error);
    if (name === "message") out.textContent += data.text;
  }
  if (current.verbs.includes("score")) await colour();
}

function heat(value) {  // 0..1 -> white..orange-red
  const v = Math.max(0, Math.min(1, value));
  return `rgba(230, ${Math.round(120 - 60 * v)}, 40, ${(0.08 + 0.72 * v).toFixed(2)})`;
}

function signed(value) {  // -1..1 -> blue..white..red
  const v = Math.max(-1, Math.min(1, value));
  return v >= 0 ? `rgba(214, 60, 50, ${(0.8 * v).toFixed(2)})` : `rgba(50, 100, 214, ${(-0.8 * v).toFixed(2)})`;
}

async function colour() {
  const text = $("text").textContent;
  if (text.length < 2) return;
  const byNeuron = $("colour").value === "neuron";
  const unit = $("neuron").value.trim();
  const [scored, read] = await Promise.all([
    call(`/v1/models/${current.name}/score`, { text }),
    current.verbs.includes("neurons") ? call(`/v1/models/${current.name}/neurons`,
                                             { text, neurons: byNeuron ? [unit] : [] }) : null]);
  const bits = scored.surprisal_bits, values = byNeuron && read ? read.activations[unit] : null;
  const out = $("text");
  out.textContent = "";
  scored.tokens.forEach((piece, i) => {
    const span = document.createElement("span");
    span.textContent = piece;
    span.style.background = values ? signed(values[i]) : heat(bits[i] === null ? 0 : bits[i] / 8);
    span.dataset.index = i;
    out.appendChild(span);
  });
  out.onmousemove = (event) => tip(event, scored, read, values);
  out.onmouseleave = () => { $("tip").style.display = "none"; };
  $("legend").textContent = values ? `coloured by ${unit}: blue -1, red +1` :
    `coloured by surprisal (bits): ${scored.scores.bits_per_char.toFixed(3)} bits per character over the text`;
}

function tip(event, scored, read, values) {
  const index = event.target.dataset && event.target.dataset.index;
  const box = $("tip");
  if (index === undefined) { box.style.display = "none"; return; }
  const i = Number(index), bits = scored.surprisal_bits[i];
  const lines = [`${JSON.stringify(scored.tokens[i])}  ${bits === null ? "" : bits.toFixed(2) + " bits"}` +
                 (values ? `  ${values[i].toFixed(3)}` : "")];
  if (read) read.top[i].forEach((t) => lines.push(`${JSON.stringify(t.token).padEnd(8)} ${t.p.toFixed(3)}`));
  box.textContent = lines.join("\n");
  box.style.display = "block";
  box.style.left = `${event.clientX + 14}px`; box.style.top = `${event.clientY + 14}px`;
}

async function translate() {
  const beam = Number($("beam").value), nBest = Math.min(Number($("n-best").value), beam);
  const answer = await call(`/v1/models/${current.name}/translate`,
                            { sentences: [$("source").value], beam, n_best: nBest, attention: true });
  const result = answer.results[0];
  $("nbest").innerHTML = result.translations.map((t) =>
    `<li>${escapeHtml(t.text)} <span class="muted">(log p ${t.log_prob.toFixed(3)})</span></li>`).join("");
  drawHeatmap(result.attention);
}

function drawHeatmap(attention) {
  const canvas = $("heatmap"), cell = 28, left = 110, top = 90;
  const { source, target, weights } = attention;
  canvas.width = left + cell * source.length + 10; canvas.height = top + cell * target.length + 10;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.font = "12px ui-monospace, monospace"; ctx.fillStyle = "#1d2430";
  source.forEach((s, j) => {
    ctx.save(); ctx.translate(left + cell * j + cell / 2, top - 6); ctx.rotate(-Math.PI / 3);
    ctx.fillText(s.trim(), 0, 0); ctx.restore();
  });
  target.forEach((t, i) => {
    ctx.fillStyle = "#1d2430"; ctx.textAlign = "right"; ctx.fillText(t.trim(), left - 6, top + cell * i + cell * 0.65);
    weights[i].forEach((w, j) => {
      ctx.fillStyle = `rgba(47, 111, 221, ${w.toFixed(3)})`;
      ctx.fillRect(left + cell * j, top + cell * i, cell - 1, cell - 1);
    });
  });
  ctx.textAlign = "left";
  canvas.hidden = false;
  canvas.dataset.cells = String(source.length * target.length);
}

async function classify() {
  const texts = $("texts").value.split("\n").map((t) => t.trim()).filter(Boolean);
  const answer = await call(`/v1/models/${current.name}/classify`, { texts, top_k: 5 });
  $("bars").innerHTML = answer.results.map((r) => `<h4>${escapeHtml(r.text)}</h4>` + r.labels.map((l) =>
    `<div class="bar"><span>${escapeHtml(l.label)}</span><div><div class="fill" style="width:${
      (100 * l.probability).toFixed(1)}%"></div></div><span>${l.probability.toFixed(3)}</span></div>`).join("")).join("");
}

async function forecast() {
  const answer = await call(`/v1/models/${current.name}/forecast`, { horizon: Number($("horizon").value) });
  const past = answer.history.values, ahead = answer.values, all = past.concat(ahead);
  const canvas = $("series"), ctx = canvas.getContext("2d"), pad = 30;
  const low = Math.min(...all), high = Math.max(...all), span = high - low || 1;
  const x = (i) => pad + (canvas.width - 2 * pad) * i / Math.max(all.length - 1, 1);
  const y = (v) => canvas.height - pad - (canvas.height - 2 * pad) * (v - low) / span;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const line = (values, offset, colour) => {
    ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.beginPath();
    values.forEach((v, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(offset + i), y(v)));
    ctx.stroke();
  };
  line(past, 0, "#6b7380");
  line([past[past.length - 1], ...ahead], past.length - 1, "#d6423a");
  ctx.fillStyle = "#1d2430"; ctx.font = "12px system-ui";
  ctx.fillText(`${answer.column}: history (grey) and ${ahead.length}-step forecast (red) to ${
    answer.times[answer.times.length - 1]}`, pad, 16);
}

for (const id of ["temperature", "top-k", "top-p"]) {
  $(id).addEventListener("input", () => { $(`${id}-value`).textContent = $(id).value; });
}
$("colour").addEventListener("change", () => { $("neuron-box").hidden = $("colour").value !== "neuron"; });
$("model").addEventListener("change", () => choose($("model").value));
$("generate").addEventListener("click", () => guarded($("generate"), generate));
$("recolour").addEventListener("click", () => guarded($("recolour"), colour));
$("translate").addEventListener("click", () => guarded($("translate"), translate));
$("classify").addEventListener("click", () => guarded($("classify"), classify));
$("forecast").addEventListener("click", () => guarded($("forecast"), forecast));

call("/v1/models").then((answer) => {
  models = Object.fromEntries(answer.models.map((m) => [m.name, m]));
  $("model").innerHTML = answer.models.map((m) =>
    `<option value="${escapeHtml(m.name)}">${escapeHtml(m.name)} (${m.task})</option>`).join("");
  const wanted = new URLSearchParams(location.search).get("model");
  if (answer.models.length) choose(wanted && models[wanted] ? wanted : answer.models[0].name);
  if (wanted && models[wanted]) $("model").value = wanted;
}).catch((err) => showError(err.message));
