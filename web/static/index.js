"use strict";
// The start form: its options and limits come from the server, the same as the bot's.

const form = document.getElementById("start");
const message = document.getElementById("message");

function say(text) {
  message.textContent = text;
  message.hidden = !text;
}

async function branchDefaults() {
  // Around a melody, the tempo and instrument are that melody's unless chosen otherwise.
  const from = form.elements.from.value.trim();
  if (!from) return;
  const response = await fetch(`/api/options?from=${encodeURIComponent(from)}`);
  const answer = await response.json();
  if (!response.ok) { say(answer.error); return; }
  say("");
  form.elements.tempo.value = answer.defaults.tempo;
  form.elements.instrument.value = answer.defaults.instrument;
}

async function load() {
  const options = await (await fetch("/api/options")).json();
  const { defaults, limits } = options;
  for (const name of ["population", "sigma", "foreign", "vote_minutes", "tempo"]) {
    const input = form.elements[name];
    input.min = limits[name][0];
    input.max = limits[name][1];
    input.value = defaults[name];
  }
  const shown = document.getElementById("sigma-shown");
  const sigma = form.elements.sigma;
  shown.textContent = sigma.value;
  sigma.addEventListener("input", () => { shown.textContent = sigma.value; });
  for (const { name, program } of options.instruments) {
    form.elements.instrument.add(new Option(name, program, false, program === defaults.instrument));
  }
  for (const { name, description } of options.strategies) {
    form.elements.strategy.add(new Option(`${name}: ${description}`, name, false, name === defaults.strategy));
  }
  for (const backing of options.backings) {
    form.elements.backing.add(new Option(backing, backing, false, backing === defaults.backing));
  }
  for (const bars of options.tune_bars) {
    form.elements.bars.add(new Option(`${bars} bars`, bars, false, bars === defaults.bars));
  }
  const from = new URLSearchParams(location.search).get("from");
  if (from) { form.elements.from.value = from; await branchDefaults(); }
  form.elements.from.addEventListener("change", branchDefaults);
  const open = await (await fetch("/api/breeds")).json();
  const list = document.getElementById("open");
  if (!open.length) list.innerHTML = "<li>None yet.</li>";
  for (const breed of open) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = breed.url;
    link.textContent = `Breed ${breed.breed_id}: generation ${breed.generation + 1}, ${breed.status}`;
    item.append(link);
    list.append(item);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  say("");
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch("/api/breeds", { method: "POST", body: new FormData(form) });
    const answer = await response.json();
    if (!response.ok) { say(answer.error); return; }
    window.location.assign(answer.url);
  } catch (error) {
    say("The page cannot reach Melody Breeder; is it still running?");
  } finally {
    button.disabled = false;
  }
});

load();
