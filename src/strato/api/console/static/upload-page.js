// The form POST upload page (/console/upload): opened by anyone holding a link the console
// made, with no sign-in. The link's fragment carries the signed form fields (url,
// max_file_size, max_file_count, expires, signature and perhaps redirect); this page posts
// them with the chosen files straight to Swift's form POST at that URL, which checks the
// signature. Without a redirect the upload goes by XMLHttpRequest (with progress); with
// one, as a plain form submission so the browser follows Swift's 303 to it.

import { h, showError, showStatus, bytes } from "./dom.js";

const $ = (id) => document.getElementById(id);
const FIELDS = ["redirect", "max_file_size", "max_file_count", "expires", "signature"];

function parseLink() {
  const params = new URLSearchParams(location.hash.slice(1));
  const url = params.get("url") || "";
  const link = { url, redirect: params.get("redirect") || "" };
  for (const k of ["max_file_size", "max_file_count", "expires"]) link[k] = Number(params.get(k));
  link.signature = params.get("signature") || "";
  // only this server's own Swift API: a link must not send people's files elsewhere
  const parts = url.split("/");
  const dots = parts.some((p) => /^(\.|%2e){1,2}$/i.test(p));
  const ok = /^\/v1\/[^/]+\/[^/]+/.test(url) && !url.includes("//") && !url.includes("\\") && !dots &&
    link.signature && link.max_file_size > 0 && link.max_file_count > 0 && link.expires > 0;
  if (!ok) return null;
  try {
    link.container = decodeURIComponent(parts[3]);
    link.prefix = parts.slice(4).map(decodeURIComponent).join("/");
  } catch { return null; }  // a malformed %-escape
  return link;
}

function sentence(status, text) {
  const detail = (text || "").split("FormPost:")[1]?.trim().toLowerCase() || "";
  if (status === 201) return "";
  if (status === 401 && detail.includes("expired")) return "This upload link has expired: ask for a new one.";
  if (status === 401) return "This upload link is not valid (401): ask for a new one.";
  if (detail.includes("max_file_size")) return "A file is larger than this link allows (400).";
  if (detail.includes("max file count")) return "Too many files for this link (400).";
  if (status === 413) return "Too large or over the container's quota (413).";
  if (status === 404) return "The container no longer exists (404).";
  return `The upload failed (${status})${detail ? `: ${detail}` : ""}.`;
}

function main() {
  const link = parseLink();
  if (!link) {
    $("where").textContent = "Upload";
    showError("This upload link is incomplete or damaged: ask for a new one.");
    return;
  }
  const until = new Date(link.expires * 1000);
  $("where").textContent = `Upload into ${link.prefix ? `${link.container}/${link.prefix}` : link.container}`;
  $("limits").textContent = `Up to ${link.max_file_count} file${link.max_file_count > 1 ? "s" : ""} ` +
    `of at most ${bytes(link.max_file_size)} each, until ${until.toLocaleString()}.`;
  if (until < new Date()) {
    showError("This upload link has expired: ask for a new one.");
    return;
  }
  const form = $("upload-form");
  const files = $("files");
  files.multiple = link.max_file_count > 1;
  form.action = link.url;
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    showError("");
    const chosen = [...files.files];
    const tooBig = chosen.find((f) => f.size > link.max_file_size);
    if (chosen.length > link.max_file_count || tooBig) {
      event.preventDefault();
      showError(tooBig ? `${tooBig.name} is larger than ${bytes(link.max_file_size)}, the most this link allows.`
        : `Choose at most ${link.max_file_count} files.`);
      return;
    }
    if (link.redirect) {  // a plain submission: the browser follows Swift's 303
      for (const k of FIELDS) form.prepend(h("input", { type: "hidden", name: k, value: String(link[k]) }));
      return;
    }
    event.preventDefault();
    send(link, chosen);
  });
}

function send(link, chosen) {
  const data = new FormData();
  for (const k of FIELDS) data.append(k, String(link[k]));
  chosen.forEach((file, i) => data.append(`file${i + 1}`, file, file.name));
  const bar = $("progress");
  const text = $("progress-text");
  const button = $("upload-form").querySelector("button");
  bar.hidden = false;
  button.disabled = true;
  const xhr = new XMLHttpRequest();
  xhr.open("POST", link.url);
  xhr.upload.onprogress = (e) => {
    bar.max = e.total || 1;
    bar.value = e.loaded;
    text.textContent = `${e.total ? Math.floor((100 * e.loaded) / e.total) : 0}%`;
  };
  xhr.onload = () => {
    button.disabled = false;
    const problem = sentence(xhr.status, xhr.responseText);
    if (problem) { showError(problem); text.textContent = "failed"; return; }
    bar.value = bar.max;
    text.textContent = "100%";
    showStatus(`Uploaded ${chosen.length} file${chosen.length > 1 ? "s" : ""}: ` +
      chosen.map((f) => f.name).join(", ") + ".");
    $("upload-form").reset();
  };
  xhr.onerror = () => { button.disabled = false; showError("The connection failed: try again."); };
  xhr.send(data);
}

main();
