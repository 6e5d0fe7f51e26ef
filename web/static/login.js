// The login page: the access token goes to the page once; the page's cookie keeps the login.
"use strict";

const form = document.getElementById("login");
const message = document.getElementById("message");

function say(text) {
  message.textContent = text;
  message.hidden = !text;
}

// Back where the person was going, on this page only (never to another site).
function destination() {
  const next = new URLSearchParams(window.location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  say("");
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch("/login", { method: "POST", body: new FormData(form) });
    const answer = await response.json();
    if (!response.ok) { say(answer.error); return; }
    window.location.replace(destination());
  } catch (error) {
    say("The page cannot reach Melody Breeder; is it still running?");
  } finally {
    button.disabled = false;
  }
});
