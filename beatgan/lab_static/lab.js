// BeatGAN loop lab: the page's behaviour. Plain JavaScript, no build step; talks to beatgan/lab.py.
// window.lab holds the page's state (the audio context, what plays, the pack), for a person's console and the tests.
"use strict";

const lab = {
  info: null,          // /api/info: the model, the limits
  audio: null,         // the AudioContext, made on the first play (browsers start audio on a click only)
  playing: null,       // {key, url, element, source}: what plays now
  buffers: new Map(),  // url -> decoded AudioBuffer
  pack: [],            // starred tile names, in order
  morph: [],           // the two tile names picked for a morph
  seed: 0,
  next: 0,             // next INDEX of the seed's loops ("More")
  played: 0,           // loops started, for the tests
};
window.lab = lab;

const $ = (selector) => document.querySelector(selector);
const enc = encodeURIComponent;
const COLOURS = [[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]];

function say(text, isError = false) {
  const line = $("#status");
  line.textContent = text;
  line.classList.toggle("error", isError);
}

// Every action: errors go to the status line (the server's message), never to the console.
function action(work) {
  return async (event) => {
    if (event && event.preventDefault) event.preventDefault();
    try {
      await work(event);
    } catch (error) {
      say(error.message, true);
    }
  };
}

async function api(url, options) {
  const response = await fetch(url, options);
  const kind = response.headers.get("Content-Type") || "";
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    if (kind.startsWith("application/json")) message = (await response.json()).error || message;
    throw new Error(message);
  }
  return kind.startsWith("application/json") ? response.json() : response.arrayBuffer();
}

function bpm() {
  const [low, high] = lab.info ? lab.info.limits.bpm : [40, 300];
  const value = parseFloat($("#bpm").value);
  return Number.isFinite(value) ? Math.min(high, Math.max(low, value)) : 124;
}

function wholeNumber(selector) {
  return String(Math.max(0, Math.floor(Number($(selector).value) || 0)));
}

// --- playing: one loop at a time, looped by Web Audio ------------------------------------------------

function stop() {
  const now = lab.playing;
  if (!now) return;
  lab.playing = null;
  if (now.source) now.source.stop();
  if (now.element) now.element.classList.remove("playing");
  if (now.button) { now.button.classList.remove("on"); now.button.textContent = now.button.dataset.idle; }
}

async function play(key, label, urlFor, element, button) {
  if (lab.playing && lab.playing.key === key) { stop(); say("stopped"); return; }
  stop();
  if (!lab.audio) lab.audio = new AudioContext();
  await lab.audio.resume();
  const token = { key, label, urlFor, element, button, source: null, bpm: bpm() };
  lab.playing = token;
  if (element) element.classList.add("playing");
  if (button) {
    button.dataset.idle = button.dataset.idle || button.textContent;
    button.classList.add("on");
    button.textContent = "■";
  }
  const url = urlFor(token.bpm);
  let buffer = lab.buffers.get(url);
  if (!buffer) {
    say(`loading ${label}…`);
    buffer = await lab.audio.decodeAudioData(await api(url));
    if (lab.buffers.size > 64) lab.buffers.delete(lab.buffers.keys().next().value);
    lab.buffers.set(url, buffer);
  }
  if (lab.playing !== token) return;  // stopped, or another loop started meanwhile
  const source = lab.audio.createBufferSource();
  source.buffer = buffer;
  source.loop = true;  // the buffer is whole bars at the tempo: it loops in time
  source.connect(lab.audio.destination);
  source.start();
  token.source = source;
  lab.played += 1;
  say(`playing ${label} at ${token.bpm} bpm (${buffer.duration.toFixed(3)} s a loop)`);
}

function retempo() {
  $("#bpm-slider").value = bpm();
  const now = lab.playing;
  if (!now || now.bpm === bpm()) return;
  stop();
  play(now.key, now.label, now.urlFor, now.element, now.button).catch((error) => say(error.message, true));
}

// --- tiles --------------------------------------------------------------------------------------------

function drawSpectrogram(canvas, spectrogram) {
  const { bands, frames, levels } = spectrogram;
  const bytes = Uint8Array.from(atob(levels), (c) => c.charCodeAt(0));
  canvas.width = frames;
  canvas.height = bands;
  const context = canvas.getContext("2d");
  const image = context.createImageData(frames, bands);
  for (let band = 0; band < bands; band++) {
    for (let frame = 0; frame < frames; frame++) {
      const level = bytes[band * frames + frame] / 255 * (COLOURS.length - 1);
      const low = Math.min(COLOURS.length - 2, Math.floor(level));
      const t = level - low;
      const at = ((bands - 1 - band) * frames + frame) * 4;  // high bands at the top
      for (let c = 0; c < 3; c++) image.data[at + c] = COLOURS[low][c] * (1 - t) + COLOURS[low + 1][c] * t;
      image.data[at + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
}

function button(text, kind, title, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = kind;
  b.textContent = text;
  b.title = title;
  b.addEventListener("click", action(onClick));
  return b;
}

function noveltyLine(tile, element) {
  const n = tile.novelty;
  const line = document.createElement("div");
  line.className = "novelty" + (n.near_copy ? " copy" : "");
  line.title = `nearest training loop by score: ${n.name}; by log-mel distance: ${n.logmel_name}`;
  line.textContent = `${n.near_copy ? "near-copy of" : "nearest"} ${n.name}: score ${n.score.toFixed(2)}, `
    + `log-mel ${n.logmel_db.toFixed(1)} dB `;
  line.append(button("▶", "play-training", `play the training loop ${n.name}`, (event) =>
    play(`training:${n.index}`, `training loop ${n.name}`, (t) => `/api/training-audio?index=${n.index}&bpm=${t}`,
      element, event.currentTarget)));
  return line;
}

function tileElement(tile) {
  const element = document.createElement("div");
  element.className = "tile";
  element.dataset.name = tile.name;
  const canvas = document.createElement("canvas");
  canvas.title = "play / stop";
  drawSpectrogram(canvas, tile.spectrogram);
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = tile.name;
  name.title = tile.command;
  const playButton = button("▶", "play", "play / stop, looping at the tempo", () =>
    play(`tile:${tile.name}`, tile.name, (t) => `/api/audio?tile=${enc(tile.name)}&bpm=${t}`, element, playButton));
  canvas.addEventListener("click", () => playButton.click());
  const actions = document.createElement("div");
  actions.className = "actions";
  actions.append(
    playButton,
    button("≈", "vary", "more like this: its variations", () => vary(tile.name)),
    button("⇄", "pick", "pick for a morph (two tiles)", () => pick(tile.name)),
    button(lab.pack.includes(tile.name) ? "★" : "☆", "star" + (lab.pack.includes(tile.name) ? " on" : ""),
      "star: add to the pack / remove", () => star(tile.name)),
  );
  element.append(canvas, name, actions);
  if (tile.novelty) element.append(noveltyLine(tile, element));
  if (lab.morph.includes(tile.name)) element.classList.add("picked");
  return element;
}

function show(container, tiles, append = false) {
  if (!append) container.replaceChildren();
  container.append(...tiles.map(tileElement));
}

// --- the page's actions -------------------------------------------------------------------------------

async function more() {
  const count = wholeNumber("#count");
  const started = performance.now();
  const page = await api(`/api/loops?seed=${lab.seed}&start=${lab.next}&count=${count}`);
  show($("#grid"), page.tiles, true);
  const first = page.tiles[0].name, last = page.tiles[page.tiles.length - 1].name;
  lab.next += page.tiles.length;
  say(`${page.tiles.length} loops of seed ${lab.seed} (${first} to ${last}) in ${((performance.now() - started) / 1000).toFixed(2)} s`);
}

async function generate() {
  lab.seed = wholeNumber("#seed");
  lab.next = 0;
  $("#grid").replaceChildren();
  await more();
}

async function open() {
  const name = $("#open-name").value.trim();
  const tile = await api(`/api/tile?name=${enc(name)}`);
  $("#grid").prepend(tileElement(tile));
  say(`opened ${tile.name}`);
}

async function vary(name) {
  const spread = $("#spread").value, noise = wholeNumber("#noise-seed");
  const page = await api(`/api/variations?tile=${enc(name)}&spread=${spread}&noise_seed=${noise}&count=8`);
  show($("#variations"), page.tiles);
  $("#variations-of").textContent = `Variations of ${name} (spread ${Number(spread).toFixed(2)}, noise seed ${noise})`;
  say(`${page.tiles.length} variations of ${name}`);
}

function pick(name) {
  const at = lab.morph.indexOf(name);
  if (at >= 0) lab.morph.splice(at, 1);
  else lab.morph.push(name);
  if (lab.morph.length > 2) lab.morph.shift();
  document.querySelectorAll(".tile").forEach((t) => t.classList.toggle("picked", lab.morph.includes(t.dataset.name)));
  $("#morph-from").textContent = lab.morph[0] || "–";
  $("#morph-to").textContent = lab.morph[1] || "–";
  $("#morph-go").disabled = lab.morph.length !== 2;
  say(lab.morph.length === 2 ? `morph from ${lab.morph[0]} to ${lab.morph[1]}: press Morph` : `picked ${lab.morph.join(", ") || "nothing"}`);
}

function morphQuery() {
  return `from=${enc(lab.morph[0] || "")}&to=${enc(lab.morph[1] || "")}&steps=${wholeNumber("#steps")}`;
}

async function morph() {
  const query = morphQuery();
  const page = await api(`/api/morph?${query}`);
  show($("#morph-steps"), page.tiles);
  lab.morphQuery = query;
  lab.morphLabel = `${lab.morph[0]} → ${lab.morph[1]}`;
  $("#morph-play").disabled = false;
  say(`morph of ${page.tiles.length} steps from ${lab.morph[0]} to ${lab.morph[1]}: ▶ plays it as one loop, a bar a step`);
}

async function playMorph(event) {
  const query = lab.morphQuery;
  await play(`morph:${query}`, `the morph ${lab.morphLabel}`, (t) => `/api/morph-audio?${query}&bpm=${t}`,
    $("#morph-panel"), event.currentTarget);
}

function star(name) {
  const at = lab.pack.indexOf(name);
  if (at >= 0) lab.pack.splice(at, 1);
  else lab.pack.push(name);
  const on = lab.pack.includes(name);
  document.querySelectorAll(".tile").forEach((t) => {
    if (t.dataset.name !== name) return;
    const b = t.querySelector(".star");
    b.textContent = on ? "★" : "☆";
    b.classList.toggle("on", on);
  });
  const list = $("#pack");
  list.replaceChildren(...lab.pack.map((n) => {
    const item = document.createElement("li");
    item.dataset.name = n;
    item.textContent = n;
    item.append(button("×", "unstar", "remove from the pack", () => star(n)));
    return item;
  }));
  $("#export").disabled = lab.pack.length === 0;
  say(`${on ? "starred" : "removed"} ${name}: ${lab.pack.length} in the pack`);
}

async function exportPack() {
  const bars = Number(wholeNumber("#bars"));
  say(`exporting ${lab.pack.length} loops…`);
  const pack = await api("/api/export", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ tiles: lab.pack, bpm: bpm(), bars }),
  });
  const link = document.createElement("a");
  link.href = pack.url;
  link.download = pack.zip;
  document.body.append(link);
  link.click();
  link.remove();
  say(`${pack.zip}: ${pack.files.length - 1} loops of ${bars} bar(s) at ${bpm()} bpm and seeds.txt`);
}

async function start() {
  lab.info = await api("/api/info");
  const i = lab.info;
  $("#model").textContent = `weights ${i.weights} · ${i.latent_dim}-d latent · ${i.slice_len} samples at ${i.sample_rate} Hz `
    + `(${i.seconds.toFixed(2)} s), ${i.channels} channel(s)`
    + (i.training ? ` · novelty against ${i.training} training loops` : "");
  $("#count").max = i.limits.count;
  $("#count").value = i.defaults.count;
  $("#steps").max = i.limits.steps;
  $("#bars").max = i.limits.bars;
  await generate();
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", () => {
  $("#generate-form").addEventListener("submit", action(generate));
  $("#more").addEventListener("click", action(more));
  $("#open").addEventListener("click", action(open));
  $("#open-name").addEventListener("keydown", (e) => { if (e.key === "Enter") action(open)(e); });
  $("#stop").addEventListener("click", () => { stop(); say("stopped"); });
  $("#bpm").addEventListener("change", retempo);
  $("#bpm-slider").addEventListener("change", () => { $("#bpm").value = $("#bpm-slider").value; retempo(); });
  $("#spread").addEventListener("input", () => { $("#spread-value").textContent = Number($("#spread").value).toFixed(2); });
  $("#morph-go").addEventListener("click", action(morph));
  $("#morph-play").addEventListener("click", action(playMorph));
  $("#export").addEventListener("click", action(exportPack));
  action(start)();
});
