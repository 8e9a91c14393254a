// A container's settings: public read and listing (`.r:*`, `.rlistings`), versioning,
// quotas, CORS origins, static-web index and listings, and free-form metadata
// (X-Container-Meta-*), read from and written to the container's own headers.

import { swift } from "./api.js";
import { h, showError, showStatus } from "./dom.js";

const META = "x-container-meta-";
const QUOTA_BYTES = "quota-bytes";
const QUOTA_COUNT = "quota-count";
const CORS = "access-control-allow-origin";
const WEB_INDEX = "web-index";
const WEB_LISTINGS = "web-listings";
/** Items with a field of their own, and keys that are secrets (never shown here). */
const OWN = new Set([QUOTA_BYTES, QUOTA_COUNT, CORS, WEB_INDEX, WEB_LISTINGS]);
const SECRET = new Set(["temp-url-key", "temp-url-key-2"]);
const TRUE = new Set(["true", "1", "yes", "on", "t", "y"]);

function metaRow(key = "", value = "") {
  const remove = h("button", { type: "button", "aria-label": `Remove metadata item ${key}`.trim() }, "Remove");
  const line = h("div", { class: "meta-row" },
    h("label", {}, "Key ", h("input", { name: "container-meta-key", value: key })),
    h("label", {}, "Value ", h("input", { name: "container-meta-value", value })), remove);
  remove.addEventListener("click", () => line.remove());
  return line;
}

export async function showSettings(section, account, container) {
  section.hidden = false;
  let headers;
  try {
    headers = (await swift("HEAD", account, container, undefined, { what: `container ${container}` })).headers;
  } catch (err) { showError(err.message); return; }
  const meta = new Map();
  for (const [k, v] of headers) if (k.startsWith(META)) meta.set(k.slice(META.length), v);
  const read = (headers.get("X-Container-Read") || "").split(",").map((s) => s.trim()).filter(Boolean);
  const isPublic = read.includes(".r:*");
  const listing = read.includes(".rlistings");
  const freeForm = [...meta].filter(([k]) => !OWN.has(k) && !SECRET.has(k));
  const metaRows = h("div", { class: "meta-rows" }, freeForm.map(([k, v]) => metaRow(k, v)));
  const addMeta = h("button", { type: "button" }, "Add container metadata");
  addMeta.addEventListener("click", () => {
    metaRows.append(metaRow());
    metaRows.lastChild.querySelector("input").focus();
  });
  const form = h("form", { class: "settings", "aria-label": "Container settings" },
    h("fieldset", {}, h("legend", {}, "Access"),
      h("label", {}, h("input", { type: "checkbox", name: "public", checked: isPublic }),
        " Anyone may read objects (.r:*)"),
      h("label", {}, h("input", { type: "checkbox", name: "listing", checked: listing }),
        " Anyone may list objects (.rlistings)"),
      h("label", {}, "Allowed CORS origins ", h("input", { name: "cors", value: meta.get(CORS) || "",
        placeholder: "https://app.example.com https://other.example (or *)",
        "aria-describedby": "cors-help" })),
      h("p", { id: "cors-help", class: "note" },
        "Web pages on these origins may use the container from the browser; separate them with spaces.")),
    h("fieldset", {}, h("legend", {}, "Versions and quotas"),
      h("label", {}, h("input", { type: "checkbox", name: "versions",
        checked: (headers.get("X-Versions-Enabled") || "").toLowerCase() === "true" }), " Keep object versions"),
      h("label", {}, "Quota, bytes ", h("input", { name: "quota-bytes", inputmode: "numeric",
        value: meta.get(QUOTA_BYTES) || "", placeholder: "none" })),
      h("label", {}, "Quota, objects ", h("input", { name: "quota-count", inputmode: "numeric",
        value: meta.get(QUOTA_COUNT) || "", placeholder: "none" }))),
    h("fieldset", {}, h("legend", {}, "Static website"),
      h("label", {}, "Index page ", h("input", { name: "web-index", value: meta.get(WEB_INDEX) || "",
        placeholder: "none, e.g. index.html", "aria-describedby": "web-help" })),
      h("label", {}, h("input", { type: "checkbox", name: "web-listings",
        checked: TRUE.has((meta.get(WEB_LISTINGS) || "").toLowerCase()) }),
        " List folders that have no index page"),
      h("p", { id: "web-help", class: "note" },
        "Visitors without a token see the website; they also need “Anyone may read objects”, and listings “Anyone may list objects”.")),
    h("fieldset", {}, h("legend", {}, "Metadata"), metaRows, addMeta),
    h("button", { type: "submit" }, "Save settings"));
  const close = h("button", { type: "button", "aria-label": "Close settings" }, "Close");
  close.addEventListener("click", () => { section.hidden = true; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showStatus("Saving settings…");  // a second save's "saved" is then news, not the first's
    const f = form.elements;
    const others = read.filter((r) => r !== ".r:*" && r !== ".rlistings");
    if (f.public.checked) others.push(".r:*");
    if (f.listing.checked) others.push(".rlistings");
    const hdrs = { "X-Versions-Enabled": f.versions.checked ? "true" : "false" };
    if (others.length) hdrs["X-Container-Read"] = others.join(",");
    else hdrs["X-Remove-Container-Read"] = "x";
    const set = (key, value) => {
      if (value) hdrs[`X-Container-Meta-${key}`] = value;
      else if (meta.has(key)) hdrs[`X-Remove-Container-Meta-${key}`] = "x";
    };
    set(QUOTA_BYTES, f["quota-bytes"].value.trim());
    set(QUOTA_COUNT, f["quota-count"].value.trim());
    set(CORS, f.cors.value.trim().split(/\s+/).filter(Boolean).join(" "));
    set(WEB_INDEX, f["web-index"].value.trim());
    set(WEB_LISTINGS, f["web-listings"].checked ? "true" : "");
    const kept = new Set();
    for (const line of metaRows.children) {
      const key = line.querySelector("[name=container-meta-key]").value.trim().toLowerCase();
      if (!key) continue;
      if (OWN.has(key) || SECRET.has(key)) {
        showStatus("");
        showError(`“${key}” has its own setting above; use that instead.`);
        return;
      }
      kept.add(key);
      hdrs[`X-Container-Meta-${key}`] = line.querySelector("[name=container-meta-value]").value;
    }
    for (const [key] of freeForm) if (!kept.has(key)) hdrs[`X-Remove-Container-Meta-${key}`] = "x";
    try {
      await swift("POST", account, container, undefined, { headers: hdrs, what: `container ${container}` });
      showStatus(`Settings of ${container} saved.`);
      showSettings(section, account, container);
    } catch (err) { showStatus(""); showError(err.message); }
  });
  section.replaceChildren(h("div", { class: "detail-head" }, h("h3", {}, `Settings of ${container}`), close), form);
}
