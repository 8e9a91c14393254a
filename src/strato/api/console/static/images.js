// The image service (Glance v2 through /console/api/image): the images the project sees,
// create + upload with a progress bar and the status followed live (queued → saving →
// active, or back to queued with the reason), delete, deactivate and reactivate. Glance's
// policy decides who may do what; the page only shows the answer.

import { ApiError, call, csrfToken, describe, withQuery } from "./api.js";
import { bytes, confirmAction, h, showError, showStatus } from "./dom.js";

const BASE = "/console/api/image/v2";
const PAGE = 100;
const POLL_MS = 400;
const DISK_FORMATS = ["raw", "qcow2", "iso", "vmdk", "vhd", "vhdx", "vdi", "ploop", "ami", "ari", "aki"];
const CONTAINER_FORMATS = ["bare", "ovf", "ova", "docker", "compressed", "ami", "ari", "aki"];
const VISIBILITIES = ["private", "shared", "community", "public"];
const SETTLED = new Set(["active", "killed", "deactivated", "deleted", "pending_delete"]);

export const image = (method, path, options = {}) =>
  call(method, BASE + path, { what: "image", ...options });

const isAdmin = (session) => (session.roles || []).includes("admin");
const options = (values, selected) =>
  values.map((v) => h("option", { value: v, selected: v === selected }, v));

export async function showImages(view, session) {
  const rows = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Show more");
  const uploads = h("ul", { class: "image-uploads", "aria-label": "Image uploads" });
  const form = h("form", { class: "inline", "aria-label": "New image" },
    h("label", {}, "Image name ", h("input", { name: "name", required: true, maxlength: 255 })),
    h("label", {}, "Disk format ", h("select", { name: "disk_format" }, options(DISK_FORMATS, "raw"))),
    h("label", {}, "Container format ",
      h("select", { name: "container_format" }, options(CONTAINER_FORMATS, "bare"))),
    h("label", {}, "Visibility ", h("select", { name: "visibility" }, options(VISIBILITIES, "private"))),
    h("label", {}, "Image file ", h("input", { name: "file", type: "file", required: true })),
    h("button", { type: "submit" }, "Create and upload"));
  view.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" }, h("span", {}, "Images")),
    h("h2", {}, "Images"), form, uploads,
    h("table", { class: "list" },
      h("caption", { class: "sr-only" }, "Images"),
      h("thead", {}, h("tr", {}, ...["Name", "Status", "Size", "Disk format", "Container format",
        "Visibility"].map((t) => h("th", { scope: "col", class: t === "Size" ? "num" : undefined }, t)),
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      rows),
    more);

  let marker = "";
  let generation = 0;  // a reload started later wins over one still running
  const load = async (append) => {
    const mine = ++generation;
    try {
      const list = (await (await image("GET", withQuery("/images",
        { limit: PAGE, marker: append ? marker : undefined, sort: "created_at:desc" }))).json()).images;
      if (mine !== generation) return;
      if (!append) rows.replaceChildren();
      for (const img of list) rows.append(imageRow(img, session, reload));
      marker = list.length ? list[list.length - 1].id : marker;
      more.hidden = list.length < PAGE;
      if (!rows.children.length) rows.append(h("tr", {}, h("td", { colspan: 7 }, "No images yet.")));
    } catch (err) { showError(err.message); }
  };
  const reload = () => load(false);
  more.addEventListener("click", () => load(true));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const file = f.file.files[0];
    if (!file) return;
    const doc = { name: f.name.value.trim(), disk_format: f.disk_format.value,
      container_format: f.container_format.value, visibility: f.visibility.value };
    showError("");
    let created;
    try {
      created = await (await image("POST", "/images", { json: doc })).json();
    } catch (err) { showError(err.message); return; }
    form.reset();
    const row = new ImageUpload(created, file, reload);
    uploads.prepend(row.element);
    await reload();
    await row.start();
    await reload();
  });
  await reload();
}

function imageRow(img, session, reload) {
  const name = img.name || img.id;
  const actions = h("td", { class: "actions" });
  if (isAdmin(session) && (img.status === "active" || img.status === "deactivated")) {
    const deactivate = img.status === "active";
    const label = deactivate ? "Deactivate" : "Reactivate";
    actions.append(h("button", { type: "button", "aria-label": `${label} image ${name}`,
      onclick: async () => {
        try {
          await image("POST", `/images/${encodeURIComponent(img.id)}/actions/${label.toLowerCase()}`);
          showStatus(`Image ${name} ${deactivate ? "deactivated" : "reactivated"}.`);
          reload();
        } catch (err) { showError(err.message); }
      } }, label));
  }
  actions.append(h("button", { type: "button", class: "danger", "aria-label": `Delete image ${name}`,
    onclick: async () => {
      if (!(await confirmAction(`Delete the image “${name}”?`))) return;
      try {
        await image("DELETE", `/images/${encodeURIComponent(img.id)}`);
        showStatus(`Image ${name} deleted.`);
        reload();
      } catch (err) { showError(err.message); }
    } }, "Delete"));
  return h("tr", { dataset: { id: img.id } },
    h("th", { scope: "row" }, name),
    h("td", { "data-label": "Status", class: "image-status" }, img.status),
    h("td", { class: "num", "data-label": "Size" }, img.size === null ? "" : bytes(img.size)),
    h("td", { "data-label": "Disk format" }, img.disk_format || ""),
    h("td", { "data-label": "Container format" }, img.container_format || ""),
    h("td", { "data-label": "Visibility" }, img.visibility || ""),
    actions);
}

/** One file going into a new image: the bytes' progress from XMLHttpRequest, the image's
 *  status from polling Glance while they travel and until it settles. */
class ImageUpload {
  constructor(img, file, onStatus) {
    Object.assign(this, { img, file, onStatus });
    this.history = [img.status];
    this.bar = h("progress", { max: file.size || 1, value: 0, "aria-label": `Upload of ${img.name}` });
    this.percent = h("span", { class: "image-upload-percent" }, "0%");
    this.statusText = h("span", { class: "image-upload-status" }, this.describeStatus());
    this.reason = h("span", { class: "image-upload-reason" });
    this.element = h("li", {}, h("span", { class: "name" }, img.name), this.bar, this.percent,
      this.statusText, this.reason);
  }

  describeStatus() { return `Status: ${this.history.join(" → ")}`; }

  see(status) {
    if (status && this.history[this.history.length - 1] !== status) {
      this.history.push(status);
      this.statusText.textContent = this.describeStatus();
      this.onStatus();
    }
  }

  async poll() {
    try {
      const img = await (await image("GET", `/images/${encodeURIComponent(this.img.id)}`)).json();
      this.see(img.status);
      return img;
    } catch { return null; }
  }

  async start() {
    let sending = true;
    const watcher = (async () => {
      while (sending) {
        await this.poll();
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    })();
    let failure = "";
    try {
      await this.send();
    } catch (err) { failure = err.message; }
    sending = false;
    await watcher;
    // after the bytes: until the image settles (a failed upload goes back to queued)
    for (let i = 0; i < 50; i++) {
      const img = await this.poll();
      if (!img || SETTLED.has(img.status) || (failure && img.status === "queued")) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    if (failure) {
      this.element.classList.add("failed");
      this.reason.textContent = `Upload failed: ${failure}`;
      showError(`${this.img.name}: ${failure}`);
    } else {
      showStatus(`Image ${this.img.name} uploaded.`);
    }
  }

  send() {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", `${BASE}/images/${encodeURIComponent(this.img.id)}/file`);
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (e) => this.progress(e.loaded);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) { this.progress(this.file.size); resolve(); }
        else reject(new ApiError(xhr.status, describe(xhr.status, xhr.responseText, "image")));
      };
      xhr.onerror = () => reject(new ApiError(0, "The connection failed."));
      xhr.send(this.file);
    });
  }

  progress(loaded) {
    this.bar.value = loaded;
    const total = this.file.size || 1;
    this.percent.textContent = `${Math.floor((100 * Math.min(loaded, total)) / total)}%`;
  }
}
