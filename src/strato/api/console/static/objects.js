// A container's objects: pseudo-folders (prefix + delimiter), breadcrumbs, search by
// prefix, marker paging (a page at a time, never the whole container), uploads by picker
// or drag-and-drop, multi-select delete, and each object's details, metadata, preview,
// versions and sharing (preview.js, versions.js, share.js).

import { swift, swiftPath, withQuery } from "./api.js";
import { bulkDelete, containerLink } from "./containers.js";
import { bytes, confirmAction, h, showError, showStatus, when } from "./dom.js";
import { previewSection } from "./preview.js";
import { showSettings } from "./settings.js";
import { objectShare, showFolderShare } from "./share.js";
import { Upload } from "./upload.js";
import { versionsSection } from "./versions.js";

const PAGE = 100;

const folderLink = (account, container, prefix) =>
  containerLink(account, container) + prefix.split("/").map(encodeURIComponent).join("/");

function crumbs(account, container, prefix) {
  const nav = h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" },
    h("a", { href: `#/a/${encodeURIComponent(account)}` }, "Containers"),
    h("a", { href: containerLink(account, container) }, container));
  let path = "";
  for (const part of prefix.split("/").filter(Boolean)) {
    path += part + "/";
    nav.append(h("a", { href: folderLink(account, container, path) }, part));
  }
  const links = nav.querySelectorAll("a");
  links[links.length - 1].setAttribute("aria-current", "page");
  return nav;
}

const SORTS = [["name", "Name, A to Z"], ["name-desc", "Name, Z to A"],
  ["size-desc", "Largest first (loaded rows)"], ["size-asc", "Smallest first (loaded rows)"],
  ["modified-desc", "Newest first (loaded rows)"], ["modified-asc", "Oldest first (loaded rows)"]];

export function showObjects(view, session, account, container, prefix) {
  const rows = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Next page");
  const search = h("input", { type: "search", name: "search", "aria-label": "Search by name prefix",
    placeholder: "Name starts with…" });
  // name order comes from the listing itself (reverse=true pages backwards by marker);
  // size and date have no index, so they order the rows loaded so far
  const sort = h("select", { name: "sort", "aria-label": "Sort" },
    ...SORTS.map(([value, label]) => h("option", { value }, label)));
  const picker = h("input", { type: "file", multiple: true, id: "upload-files", class: "sr-only" });
  const deleteSelected = h("button", { type: "button", class: "danger", disabled: true },
    "Delete selected");
  const uploads = h("section", { class: "uploads", "aria-label": "Uploads", hidden: true });
  const drop = h("div", { class: "drop", id: "drop-zone" },
    h("p", {}, "Drop files here to upload them into ",
      h("strong", {}, `${container}/${prefix}`), ", or ",
      h("label", { for: "upload-files", class: "button" }, "choose files"), "."), picker);
  const settingsButton = h("button", { type: "button" }, "Container settings");
  // links are signed with the signed-in project's key: only for its own account
  const own = account === session.account;
  const shareButton = h("button", { type: "button", hidden: !own },
    prefix ? "Share this folder" : "Share this container");
  const detail = h("section", { class: "detail card", hidden: true, "aria-label": "Object details" });
  const table = h("table", { class: "list" },
    h("caption", { class: "sr-only" }, `Objects in ${container}/${prefix}`),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Select")),
      h("th", { scope: "col" }, "Name"), h("th", { scope: "col", class: "num" }, "Size"),
      h("th", { scope: "col" }, "Type"), h("th", { scope: "col" }, "Modified"))),
    rows);
  view.replaceChildren(crumbs(account, container, prefix),
    h("h2", {}, prefix ? `${container} / ${prefix}` : container),
    h("div", { class: "toolbar" }, search, sort, deleteSelected, settingsButton, shareButton),
    drop, uploads, detail, table, more);

  const selected = new Set();
  let marker = "";
  let searchPrefix = "";
  let loaded = [];
  const reload = () => {
    marker = ""; loaded = []; rows.replaceChildren(); selected.clear(); updateSelection(); page();
  };
  const render = () => {
    const order = sort.value;
    const shown = [...loaded];
    if (order !== "name" && order !== "name-desc") {
      const key = order.startsWith("size") ? (i) => i.bytes ?? -1 : (i) => i.last_modified || "";
      const sign = order.endsWith("-asc") ? 1 : -1;
      // folders first, as in the listing; then by the key, ties by name
      shown.sort((a, b) => (!!b.subdir - !!a.subdir) ||
        sign * (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    }
    rows.replaceChildren(...shown.map(row));
  };
  const updateSelection = () => {
    deleteSelected.disabled = !selected.size;
    deleteSelected.textContent = selected.size ? `Delete selected (${selected.size})` : "Delete selected";
  };

  const page = async () => {
    try {
      const query = { format: "json", limit: PAGE, delimiter: "/", prefix: prefix + searchPrefix, marker };
      if (sort.value === "name-desc") query.reverse = "true";
      const response = await swift("GET", account, container, undefined, {
        query, what: `container ${container}`,
      });
      const list = await response.json();
      loaded.push(...list);
      render();
      if (list.length) marker = list[list.length - 1].name || list[list.length - 1].subdir;
      more.hidden = list.length < PAGE;
      if (!rows.children.length) {
        rows.append(h("tr", {}, h("td", { colspan: 5 }, searchPrefix ? "Nothing matches." : "This folder is empty.")));
      }
    } catch (err) { showError(err.message); }
  };

  const row = (item) => {
    if (item.subdir) {
      const name = item.subdir.slice(prefix.length);
      return h("tr", { class: "folder" }, h("td", {}),
        h("th", { scope: "row" }, h("a", { href: folderLink(account, container, item.subdir) },
          name)), h("td", {}), h("td", { "data-label": "Type" }, "folder"), h("td", {}));
    }
    const name = item.name.slice(prefix.length);
    const box = h("input", { type: "checkbox", "aria-label": `Select ${item.name}` });
    box.checked = selected.has(item.name);  // kept when the rows are sorted again
    box.addEventListener("change", () => {
      if (box.checked) selected.add(item.name); else selected.delete(item.name);
      updateSelection();
    });
    const open = h("button", { type: "button", class: "link" }, name);
    open.addEventListener("click", () => showDetail(detail, account, container, item.name, reload, own));
    return h("tr", {}, h("td", {}, box), h("th", { scope: "row" }, open),
      h("td", { class: "num", "data-label": "Size" }, bytes(item.bytes)),
      h("td", { "data-label": "Type" }, item.content_type || ""),
      h("td", { "data-label": "Modified" }, when(item.last_modified)));
  };

  more.addEventListener("click", page);
  sort.addEventListener("change", () => {
    if (sort.value === "name" || sort.value === "name-desc") reload(); else render();
  });
  let timer = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { searchPrefix = search.value; reload(); }, 250);
  });
  deleteSelected.addEventListener("click", async () => {
    const names = [...selected];
    if (!(await confirmAction(`Delete ${names.length} object${names.length > 1 ? "s" : ""}?`))) return;
    try {
      for (let i = 0; i < names.length; i += 1000) await bulkDelete(account, container, names.slice(i, i + 1000));
      showStatus(`Deleted ${names.length} object${names.length > 1 ? "s" : ""}.`);
      reload();
    } catch (err) { showError(err.message); }
  });
  settingsButton.addEventListener("click", () => showSettings(detail, account, container));
  shareButton.addEventListener("click", () => showFolderShare(detail, container, prefix));

  const queue = new Uploads(uploads, account, container, prefix, reload);
  picker.addEventListener("change", () => { queue.add([...picker.files]); picker.value = ""; });
  for (const target of [drop, table]) {
    target.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    target.addEventListener("dragleave", () => drop.classList.remove("over"));
    target.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      queue.add([...(e.dataTransfer ? e.dataTransfer.files : [])]);
    });
  }
  page();
}

/** The upload list: a progress bar per file and one for them all, each cancellable. */
class Uploads {
  constructor(section, account, container, prefix, done) {
    Object.assign(this, { section, account, container, prefix, done });
    this.items = [];
    this.total = h("progress", { max: 1, value: 0, id: "upload-total", "aria-label": "Total upload progress" });
    this.totalText = h("span", { id: "upload-total-text" });
    this.list = h("ul");
    section.replaceChildren(h("h3", {}, "Uploads"),
      h("p", {}, "All files: ", this.total, " ", this.totalText), this.list);
  }

  add(files) {
    if (!files.length) return;
    this.section.hidden = false;
    for (const file of files) {
      const bar = h("progress", { max: file.size || 1, value: 0, "aria-label": `Upload of ${file.name}` });
      const text = h("span", { class: "upload-state" }, "queued");
      const cancel = h("button", { type: "button", "aria-label": `Cancel upload of ${file.name}` }, "Cancel");
      const item = h("li", {}, h("span", { class: "name" }, file.name), " ", bar, " ", text, " ", cancel);
      const upload = new Upload(file, this.account, this.container, this.prefix + file.name,
        (u) => this.changed(u, bar, text, cancel));
      cancel.addEventListener("click", () => upload.cancel());
      this.items.push(upload);
      this.list.append(item);
    }
    this.run();
  }

  changed(upload, bar, text, cancel) {
    bar.value = upload.total ? upload.loaded : 1;
    const pct = upload.total ? Math.floor((100 * upload.loaded) / upload.total) : 100;
    text.textContent = upload.state === "uploading" ? `${pct}%` :
      upload.state === "done" ? "100% done" : upload.state === "failed" ? `failed: ${upload.error}` : upload.state;
    cancel.hidden = upload.state !== "uploading" && upload.state !== "queued";
    const size = this.items.reduce((a, u) => a + u.total, 0);
    const loaded = this.items.reduce((a, u) => a + (u.state === "done" ? u.total : u.loaded), 0);
    this.total.max = size || 1;
    this.total.value = size ? loaded : 1;
    this.totalText.textContent = `${size ? Math.floor((100 * loaded) / size) : 100}%`;
  }

  async run() {
    if (this.running) return;
    this.running = true;
    let upload;
    while ((upload = this.items.find((u) => u.state === "queued"))) {
      await upload.start();
      if (upload.state === "failed") showError(`${upload.file.name}: ${upload.error}`);
    }
    this.running = false;
    this.done();
  }
}

async function showDetail(section, account, container, name, changed, own) {
  section.hidden = false;
  let response;
  try {
    response = await swift("HEAD", account, container, name, { what: `object ${name}` });
  } catch (err) { showError(err.message); return; }
  const headers = response.headers;
  const meta = [];
  for (const [k, v] of headers) {
    if (k.startsWith("x-object-meta-")) meta.push([k.slice("x-object-meta-".length), v]);
  }
  const metaRows = h("div", { class: "meta-rows" });
  const addRow = (key = "", value = "") => {
    const remove = h("button", { type: "button", "aria-label": "Remove this metadata item" }, "Remove");
    const line = h("div", { class: "meta-row" },
      h("label", {}, "Key ", h("input", { name: "meta-key", value: key })),
      h("label", {}, "Value ", h("input", { name: "meta-value", value: value })), remove);
    remove.addEventListener("click", () => line.remove());
    metaRows.append(line);
  };
  for (const [k, v] of meta) addRow(k, v);
  const addButton = h("button", { type: "button" }, "Add metadata");
  addButton.addEventListener("click", () => addRow());
  const form = h("form", { class: "meta", "aria-label": "Metadata" },
    h("label", {}, "Content type ", h("input", { name: "content-type", value: headers.get("Content-Type") || "" })),
    metaRows, addButton, h("button", { type: "submit" }, "Save metadata"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const hdrs = { "Content-Type": form.elements["content-type"].value };
    for (const line of metaRows.children) {
      const key = line.querySelector("[name=meta-key]").value.trim();
      if (key) hdrs[`X-Object-Meta-${key}`] = line.querySelector("[name=meta-value]").value;
    }
    try {
      await swift("POST", account, container, name, { headers: hdrs, what: `object ${name}` });
      showStatus(`Metadata of ${name} saved.`);
      showDetail(section, account, container, name, changed, own);
    } catch (err) { showError(err.message); }
  });

  const remove = h("button", { type: "button", class: "danger" }, "Delete object");
  remove.addEventListener("click", async () => {
    if (!(await confirmAction(`Delete “${name}”?`))) return;
    try {
      await swift("DELETE", account, container, name, { query: headers.get("X-Static-Large-Object") ?
        { "multipart-manifest": "delete" } : {}, what: `object ${name}` });
      section.hidden = true;
      showStatus(`${name} deleted.`);
      changed();
    } catch (err) { showError(err.message); }
  });
  const close = h("button", { type: "button", "aria-label": "Close details" }, "Close");
  close.addEventListener("click", () => { section.hidden = true; });

  section.replaceChildren(
    h("div", { class: "detail-head" }, h("h3", {}, name), close),
    h("dl", {},
      h("dt", {}, "Size"), h("dd", {}, bytes(headers.get("Content-Length"))),
      h("dt", {}, "ETag"), h("dd", {}, headers.get("Etag") || ""),
      h("dt", {}, "Modified"), h("dd", {}, headers.get("Last-Modified") || ""),
      headers.get("X-Static-Large-Object") ? [h("dt", {}, "Kind"), h("dd", {}, "large object (SLO)")] : null),
    h("p", {}, h("a", { href: withQuery(swiftPath(account, container, name), { download: "1" }),
      download: name.split("/").pop(), class: "button" }, "Download")),
    previewSection(account, container, name, headers) || "",
    h("h4", {}, "Metadata"), form, ...(own ? [h("h4", {}, "Share"), objectShare(container, name)] : []),
    versionsSection(account, container, name, (gone) => {
      changed();
      if (gone) section.hidden = true;
      else showDetail(section, account, container, name, changed, own);
    }, own), h("p", {}, remove));
  section.querySelector("h3").focus?.();
}
