// Previews on the object page: images in <img>, text (the first 64 KiB, read with a Range
// request) as text in a <pre>, PDFs in an <iframe> of the object through the console's
// proxy with `?preview` (still `Content-Security-Policy: sandbox`, but frameable by the
// console's own pages). Nothing else is framed: an HTML object shows as its source text.

import { call, swiftPath, withQuery } from "./api.js";
import { h } from "./dom.js";

export const TEXT_LIMIT = 64 * 1024;
const IMAGES = /^image\/(png|jpe?g|gif|webp|avif|bmp|svg\+xml|x-icon|vnd\.microsoft\.icon)$/;
const TEXTS = /^(text\/[\w.+-]+|application\/(json|xml|javascript|x-sh|x-yaml|yaml|toml|x-ndjson|[\w.+-]+\+(json|xml)))$/;

export function previewKind(contentType) {
  const type = (contentType || "").split(";")[0].trim().toLowerCase();
  if (IMAGES.test(type)) return "image";
  if (type === "application/pdf") return "pdf";
  if (TEXTS.test(type)) return "text";
  return "";
}

/** The preview part of the object page, or null for a type with no preview. */
export function previewSection(account, container, name, headers) {
  const kind = previewKind(headers.get("Content-Type"));
  if (!kind) return null;
  const url = withQuery(swiftPath(account, container, name), { preview: "1" });
  const title = h("h4", { id: "preview-title" }, "Preview");
  const section = h("section", { class: "preview", "aria-labelledby": "preview-title" }, title);
  if (kind === "image") {
    section.append(h("img", { src: url, alt: `Preview of ${name}`, class: "preview-image" }));
  } else if (kind === "pdf") {
    section.append(h("iframe", { src: url, title: `Preview of ${name}`, class: "preview-pdf" }));
  } else {
    const pre = h("pre", { class: "preview-text", tabindex: "0", "aria-label": `Text of ${name}` }, "Loading…");
    section.append(pre);
    loadText(url, pre, Number(headers.get("Content-Length")) || 0);
  }
  return section;
}

async function loadText(url, pre, size) {
  if (!size) { pre.textContent = ""; pre.after(h("p", { class: "note" }, "The object is empty.")); return; }
  try {
    const response = await call("GET", url, { headers: { Range: `bytes=0-${TEXT_LIMIT - 1}` } });
    const buffer = await response.arrayBuffer();
    const text = new TextDecoder("utf-8").decode(buffer.slice(0, TEXT_LIMIT));
    pre.textContent = text;
    if (size > TEXT_LIMIT) {
      pre.after(h("p", { class: "note" }, `The first 64 KiB of ${size} bytes; download the object for the rest.`));
    }
  } catch (err) { pre.textContent = `No preview: ${err.message}`; }
}
