// The account view: containers with object count, bytes and policy; create (with a
// storage policy) and delete (a non-empty one through bulk delete, after a confirmation).

import { call, swift, swiftPath, withQuery } from "./api.js";
import { bytes, confirmAction, h, showError, showStatus } from "./dom.js";

const PAGE = 100;
let policies = null;

async function loadPolicies() {
  if (policies) return policies;
  try {
    const info = await (await fetch("/info")).json();
    policies = (info.swift && info.swift.policies) || [];
  } catch { policies = []; }
  return policies;
}

export const containerLink = (account, name) =>
  `#/a/${encodeURIComponent(account)}/${encodeURIComponent(name)}/`;

export async function showContainers(view, session, account) {
  const rows = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Show more");
  const summary = h("p", { class: "summary" });
  const policySelect = h("select", { name: "policy" });
  const form = h("form", { class: "inline", "aria-label": "New container" },
    h("label", {}, "Container name ", h("input", { name: "name", required: true, maxlength: 256 })),
    h("label", {}, "Policy ", policySelect),
    h("button", { type: "submit" }, "Create"));
  view.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" }, h("span", {}, "Containers")),
    h("h2", {}, "Containers"), summary, form,
    h("table", { class: "list" },
      h("caption", { class: "sr-only" }, "Containers"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col", class: "num" }, "Objects"),
        h("th", { scope: "col", class: "num" }, "Bytes"),
        h("th", { scope: "col" }, "Policy"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      rows),
    more);

  loadPolicies().then((list) => {
    policySelect.replaceChildren(...list.map((p) =>
      h("option", { value: p.name, selected: !!p.default }, p.name + (p.default ? " (default)" : ""))));
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = form.elements.name.value.trim();
    try {
      await swift("PUT", account, name, undefined, { headers: policySelect.value ?
        { "X-Storage-Policy": policySelect.value } : {}, what: `container ${name}` });
      showStatus(`Container ${name} created.`);
      form.reset();
      showContainers(view, session, account);
    } catch (err) { showError(err.message); }
  });

  let marker = "";
  const page = async () => {
    try {
      const response = await swift("GET", account, undefined, undefined,
        { query: { format: "json", limit: PAGE, marker }, what: `account ${account}` });
      if (!marker) {
        summary.textContent = `${response.headers.get("X-Account-Container-Count") || 0} containers, ` +
          `${response.headers.get("X-Account-Object-Count") || 0} objects, ` +
          `${bytes(response.headers.get("X-Account-Bytes-Used"))} used.`;
      }
      const list = await response.json();
      for (const c of list) rows.append(containerRow(view, session, account, c));
      marker = list.length ? list[list.length - 1].name : marker;
      more.hidden = list.length < PAGE;
      if (!rows.children.length) rows.append(h("tr", {}, h("td", { colspan: 5 }, "No containers yet.")));
    } catch (err) {
      showError(err.message);
      summary.textContent = "";
    }
  };
  more.addEventListener("click", page);
  await page();
}

function containerRow(view, session, account, c) {
  const remove = h("button", { type: "button", class: "danger",
    "aria-label": `Delete container ${c.name}` }, "Delete");
  remove.addEventListener("click", async () => {
    const text = c.count ? `Delete container “${c.name}” and its ${c.count} objects?` :
      `Delete the empty container “${c.name}”?`;
    if (!(await confirmAction(text))) return;
    try {
      await emptyContainer(account, c.name, (n) => showStatus(`Deleted ${n} objects…`));
      await swift("DELETE", account, c.name, undefined, { what: `container ${c.name}` });
      showStatus(`Container ${c.name} deleted.`);
      showContainers(view, session, account);
    } catch (err) { showError(err.message); }
  });
  return h("tr", {},
    h("th", { scope: "row" }, h("a", { href: containerLink(account, c.name) }, c.name)),
    h("td", { class: "num", "data-label": "Objects" }, String(c.count)),
    h("td", { class: "num", "data-label": "Bytes" }, bytes(c.bytes)),
    h("td", { "data-label": "Policy" }, c.storage_policy || ""),
    h("td", {}, remove));
}

/** Deletes every object of a container with bulk delete, a page of names at a time. */
export async function emptyContainer(account, container, progress = () => {}) {
  let deleted = 0;
  for (;;) {
    const response = await swift("GET", account, container, undefined,
      { query: { format: "json", limit: 1000 }, what: `container ${container}` });
    const names = (await response.json()).map((o) => o.name);
    if (!names.length) return deleted;
    await bulkDelete(account, container, names);
    deleted += names.length;
    progress(deleted);
  }
}

export async function bulkDelete(account, container, names) {
  const body = names.map((n) => encodeURIComponent(container) + "/" +
    n.split("/").map(encodeURIComponent).join("/")).join("\n");
  const response = await call("POST", withQuery(swiftPath(account), { "bulk-delete": "" }),
    { headers: { "Content-Type": "text/plain", Accept: "application/json" }, body });
  const report = await response.json();
  const errors = report.Errors || [];
  if (errors.length) {
    throw new Error(`${errors.length} could not be deleted: ${errors[0][0]} (${errors[0][1]}).`);
  }
  if (report["Response Status"] && !report["Response Status"].startsWith("2")) {
    throw new Error(`Bulk delete failed: ${report["Response Status"]} ${report["Response Body"] || ""}`);
  }
  return report;
}
