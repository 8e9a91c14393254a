// The console's shell: sign-in, the signed-in header (user, project switch, sign out) and
// hash routing between the views (#/ containers, #/a/<account>/<container>/<prefix>,
// #/usage[/<container>]; the other sections' routes are in sections.js).

import { call, setSession, whenSignedOut } from "./api.js";
import { showContainers } from "./containers.js";
import { h, showError, showStatus } from "./dom.js";
import { showObjects } from "./objects.js";
import { routeSection } from "./sections.js";
import { showUsage } from "./usage.js";

const $ = (id) => document.getElementById(id);
export const state = { session: null };

async function loadSession() {
  try {
    const response = await fetch("/console/session", { credentials: "same-origin" });
    return response.ok ? await response.json() : null;
  } catch { return null; }
}

function signedOut(message = "") {
  state.session = null;
  setSession(null);
  $("top").hidden = true;
  $("view").hidden = true;
  $("view").replaceChildren();
  $("sign-in").hidden = false;
  showError(message);
  $("sign-in-form").elements.user.focus();
}

async function signedIn(session) {
  state.session = session;
  setSession(session);
  $("sign-in").hidden = true;
  $("top").hidden = false;
  $("view").hidden = false;
  $("who").textContent = session.user;
  const select = $("project-select");
  select.replaceChildren(h("option", { value: session.project_id }, session.project));
  try {
    const { projects } = await (await call("GET", "/console/projects")).json();
    select.replaceChildren(...projects.map((p) => h("option",
      { value: p.id, selected: p.id === session.project_id }, p.name)));
  } catch { /* the current project stays the only choice */ }
  route();
}

export function accountOf(session) { return session.account; }

function route() {
  if (!state.session) return;
  showError("");
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const view = $("view");
  if (routeSection(view, state.session, parts)) return;
  if (parts[0] === "usage") {
    showUsage(view, state.session, parts[1] || "");
  } else if (parts[0] === "a" && parts.length >= 3 && parts[2]) {
    const [, account, container, ...rest] = parts;
    showObjects(view, state.session, account, container, rest.join("/"));
  } else {
    showContainers(view, state.session, parts[0] === "a" && parts[1] ? parts[1] : state.session.account);
  }
}

function setUpSignIn() {
  const form = $("sign-in-form");
  const toggle = () => {
    const method = form.elements.method.value;
    for (const part of form.querySelectorAll("[data-method]")) {
      part.hidden = part.dataset.method !== method;
    }
    form.elements.user.required = method === "password";
  };
  form.addEventListener("change", toggle);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    showStatus("Signing in…");
    try {
      const response = await call("POST", "/console/session", { json: data });
      form.elements.password.value = "";
      form.elements.secret.value = "";
      showStatus("");
      showError("");
      await signedIn(await response.json());
    } catch (err) {
      showStatus("");
      showError(err.message);
    }
  });
}

async function signOut() {
  try { await call("DELETE", "/console/session"); } catch { /* signed out either way */ }
  location.hash = "#/";
  signedOut("");
  showStatus("Signed out.");
}

async function switchProject() {
  try {
    const response = await call("PUT", "/console/session/project",
      { json: { project_id: $("project-select").value } });
    location.hash = "#/";
    await signedIn(await response.json());
    showStatus(`Switched to project ${state.session.project}.`);
  } catch (err) { showError(err.message); }
}

async function main() {
  setUpSignIn();
  whenSignedOut(() => signedOut("Your session has ended: sign in again."));
  $("sign-out").addEventListener("click", signOut);
  $("project-select").addEventListener("change", switchProject);
  window.addEventListener("hashchange", route);
  const session = await loadSession();
  if (session) await signedIn(session);
  else signedOut();
}

main();
