// An object's versions, for a container with versioning on (X-Versions-Enabled): listed
// with `GET <container>?versions&prefix=<name>` (each with its version_id), restored with
// Swift's `PUT <object>?version-id=<id>` and an empty body (that version becomes the
// current object), downloaded with `GET ?version-id=` and deleted one at a time with
// `DELETE ?version-id=`.

import { swift, swiftPath, withQuery } from "./api.js";
import { bytes, confirmAction, h, showError, showStatus, when } from "./dom.js";

const LIMIT = 1000;
const DELETE_MARKER = "application/x-deleted;swift_versions_deleted=1";
const OWNERS_ONLY = "Only the account's owners may download, restore or delete versions.";

/** The versions part of the object page; hidden when the container keeps no versions.
 * `changed(gone)` after a restore (gone=false) or when the current version was deleted. */
export function versionsSection(account, container, name, changed, own = true) {
  const section = h("section", { class: "versions", "aria-labelledby": "versions-title", hidden: true });
  load(section, account, container, name, changed, own);
  return section;
}

async function load(section, account, container, name, changed, own) {
  let list;
  try {
    const head = await swift("HEAD", account, container, undefined, { what: `container ${container}` });
    if ((head.headers.get("X-Versions-Enabled") || "").toLowerCase() !== "true") {
      section.hidden = true;
      return;
    }
    const response = await swift("GET", account, container, undefined, {
      query: { versions: "", format: "json", prefix: name, limit: LIMIT }, what: `versions of ${name}` });
    list = (await response.json()).filter((v) => v.name === name);
  } catch (err) {
    if (err.status !== 403) { showError(err.message); return; }
    // Swift shows versions only to the account's owner, not through container ACLs
    section.replaceChildren(h("h4", { id: "versions-title" }, "Versions"),
      h("p", { class: "note" }, OWNERS_ONLY));
    section.hidden = false;
    return;
  }
  const reload = () => load(section, account, container, name, changed, own);
  const rows = list.map((v) => versionRow(v, account, container, name, reload, changed, own));
  section.replaceChildren(...[
    h("h4", { id: "versions-title" }, "Versions"),
    list.length ? h("table", { class: "list versions-list" },
      h("caption", { class: "sr-only" }, `Versions of ${name}, newest first`),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Version"), h("th", { scope: "col" }, "Saved"),
        h("th", { scope: "col", class: "num" }, "Size"), h("th", { scope: "col" }, "State"),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      h("tbody", {}, rows))
      : h("p", {}, "No versions yet."),
    list.length >= LIMIT ? h("p", {}, `Showing the newest ${LIMIT} versions.`) : null,
    own ? null : h("p", { class: "note" }, OWNERS_ONLY),
  ].filter(Boolean));
  section.hidden = false;
}

function versionRow(v, account, container, name, reload, changed, own) {
  const deleted = v.content_type === DELETE_MARKER;
  const id = v.version_id;
  const actions = h("td", { class: "actions" });
  const row = h("tr", { dataset: { versionId: id } },
    h("th", { scope: "row" }, id),
    h("td", { "data-label": "Saved" }, when(v.last_modified)),
    h("td", { class: "num", "data-label": "Size" }, deleted ? "" : bytes(v.bytes)),
    h("td", { "data-label": "State" }, deleted ? "deleted" : v.is_latest ? "current" : "older"),
    actions);
  // Swift lets only the account's owners reach a version by its id (ACLs do not)
  if (!own) return row;
  if (!deleted) {
    actions.append(h("a", { class: "button", href: withQuery(swiftPath(account, container, name),
      { "version-id": id, download: "1" }), download: name.split("/").pop(),
      "aria-label": `Download version ${id}` }, "Download"));
  }
  if (!deleted && !v.is_latest) {
    const restore = h("button", { type: "button", "aria-label": `Restore version ${id}` }, "Restore");
    restore.addEventListener("click", async () => {
      try {
        await swift("PUT", account, container, name, { query: { "version-id": id },
          what: `version ${id} of ${name}` });
        showStatus(`Version ${id} of ${name} restored.`);
        changed(false);
      } catch (err) { showError(err.message); }
    });
    actions.append(" ", restore);
  }
  const remove = h("button", { type: "button", class: "danger", "aria-label": `Delete version ${id}` },
    "Delete");
  remove.addEventListener("click", async () => {
    const text = v.is_latest && !deleted
      ? `Delete version ${id}? It is the current one: ${name} goes too, its older versions stay.`
      : `Delete version ${id} of “${name}”?`;
    if (!(await confirmAction(text))) return;
    try {
      await swift("DELETE", account, container, name, { query: { "version-id": id },
        what: `version ${id} of ${name}` });
      showStatus(`Version ${id} deleted.`);
      if (v.is_latest && !deleted) changed(true);
      else reload();
    } catch (err) { showError(err.message); }
  });
  actions.append(" ", remove);
  return row;
}
