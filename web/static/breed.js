"use strict";
// A breed's page: the newest generation as cards, votes by clicking or number keys, steering, and
// live updates through server-sent events (the page fetches the state again when told, never polls).

const breedId = decodeURIComponent(location.pathname.split("/").pop());
const api = `/api/breeds/${breedId}`;
const $ = (id) => document.getElementById(id);
const OPERATOR_WORDS = { kept: "kept", crossover: "child of two", mutated: "mutated", foreign: "fresh random",
                         seed: "from your melody", preference: "bred from the votes", nudged: "nudged" };
const STAGES = { evolving: "breeding the next generation", decoding: "turning vectors into melodies",
                 rendering: "rendering audio" };
let state = null;
let ballot = [];
let deadlineTimer = null;
// This page among the breed's open pages: a Play all it announces comes back to it, and is not followed.
const pageId = Math.random().toString(36).slice(2, 14);
const ROUND_GAP_MS = 600;  // silence between two clips of Play all
// Play all while it plays: the generation, and the 0-based candidate playing (or about to, after the gap).
let round = null;

function say(text) {
  $("message").textContent = text || "";
  $("message").hidden = !text;
}

function status(text) { $("status").textContent = text; }

async function call(path, body) {
  const response = await fetch(`${api}${path}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
  });
  const answer = await response.json().catch(() => ({ error: "The answer was not readable." }));
  if (!response.ok) { say(answer.error); return null; }
  say("");
  return answer;
}

function fileUrl(number, name) { return `${api}/files/${number}/${name}`; }

function roll(notes) {
  // A small piano roll: one row per pitch in range, 32 sixteenth steps, bar lines every 16.
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  const pitches = notes.map((n) => n[0]);
  const low = Math.min(...pitches, 60) - 1, high = Math.max(...pitches, 72) + 1;
  const rows = high - low + 1, width = 320, height = 96;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  const names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
  const spoken = notes.map(([p]) => `${names[p % 12]}${Math.floor(p / 12) - 1}`).join(" ");
  svg.setAttribute("aria-label", notes.length ? `Piano roll: ${spoken}` : "Piano roll: silence");
  for (const bar of [0, 16, 32]) {
    const line = document.createElementNS(svgNs, "line");
    const x = (bar / 32) * width;
    Object.entries({ x1: x, x2: x, y1: 0, y2: height, stroke: "#3a3f4b" }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  for (const [pitch, start, end] of notes) {
    const rect = document.createElementNS(svgNs, "rect");
    const attributes = { x: (start / 32) * width + 0.5, y: ((high - pitch) / rows) * height,
                         width: Math.max(((end - start) / 32) * width - 1, 2), height: Math.max(height / rows - 1, 2),
                         rx: 1.5, fill: "#6fb4ff" };
    Object.entries(attributes).forEach(([k, v]) => rect.setAttribute(k, v));
    svg.append(rect);
  }
  return svg;
}

function parentName(id) {
  // Stored ids are g<generation from 0>-<candidate from 1>; people count generations from 1.
  const match = /^g(\d+)-(\d+)$/.exec(id);
  return match ? `${match[2]} of generation ${Number(match[1]) + 1}` : id;
}

function origin(candidate) {
  // How it was made, in words: "bred from the votes, near 4 of generation 1, mutated".
  const parents = candidate.parents.map(parentName).join(" and ");
  const [made, ...then] = candidate.operators;
  const phrases = { kept: `kept: ${parents}`, crossover: `child of ${parents}`, foreign: "fresh random",
                    preference: `bred from the votes, near ${parents}`,
                    seed: parents ? `branched from ${parents}` : "from the seed melody" };
  const first = phrases[made] || `${OPERATOR_WORDS[made] || made}${parents ? ` of ${parents}` : ""}`;
  return [first, ...then.map((op) => OPERATOR_WORDS[op] || op)].join(", ");
}

function render() {
  const number = state.generation;
  $("title").textContent = `Breed ${state.breed_id}` + (number >= 0 ? `: generation ${number + 1}` : "");
  document.title = `Melody Breeder: ${state.breed_id}`;
  const voting = state.status === "voting";
  $("voting").hidden = !voting;
  $("source").hidden = !state.source;
  $("source").textContent = state.source ? `Branched from melody ${state.source}.` : "";
  $("sigma").value = state.params.sigma;
  $("sigma-shown").textContent = state.params.sigma;
  if (state.status === "starting") status("Making generation 1…");
  else if (state.status === "evolving" && state.winner !== null) status(`${ended()}Rendering the winner…`);
  else if (state.status === "evolving") {
    status(`Making generation ${number + 2}…` + (state.nudges ? ` Nudges: ${state.nudges}.` : ""));
  }
  else if (voting) status(state.rerolled ? "Nobody voted, so this is a fresh random generation. Vote away."
                                         : "Listen and vote; then press Next generation or Finish.");
  else status(`This breed is ${state.status}.`);
  ballot = [...state.ballot];
  showDeadline();
  showNudges();

  const playing = round && round.generation === number ? { index: round.index, at: roundAudio()?.currentTime || 0 }
                                                        : null;
  stopRound();
  $("playback").hidden = state.candidates.length === 0;
  const list = $("candidates");
  list.replaceChildren();
  for (const candidate of state.candidates) {
    const card = document.createElement("li");
    const won = state.status === "finished" && state.winner_generation === number && candidate.index === state.winner;
    card.className = won ? "card winner" : "card";
    card.tabIndex = 0;
    card.dataset.index = candidate.index;
    card.setAttribute("aria-label", `Candidate ${candidate.index + 1}${won ? ", the winner" : ""}`);
    const heading = document.createElement("h3");
    heading.innerHTML = `<span>Candidate ${candidate.index + 1}${won ? ": the winner" : ""}</span><span class="votes"></span>`;
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "metadata";
    audio.src = fileUrl(number, candidate.audio);
    audio.setAttribute("aria-label", `Play candidate ${candidate.index + 1}`);
    audio.addEventListener("ended", () => clipEnded(candidate.index));
    audio.addEventListener("play", () => {
      // Another candidate played by hand ends the round.
      if (round && round.index !== candidate.index) { roundAudio()?.pause(); stopRound(); }
    });
    const about = document.createElement("p");
    about.className = "origin";
    about.textContent = origin(candidate);
    const id = document.createElement("p");
    id.className = "id";
    id.textContent = candidate.melody_id;
    id.title = "Melody id: start a new breed around this melody with it";
    const row = document.createElement("div");
    row.className = "row";
    const vote = document.createElement("button");
    vote.type = "button";
    vote.className = "vote";
    vote.textContent = "Vote";
    vote.setAttribute("aria-label", `Vote for candidate ${candidate.index + 1}`);
    vote.disabled = !voting;
    vote.addEventListener("click", () => cast(candidate.index, +1));
    const unvote = document.createElement("button");
    unvote.type = "button";
    unvote.textContent = "−";
    unvote.setAttribute("aria-label", `Take a vote back from candidate ${candidate.index + 1}`);
    unvote.disabled = !voting;
    unvote.addEventListener("click", () => cast(candidate.index, -1));
    const midi = document.createElement("a");
    midi.href = fileUrl(number, candidate.midi);
    midi.textContent = "MIDI";
    midi.setAttribute("download", "");
    midi.setAttribute("aria-label", `MIDI file of candidate ${candidate.index + 1}`);
    row.append(vote, unvote, midi);
    card.append(heading, audio, roll(candidate.notes), about, id, row);
    list.append(card);
  }
  showVotes();
  if (playing) playCard(playing.index, playing.at);  // a refresh of the same generation: the round goes on

  const choices = state.candidates.map((c) => new Option(`${c.index + 1}`, c.index + 1));
  $("morph-start").replaceChildren(...choices.map((o) => o.cloneNode(true)));
  $("morph-end").replaceChildren(...choices.map((o) => o.cloneNode(true)));
  if (choices.length > 1) $("morph-end").selectedIndex = 1;
  const chosen = $("finish-with").value;
  $("finish-with").replaceChildren(new Option("the favourite", ""),
                                   ...state.candidates.map((c) => new Option(`candidate ${c.index + 1}`, c.index + 1)));
  $("finish-with").value = chosen && Number(chosen) <= state.candidates.length ? chosen : "";
  $("morphs").replaceChildren(...state.morphs.map((m) => {
    const figure = document.createElement("figure");
    const caption = document.createElement("figcaption");
    caption.textContent = `Morph from candidate ${m.start + 1} to candidate ${m.end + 1}`;
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.src = fileUrl(number, m.audio);
    audio.setAttribute("aria-label", caption.textContent);
    figure.append(caption, audio);
    return figure;
  }));

  const finished = state.status === "finished";
  $("winner").hidden = !finished;
  if (finished) {
    const at = state.winner_generation;
    $("winner-audio").src = fileUrl(at, "winner.ogg");
    $("winner-roll").src = fileUrl(at, "winner.png");
    $("winner-id").textContent = state.winner_melody_id;
    $("branch").href = `/?from=${encodeURIComponent(state.winner_melody_id)}`;
    const tree = state.winner_files.includes("lineage.png");
    $("winner-tree").hidden = !tree;
    if (tree) $("winner-tree").src = fileUrl(at, "lineage.png");
    const words = { "winner.mid": "MIDI file", "winner.ogg": "Audio", "winner.png": "Piano roll",
                    "lineage.png": "Family tree", "tune.mid": "the tune's MIDI file", "tune.ogg": "the tune's audio",
                    "tune.png": "the tune's piano roll" };
    const tune = state.winner_files.includes("tune.ogg");
    $("tune").hidden = !tune;
    if (tune) {
      $("tune-about").textContent = `${state.params.bars} bars from the winner, with ${backingWords(state.params.backing)}.`;
      $("tune-audio").src = fileUrl(at, "tune.ogg");
      $("tune-roll").src = fileUrl(at, "tune.png");
    }
    if (!$("tune-melody").value) $("tune-melody").value = state.winner_melody_id;
    fillTuneOptions();
    $("downloads").replaceChildren(...state.winner_files.map((name) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = fileUrl(at, name);
      link.setAttribute("download", `${state.breed_id}-${name}`);
      link.textContent = `Download ${words[name] || name}`;
      item.append(link);
      return item;
    }));
    status(`${ended()}Finished with candidate ${state.winner + 1} of generation ${at + 1}.`);
  }
}

function ended() {
  // Why the breed ended by itself (too many rounds without a vote, or its last generation), if it did.
  return state.ended ? `${state.ended} ` : "";
}

function showNudges() {
  // One control per attribute: an amount from -2 to 2 and a button that counts it.
  const box = $("nudge-controls");
  if (!box.children.length) {
    const [low, high] = state.nudge_limits;
    for (const { name, words } of state.attributes) {
      const label = document.createElement("label");
      label.textContent = `${name} (${words[0]} / ${words[1]}) `;
      const amount = document.createElement("input");
      Object.assign(amount, { type: "number", min: low, max: high, step: 0.5, value: -1, id: `nudge-${name}` });
      amount.setAttribute("aria-label", `${name} amount`);
      const button = document.createElement("button");
      Object.assign(button, { type: "button", textContent: "Nudge", className: "quiet", id: `nudge-${name}-go` });
      button.addEventListener("click", async () => {
        const answer = await call("/nudges", { generation: state.generation, attribute: name,
                                              amount: Number(amount.value) });
        if (answer) { status(`Nudged: ${answer.nudged}.`); $("nudges-so-far").textContent = soFar(answer.nudges); }
      });
      label.append(amount);
      box.append(label, button);
    }
  }
  $("nudges-so-far").textContent = soFar(state.nudges);
}

function soFar(summary) { return summary ? `Nudges so far: ${summary}.` : "No nudges yet."; }

function backingWords(backing) { return backing === "none" ? "no backing" : `a ${backing} backing`; }

let tuneOptions = null;

async function fillTuneOptions() {
  // The same choices as the start form's, once: the breed's own are chosen first.
  if (tuneOptions) return;
  tuneOptions = await (await fetch("/api/options")).json();
  $("tune-bars").replaceChildren(...tuneOptions.tune_bars.map(
    (bars) => new Option(`${bars} bars`, bars, false, bars === state.params.bars)));
  $("tune-backing").replaceChildren(...tuneOptions.backings.map(
    (backing) => new Option(backing, backing, false, backing === state.params.backing)));
}

async function makeTune(event) {
  event.preventDefault();
  const response = await fetch("/api/tunes", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ melody: $("tune-melody").value, bars: Number($("tune-bars").value),
                           backing: $("tune-backing").value }),
  });
  const tune = await response.json().catch(() => ({ error: "The answer was not readable." }));
  if (!response.ok) { say(tune.error); return; }
  say("");
  const figure = document.createElement("figure");
  figure.className = "tune";
  const caption = document.createElement("figcaption");
  caption.textContent = `Tune from ${tune.melody}, ${tune.bars} bars with ${backingWords(tune.backing)}: being made…`;
  figure.append(caption);
  $("tunes").prepend(figure);
  const updates = new EventSource(`${tune.url}/events`);
  const show = async (failure) => {
    if (failure) { updates.close(); caption.textContent = `The tune from ${tune.melody} failed: ${failure}`; return; }
    const made = await (await fetch(tune.url)).json();
    if (made.failed) { show(made.failed); return; }  // it failed before this page listened
    if (!made.files || !made.files.includes("tune.ogg")) return;  // not made yet: the next update tells
    updates.close();
    caption.textContent = `Tune from ${tune.melody}, ${tune.bars} bars with ${backingWords(tune.backing)}`;
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.src = `${tune.url}/files/tune.ogg`;
    audio.setAttribute("aria-label", caption.textContent);
    const links = document.createElement("p");
    for (const name of made.files) {
      const link = document.createElement("a");
      link.href = `${tune.url}/files/${name}`;
      link.setAttribute("download", `${tune.melody}-${name}`);
      link.textContent = `Download ${name}`;
      links.append(link, " ");
    }
    figure.append(audio, links);
  };
  updates.addEventListener("hello", () => show(null));
  updates.onmessage = (message) => {
    const update = JSON.parse(message.data);
    if (update.type === "tune") show(update.failed ? update.message : null);
  };
}

function cards() { return [...document.querySelectorAll("#candidates .card")]; }

function roundAudio() {
  const card = round ? cards()[round.index] : null;
  return card ? card.querySelector("audio") : null;
}

function playAll(announce) {
  // Candidates 1 to n in order, the card playing marked; `announce`: pages that play along follow.
  if (!state || !state.candidates.length) return;
  for (const audio of document.querySelectorAll("audio")) audio.pause();
  round = { generation: state.generation, index: 0, timer: null };
  playCard(0, 0);
  // Quietly: pages that play along are a nicety, and this page plays whatever the answer.
  if (announce) {
    fetch(`${api}/play`, { method: "POST", headers: { "Content-Type": "application/json" },
                           body: JSON.stringify({ generation: state.generation, page: pageId }) }).catch(() => {});
  }
}

function playCard(index, at) {
  const card = cards()[index];
  if (!card) { stopRound(); return; }
  round = round || { generation: state.generation, index, timer: null };
  round.index = index;
  for (const other of cards()) {
    other.classList.toggle("playing", other === card);
    if (other === card) other.setAttribute("aria-current", "true"); else other.removeAttribute("aria-current");
  }
  $("now-playing").textContent = `Playing candidate ${index + 1} of ${cards().length}.`;
  const audio = card.querySelector("audio");
  audio.currentTime = at;
  audio.play().catch(() => { $("now-playing").textContent = "The browser did not let this page play: press Play all."; });
}

function clipEnded(index) {
  if (!round || round.index !== index) return;
  if (index + 1 >= cards().length) { stopRound(); $("now-playing").textContent = "Played them all."; return; }
  round.timer = setTimeout(() => { if (round) playCard(index + 1, 0); }, ROUND_GAP_MS);
}

function stopRound() {
  if (round) clearTimeout(round.timer);
  round = null;
  for (const card of cards()) { card.classList.remove("playing"); card.removeAttribute("aria-current"); }
  $("now-playing").textContent = "";
}

function pauseOrPlayRound() {
  // Space with no card in focus: pause the round, go on with it, or start it.
  const audio = roundAudio();
  if (!audio) { playAll(true); return; }
  if (audio.paused) audio.play(); else audio.pause();
}

function showDeadline() {
  // The vote window closes by itself (the server keeps the deadline); this only counts down, it asks nothing.
  clearInterval(deadlineTimer);
  const line = $("deadline");
  const at = state.status === "voting" ? state.vote_deadline : null;
  line.hidden = at === null;
  if (at === null) return;
  const offset = state.now - Date.now() / 1000;  // the server's clock minus this computer's
  const tick = () => {
    const left = Math.max(0, Math.round(at - (Date.now() / 1000 + offset)));
    const shown = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    line.textContent = left > 0 ? `The vote window closes by itself in ${shown}; Next generation or Finish close it sooner.`
                                : "The vote window is over: the next generation is on its way…";
  };
  tick();
  deadlineTimer = setInterval(tick, 1000);
}

function showVotes() {
  for (const card of document.querySelectorAll(".card")) {
    const index = Number(card.dataset.index);
    const mine = ballot.filter((pick) => pick === index).length;
    card.querySelector(".votes").textContent = mine ? `${mine} vote${mine > 1 ? "s" : ""}` : "";
    card.classList.toggle("mine", mine > 0);
  }
}

let casting = Promise.resolve();

function cast(index, change) {
  // One ballot at a time: quick presses build on each other instead of racing.
  casting = casting.then(() => castNow(index, change));
  return casting;
}

async function castNow(index, change) {
  if (!state || state.status !== "voting") return;
  const next = [...ballot];
  if (change > 0) next.push(index);
  else if (next.includes(index)) next.splice(next.indexOf(index), 1);
  else return;
  const answer = await call("/votes", { generation: state.generation, picks: next });
  if (answer) { ballot = next; showVotes(); }
}

async function refresh() {
  const response = await fetch(api);
  const answer = await response.json();
  if (!response.ok) { say(answer.error); $("voting").hidden = true; return; }
  state = answer;
  render();
}

function listen() {
  const source = new EventSource(`${api}/events`);
  source.onmessage = (message) => {
    const update = JSON.parse(message.data);
    if (update.type === "progress") {
      status(`Generation ${update.generation + 1}: ${STAGES[update.stage] || update.stage}…`);
      return;
    }
    if (update.type === "play") {
      if (update.page !== pageId && $("follow").checked) {
        if (state && state.generation === update.generation) playAll(false);
        else refresh().then(() => { if (state.generation === update.generation) playAll(false); });
      }
      return;
    }
    if (update.type === "failed") say(`The worker failed: ${update.message}`);
    if (update.type === "morph" && update.failed) say(`The morph failed: ${update.message}`);
    refresh();
  };
  // After a restart of the server the browser reconnects by itself; what was missed is in the state.
  source.addEventListener("hello", () => refresh());
}

$("next").addEventListener("click", async () => {
  await casting;  // the votes clicked just before count
  if (await call("/next")) refresh();
});
$("finish").addEventListener("click", async () => {
  await casting;
  const chosen = $("finish-with").value;
  if (await call("/finish", chosen ? { candidate: Number(chosen) } : {})) { status("Rendering the winner…"); refresh(); }
});
$("clear").addEventListener("click", async () => {
  if (await call("/votes", { generation: state.generation, picks: [] })) { ballot = []; showVotes(); }
});
$("stop").addEventListener("click", async () => {
  if (!window.confirm("Stop this breed without a winner?")) return;
  if (await call("/stop")) refresh();
});
$("make-tune").addEventListener("submit", makeTune);
$("play-all").addEventListener("click", () => playAll(true));
$("sigma").addEventListener("input", () => { $("sigma-shown").textContent = $("sigma").value; });
$("sigma").addEventListener("change", async () => {
  const answer = await call("/sigma", { sigma: Number($("sigma").value) });
  if (answer) status(`Mutation σ is ${answer.sigma} from the next generation on.`);
});
$("morph").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await call("/morph", { start: Number($("morph-start").value), end: Number($("morph-end").value),
                                        steps: Number($("morph-steps").value) });
  if (answer) status(`Morph from ${answer.start + 1} to ${answer.end + 1} is on its way…`);
});
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement || event.ctrlKey || event.metaKey) return;
  if (/^[0-9]$/.test(event.key) && state) {
    const index = event.key === "0" ? 9 : Number(event.key) - 1;
    if (index < state.candidates.length) { event.preventDefault(); cast(index, event.altKey ? -1 : +1); }
  } else if (event.key === " " && target instanceof HTMLElement && target.classList.contains("card")) {
    event.preventDefault();
    const audio = target.querySelector("audio");
    if (audio.paused) audio.play(); else audio.pause();
  } else if (event.key === " " && !(target instanceof HTMLButtonElement || target instanceof HTMLAudioElement
                                    || target instanceof HTMLAnchorElement)) {
    event.preventDefault();
    pauseOrPlayRound();
  } else if ((event.key === "n" || event.key === "N") && !event.altKey && !$("voting").hidden && !$("next").disabled) {
    event.preventDefault();
    $("next").click();
  }
});

refresh().then(listen);
