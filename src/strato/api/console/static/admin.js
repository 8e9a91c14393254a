// Administration through Keystone v3 (/console/api/identity): users, projects and role
// assignments. The menu shows these pages to users with the `admin` role, but that is only
// a convenience: every call goes out with the user's own token and Keystone's policy
// refuses anyone else (403), which is the sentence a non-admin sees here.

import { call } from "./api.js";
import { confirmAction, h, showError, showStatus } from "./dom.js";

const BASE = "/console/api/identity/v3";
export const identity = (method, path, options = {}) =>
  call(method, BASE + path, { what: "page", ...options });
const get = async (path, key) => (await (await identity("GET", path)).json())[key];
const byName = (a, b) => a.name.localeCompare(b.name);
const id = encodeURIComponent;

const TABS = [["users", "Users"], ["projects", "Projects"], ["assignments", "Role assignments"]];

export function showAdmin(view, session, tab) {
  const current = TABS.some(([t]) => t === tab) ? tab : "users";
  const body = h("div");
  view.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" }, h("span", {}, "Admin")),
    h("h2", {}, "Admin: " + TABS.find(([t]) => t === current)[1]),
    h("nav", { class: "tabs", "aria-label": "Admin pages" }, ...TABS.map(([t, label]) =>
      h("a", { href: `#/admin/${t}`, "aria-current": t === current ? "page" : undefined }, label))),
    body);
  ({ users, projects, assignments })[current](body, session);
}

function table(caption, headings, rows) {
  return h("table", { class: "list" }, h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, ...headings.map((t) => h("th", { scope: "col" }, t)),
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))), rows);
}

const refresh = (body, session, fn) => () => fn(body, session);

// ---- users ------------------------------------------------------------------------------

async function users(body, session) {
  const rows = h("tbody");
  const projectSelect = h("select", { name: "default_project_id" }, h("option", { value: "" }, "none"));
  const form = h("form", { class: "inline", "aria-label": "New user" },
    h("label", {}, "User name ", h("input", { name: "name", required: true, autocomplete: "off" })),
    h("label", {}, "Password ", h("input", { name: "password", type: "password", required: true,
      autocomplete: "new-password" })),
    h("label", {}, "Default project ", projectSelect),
    h("button", { type: "submit" }, "Create user"));
  body.replaceChildren(form, table("Users", ["Name", "Enabled", "ID"], rows));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const user = { name: f.name.value.trim(), password: f.password.value, enabled: true };
    if (f.default_project_id.value) user.default_project_id = f.default_project_id.value;
    try {
      await identity("POST", "/users", { json: { user } });
      showStatus(`User ${user.name} created.`);
      users(body, session);
    } catch (err) { showError(err.message); }
  });
  try {
    const list = (await get("/users", "users")).sort(byName);
    rows.replaceChildren(...list.map((u) => userRow(u, refresh(body, session, users))));
    get("/projects", "projects").then((projects) => projectSelect.append(
      ...projects.sort(byName).map((p) => h("option", { value: p.id }, p.name)))).catch(() => {});
  } catch (err) { showError(err.message); }
}

function userRow(u, reload) {
  const toggle = h("button", { type: "button", "aria-label": `${u.enabled ? "Disable" : "Enable"} user ${u.name}`,
    onclick: async () => {
      try {
        await identity("PATCH", `/users/${id(u.id)}`, { json: { user: { enabled: !u.enabled } } });
        showStatus(`User ${u.name} ${u.enabled ? "disabled" : "enabled"}.`);
        reload();
      } catch (err) { showError(err.message); }
    } }, u.enabled ? "Disable" : "Enable");
  const remove = h("button", { type: "button", class: "danger", "aria-label": `Delete user ${u.name}`,
    onclick: async () => {
      if (!(await confirmAction(`Delete the user “${u.name}”?`))) return;
      try {
        await identity("DELETE", `/users/${id(u.id)}`);
        showStatus(`User ${u.name} deleted.`);
        reload();
      } catch (err) { showError(err.message); }
    } }, "Delete");
  return h("tr", {}, h("th", { scope: "row" }, u.name),
    h("td", { "data-label": "Enabled" }, u.enabled ? "yes" : "no"),
    h("td", { "data-label": "ID" }, u.id), h("td", { class: "actions" }, toggle, remove));
}

// ---- projects ---------------------------------------------------------------------------

async function projects(body, session) {
  const rows = h("tbody");
  const form = h("form", { class: "inline", "aria-label": "New project" },
    h("label", {}, "Project name ", h("input", { name: "name", required: true, autocomplete: "off" })),
    h("label", {}, "Description ", h("input", { name: "description", autocomplete: "off" })),
    h("button", { type: "submit" }, "Create project"));
  body.replaceChildren(form, table("Projects", ["Name", "Description", "Enabled", "ID"], rows));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const project = { name: form.elements.name.value.trim(),
      description: form.elements.description.value, domain_id: "default" };
    try {
      await identity("POST", "/projects", { json: { project } });
      showStatus(`Project ${project.name} created.`);
      projects(body, session);
    } catch (err) { showError(err.message); }
  });
  try {
    const list = (await get("/projects", "projects")).sort(byName);
    rows.replaceChildren(...list.map((p) => h("tr", {}, h("th", { scope: "row" }, p.name),
      h("td", { "data-label": "Description" }, p.description || ""),
      h("td", { "data-label": "Enabled" }, p.enabled ? "yes" : "no"),
      h("td", { "data-label": "ID" }, p.id),
      h("td", { class: "actions" }, h("button", { type: "button", class: "danger",
        "aria-label": `Delete project ${p.name}`, disabled: p.id === session.project_id,
        title: p.id === session.project_id ? "You are signed in to this project" : undefined,
        onclick: async () => {
          if (!(await confirmAction(`Delete the project “${p.name}”? Its role assignments go with it.`))) return;
          try {
            await identity("DELETE", `/projects/${id(p.id)}`);
            showStatus(`Project ${p.name} deleted.`);
            projects(body, session);
          } catch (err) { showError(err.message); }
        } }, "Delete")))));
  } catch (err) { showError(err.message); }
}

// ---- role assignments -------------------------------------------------------------------

async function assignments(body, session) {
  const rows = h("tbody");
  const userSelect = h("select", { name: "user", required: true });
  const projectSelect = h("select", { name: "project", required: true });
  const roleSelect = h("select", { name: "role", required: true });
  const form = h("form", { class: "inline", "aria-label": "Grant a role" },
    h("label", {}, "User ", userSelect), h("label", {}, "Project ", projectSelect),
    h("label", {}, "Role ", roleSelect), h("button", { type: "submit" }, "Grant"));
  body.replaceChildren(form, table("Role assignments", ["User", "Project", "Role"], rows));
  const reload = () => assignments(body, session);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [u, p, r] = [userSelect, projectSelect, roleSelect].map((s) => s.selectedOptions[0]);
    try {
      await identity("PUT", `/projects/${id(p.value)}/users/${id(u.value)}/roles/${id(r.value)}`);
      showStatus(`Role ${r.textContent} granted to ${u.textContent} on ${p.textContent}.`);
      reload();
    } catch (err) { showError(err.message); }
  });
  try {
    const [userList, projectList, roleList, rows_] = await Promise.all([
      get("/users", "users"), get("/projects", "projects"), get("/roles", "roles"),
      get("/role_assignments?include_names=true", "role_assignments")]);
    userSelect.replaceChildren(...userList.sort(byName).map((u) => h("option", { value: u.id }, u.name)));
    projectSelect.replaceChildren(...projectList.sort(byName).map((p) => h("option", { value: p.id }, p.name)));
    roleSelect.replaceChildren(...roleList.sort(byName).map((r) =>
      h("option", { value: r.id, selected: r.name === "member" }, r.name)));
    const shown = rows_.filter((a) => a.user && a.scope.project).map((a) => ({
      user: a.user.name || a.user.id, userId: a.user.id, project: a.scope.project.name || a.scope.project.id,
      projectId: a.scope.project.id, role: a.role.name || a.role.id, roleId: a.role.id }));
    shown.sort((a, b) => a.user.localeCompare(b.user) || a.project.localeCompare(b.project) ||
      a.role.localeCompare(b.role));
    rows.replaceChildren(...shown.map((a) => h("tr", {}, h("th", { scope: "row" }, a.user),
      h("td", { "data-label": "Project" }, a.project), h("td", { "data-label": "Role" }, a.role),
      h("td", { class: "actions" }, h("button", { type: "button", class: "danger",
        "aria-label": `Revoke ${a.role} of ${a.user} on ${a.project}`,
        onclick: async () => {
          if (!(await confirmAction(`Revoke the role ${a.role} of ${a.user} on ${a.project}?`, "Revoke"))) return;
          try {
            await identity("DELETE", `/projects/${id(a.projectId)}/users/${id(a.userId)}/roles/${id(a.roleId)}`);
            showStatus(`Role ${a.role} of ${a.user} on ${a.project} revoked.`);
            reload();
          } catch (err) { showError(err.message); }
        } }, "Revoke")))));
  } catch (err) { showError(err.message); }
}
