// The signed-in user's application credentials (Keystone v3, through the console's identity
// proxy): list, create (the secret is shown once, here, and never again) and delete.
// Keystone lets every user manage their own, so this page is not an admin one.

import { confirmAction, h, showError, showStatus, when } from "./dom.js";
import { identity } from "./admin.js";

export async function showCredentials(view, session) {
  const base = `/users/${encodeURIComponent(session.user_id)}/application_credentials`;
  const rows = h("tbody");
  const secretBox = h("div", { class: "card secret", hidden: true, role: "region",
    "aria-label": "New credential" });
  const form = h("form", { class: "inline", "aria-label": "New application credential" },
    h("label", {}, "Credential name ", h("input", { name: "name", required: true, autocomplete: "off" })),
    h("label", {}, "Description ", h("input", { name: "description", autocomplete: "off" })),
    h("label", {}, "Expires ", h("input", { name: "expires", type: "date" })),
    h("button", { type: "submit" }, "Create credential"));
  view.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" }, h("span", {}, "Application credentials")),
    h("h2", {}, "Application credentials"),
    h("p", { class: "summary" }, `For signing in as ${session.user} to project ${session.project} ` +
      "from scripts and tools, with the roles you hold there now."),
    form, secretBox,
    h("table", { class: "list" }, h("caption", { class: "sr-only" }, "Application credentials"),
      h("thead", {}, h("tr", {}, ...["Name", "Project", "Expires", "ID"].map((t) => h("th", { scope: "col" }, t)),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))), rows));
  const reload = async () => {
    try {
      const list = (await (await identity("GET", base)).json()).application_credentials;
      list.sort((a, b) => a.name.localeCompare(b.name));
      rows.replaceChildren(...list.map((c) => h("tr", {}, h("th", { scope: "row" }, c.name),
        h("td", { "data-label": "Project" }, c.project_id === session.project_id ? session.project : c.project_id),
        h("td", { "data-label": "Expires" }, c.expires_at ? when(c.expires_at) : "never"),
        h("td", { "data-label": "ID" }, c.id),
        h("td", { class: "actions" }, h("button", { type: "button", class: "danger",
          "aria-label": `Delete credential ${c.name}`, onclick: async () => {
            if (!(await confirmAction(`Delete the application credential “${c.name}”? ` +
              "Tools using it can no longer sign in."))) return;
            try {
              await identity("DELETE", `${base}/${encodeURIComponent(c.id)}`);
              showStatus(`Credential ${c.name} deleted.`);
              reload();
            } catch (err) { showError(err.message); }
          } }, "Delete")))));
      if (!list.length) rows.append(h("tr", {}, h("td", { colspan: 5 }, "No application credentials yet.")));
    } catch (err) { showError(err.message); }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const doc = { name: f.name.value.trim(), description: f.description.value };
    if (f.expires.value) doc.expires_at = `${f.expires.value}T00:00:00Z`;
    try {
      const cred = (await (await identity("POST", base, { json: { application_credential: doc } }))
        .json()).application_credential;
      form.reset();
      const secret = h("input", { readonly: true, value: cred.secret, "aria-label": "Secret",
        class: "wide" });
      secretBox.replaceChildren(
        h("p", {}, h("strong", {}, `Credential ${cred.name} created. `),
          "Copy the secret now: it is shown only this once."),
        h("label", {}, "Credential ID ", h("input", { readonly: true, value: cred.id, class: "wide" })),
        h("label", {}, "Secret ", secret),
        h("button", { type: "button", onclick: async () => {
          try { await navigator.clipboard.writeText(cred.secret); showStatus("Secret copied."); }
          catch { secret.select(); showStatus("Select and copy the secret."); }
        } }, "Copy secret"),
        h("button", { type: "button", onclick: () => { secretBox.hidden = true; secretBox.replaceChildren(); } },
          "Done"));
      secretBox.hidden = false;
      secret.focus();
      secret.select();
      showStatus(`Credential ${cred.name} created.`);
      reload();
    } catch (err) { showError(err.message); }
  });
  await reload();
}
