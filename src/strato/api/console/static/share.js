// Sharing: temp URLs for one object or for every object under a folder (Swift's
// `temp_url_prefix`), with a chosen lifetime and method, and form POST upload links whose
// page (/console/upload) needs no sign-in. The server signs (POST /console/tempurl and
// /console/formpost); the signed fields of an upload link travel in its fragment (#...),
// which browsers send to no server.

import { call } from "./api.js";
import { h, showError, showStatus } from "./dom.js";

const LIFETIMES = [["900", "15 minutes"], ["3600", "1 hour"], ["86400", "1 day"],
  ["604800", "7 days"], ["2592000", "30 days"]];

function lifetimeSelect(chosen = "3600") {
  return h("select", { name: "lifetime" },
    LIFETIMES.map(([value, label]) => h("option", { value, selected: value === chosen }, label)));
}

/** A read-only link box with a Copy button; `show(url)` fills it. */
function linkBox(label) {
  const box = h("input", { readonly: true, name: "share-url", "aria-label": label, hidden: true });
  const copy = h("button", { type: "button", hidden: true }, "Copy link");
  copy.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(box.value); }
    catch { box.select(); document.execCommand("copy"); }
    showStatus("Link copied.");
  });
  const show = (url) => {
    box.value = url;
    box.hidden = copy.hidden = false;
    box.select();
  };
  return { nodes: [box, copy], show };
}

/** The Share form of one object: a temp URL for GET or PUT. */
export function objectShare(container, name) {
  const lifetime = lifetimeSelect();
  const method = h("select", { name: "method" },
    h("option", { value: "GET" }, "download (GET)"), h("option", { value: "PUT" }, "upload (PUT)"));
  const link = linkBox("Temporary URL");
  const form = h("form", { class: "share", "aria-label": "Share" },
    h("label", {}, "Link for ", method), h("label", {}, "valid for ", lifetime),
    h("button", { type: "submit" }, "Create temporary link"), ...link.nodes);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await (await call("POST", "/console/tempurl", { json: {
        container, object: name, method: method.value, seconds: Number(lifetime.value) } })).json();
      link.show(location.origin + result.url);
    } catch (err) { showError(err.message); }
  });
  return form;
}

/** The folder's Share panel: a prefix temp URL and a form POST upload page. */
export function showFolderShare(section, container, prefix) {
  section.hidden = false;
  const where = prefix ? `${container}/${prefix}` : container;
  const close = h("button", { type: "button", "aria-label": "Close sharing" }, "Close");
  close.addEventListener("click", () => { section.hidden = true; });
  section.replaceChildren(h("div", { class: "detail-head" }, h("h3", {}, `Share ${where}`), close),
    prefixForm(container, prefix), uploadForm(container, prefix));
  section.querySelector("select").focus();
}

function prefixForm(container, prefix) {
  const lifetime = lifetimeSelect();
  const method = h("select", { name: "method" },
    h("option", { value: "GET" }, "download (GET)"), h("option", { value: "HEAD" }, "check (HEAD)"),
    h("option", { value: "PUT" }, "upload (PUT)"));
  const link = linkBox("Temporary URL for the folder");
  const hint = h("p", { class: "note", hidden: true });
  const form = h("form", { class: "share", "aria-labelledby": "prefix-title" },
    h("h4", { id: "prefix-title", class: "full" }, "A link to everything in the folder"),
    h("label", {}, "Link for ", method), h("label", {}, "valid for ", lifetime),
    h("button", { type: "submit" }, "Create folder link"), ...link.nodes, hint);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await (await call("POST", "/console/tempurl", { json: {
        container, prefix, method: method.value, seconds: Number(lifetime.value) } })).json();
      link.show(location.origin + result.url);
      hint.textContent = `Put an object's name after “${prefix || container + "/"}” in the link's ` +
        "path (before the “?”) to reach it; the link works for every object whose name starts " +
        `with “${prefix}”.`;
      hint.hidden = false;
    } catch (err) { showError(err.message); }
  });
  return form;
}

function uploadForm(container, prefix) {
  const lifetime = lifetimeSelect("86400");
  const size = h("input", { name: "max-size", type: "number", min: 1, max: 5120, value: 100,
    inputmode: "numeric", required: true });
  const count = h("input", { name: "max-count", type: "number", min: 1, max: 1000, value: 10,
    inputmode: "numeric", required: true });
  const redirect = h("input", { name: "redirect", type: "url", placeholder: "https://… (optional)" });
  const link = linkBox("Upload page link");
  const fields = h("dl", { class: "form-fields", hidden: true });
  const form = h("form", { class: "share", "aria-labelledby": "upload-title" },
    h("h4", { id: "upload-title", class: "full" }, "An upload page for others (form POST)"),
    h("label", {}, "Largest file, MiB ", size), h("label", {}, "At most ", count, " files"),
    h("label", {}, "valid for ", lifetime),
    h("label", {}, "After uploading, go to ", redirect),
    h("button", { type: "submit" }, "Create upload page"), ...link.nodes, fields);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await (await call("POST", "/console/formpost", { json: {
        container, prefix, seconds: Number(lifetime.value), redirect: redirect.value.trim(),
        max_file_size: Math.round(Number(size.value) * 1024 * 1024),
        max_file_count: Number(count.value) } })).json();
      const signed = { url: result.url, max_file_size: result.max_file_size,
        max_file_count: result.max_file_count, expires: result.expires, signature: result.signature };
      if (result.redirect) signed.redirect = result.redirect;
      link.show(`${location.origin}/console/upload#${new URLSearchParams(signed)}`);
      fields.replaceChildren(h("dt", {}, "Form action"), h("dd", {}, location.origin + result.url),
        ...["redirect", "max_file_size", "max_file_count", "expires", "signature"].flatMap((k) =>
          [h("dt", {}, k), h("dd", {}, String(result[k]))]));
      fields.hidden = false;
      showStatus(`Anyone with the link may upload into ${prefix ? `${container}/${prefix}` : container} ` +
        `until ${new Date(result.expires * 1000).toLocaleString()}.`);
    } catch (err) { showError(err.message); }
  });
  return form;
}
