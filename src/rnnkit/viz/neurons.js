// rnnkit neuron page: colours the text by one neuron's activation and shows, for the
// token under the pointer, the model's five most likely next tokens. The text is cut
// into blocks that are drawn only while near the screen, so long texts stay quick.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("rnnkit-data").textContent);
  const BLOCK = 1000;
  const steps = data.pieces.length;

  function bytes(b64) {
    const raw = atob(b64);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  const values = new Int8Array(bytes(data.values).buffer);
  const topIds = new Uint32Array(bytes(data.topIds).buffer);
  const topProbs = new Uint16Array(bytes(data.topProbs).buffer);
  const index = new Map(data.neurons.map((name, i) => [name, i]));

  const text = document.getElementById("text");
  const picker = document.getElementById("neuron");
  const where = document.getElementById("where");
  const predictions = document.getElementById("predictions");
  const scaleNote = document.getElementById("scale");
  let neuron = 0;

  // one option per embedded neuron, grouped by state ("h0", "c1", ...)
  const groups = new Map();
  data.neurons.forEach((name, i) => {
    const state = name.split(":")[0];
    if (!groups.has(state)) {
      const group = document.createElement("optgroup");
      group.label = state;
      groups.set(state, group);
      picker.appendChild(group);
    }
    const option = document.createElement("option");
    option.value = String(i);
    option.textContent = name;
    groups.get(state).appendChild(option);
  });

  function colour(q) {  // q in [-127, 127]: blue below zero, red above, white at zero
    const a = Math.abs(q) / 127;
    const fade = (full) => Math.round(255 + (full - 255) * a);
    return q < 0 ? `rgb(${fade(40)},${fade(90)},${fade(220)})` : `rgb(${fade(220)},${fade(40)},${fade(40)})`;
  }
  function shown(piece) {  // a visible mark for line ends and tabs, keeping the line break itself
    return piece.replace(/\n/g, "\u21b5\n").replace(/\t/g, "\u2192\t");
  }
  function escapeHtml(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  const blocks = [];
  const drawn = new Set();
  function draw(b) {
    const start = b * BLOCK, end = Math.min(steps, start + BLOCK), row = neuron * steps;
    const parts = [];
    for (let i = start; i < end; i++) {
      parts.push(`<span data-i="${i}" style="background:${colour(values[row + i])}">` +
                 `${escapeHtml(shown(data.pieces[i]))}</span>`);
    }
    blocks[b].innerHTML = parts.join("");
    blocks[b].style.minHeight = "";
    drawn.add(b);
  }
  function undraw(b) {
    blocks[b].style.minHeight = blocks[b].offsetHeight + "px";
    blocks[b].innerHTML = "";
    drawn.delete(b);
  }
  function recolour() {
    const row = neuron * steps;
    for (const b of drawn) {
      for (const span of blocks[b].children) span.style.background = colour(values[row + Number(span.dataset.i)]);
    }
    scaleNote.textContent = data.neurons.length
      ? `${data.neurons[neuron]}: -${data.scales[neuron].toPrecision(3)} to +${data.scales[neuron].toPrecision(3)}`
      : "";
  }

  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const b = Number(entry.target.dataset.block);
      if (entry.isIntersecting && !drawn.has(b)) draw(b);
      else if (!entry.isIntersecting && drawn.has(b)) undraw(b);
    }
  }, { rootMargin: "1000px 0px" });
  for (let b = 0; b * BLOCK < steps; b++) {
    const div = document.createElement("div");
    div.dataset.block = String(b);
    let characters = 0, lines = 1;
    for (let i = b * BLOCK; i < Math.min(steps, (b + 1) * BLOCK); i++) {
      characters += data.pieces[i].length;
      lines += (data.pieces[i].match(/\n/g) || []).length;
    }
    div.style.minHeight = `${Math.max(lines, characters / 100) * 1.45}em`;  // a guess until drawn
    blocks.push(div);
    text.appendChild(div);
    observer.observe(div);
  }

  function select(name) {
    if (!index.has(name)) return;
    neuron = index.get(name);
    picker.value = String(neuron);
    recolour();
  }
  picker.addEventListener("change", () => { location.hash = data.neurons[Number(picker.value)]; });
  window.addEventListener("hashchange", () => {
    select(decodeURIComponent(location.hash.slice(1)));
    // a link in the finder's table sits below the text: bring the text back to read the neuron
    if (text.getBoundingClientRect().bottom < 0) text.scrollIntoView();
  });

  let marked = null;
  text.addEventListener("mouseover", (event) => {
    const span = event.target.closest("span[data-i]");
    if (!span) return;
    const i = Number(span.dataset.i);
    if (marked) marked.classList.remove("at");
    span.classList.add("at");
    marked = span;
    const value = values[neuron * steps + i] / 127 * data.scales[neuron];
    where.textContent = `token ${i + 1} of ${steps}: ${JSON.stringify(data.pieces[i])}, ` +
                        `${data.neurons[neuron]} = ${value.toFixed(3)}; next:`;
    predictions.innerHTML = "";
    for (let k = 0; k < data.top; k++) {
      const item = document.createElement("li");
      const p = topProbs[i * data.top + k] / 65535;
      item.textContent = `${JSON.stringify(data.vocab[topIds[i * data.top + k]])} ${p.toFixed(3)}`;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${(p * 8).toFixed(2)}em`;
      item.appendChild(bar);
      predictions.appendChild(item);
    }
  });

  const start = decodeURIComponent(location.hash.slice(1));
  select(index.has(start) ? start : data.initial);
})();
