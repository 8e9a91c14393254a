// A container's settings: public read and listing (`.r:*`, `.rlistings`), versioning and
// quotas, read from and written to the container's own headers.

import { swift } from "./api.js";
import { h, showError, showStatus } from "./dom.js";

export async function showSettings(section, account, container) {
  section.hidden = false;
  let headers;
  try {
    headers = (await swift("HEAD", account, container, undefined, { what: `container ${container}` })).headers;
  } catch (err) { showError(err.message); return; }
  const read = (headers.get("X-Container-Read") || "").split(",").map((s) => s.trim()).filter(Boolean);
  const isPublic = read.includes(".r:*");
  const listing = read.includes(".rlistings");
  const form = h("form", { class: "settings", "aria-label": "Container settings" },
    h("label", {}, h("input", { type: "checkbox", name: "public", checked: isPublic }),
      " Anyone may read objects (.r:*)"),
    h("label", {}, h("input", { type: "checkbox", name: "listing", checked: listing }),
      " Anyone may list objects (.rlistings)"),
    h("label", {}, h("input", { type: "checkbox", name: "versions",
      checked: (headers.get("X-Versions-Enabled") || "").toLowerCase() === "true" }), " Keep object versions"),
    h("label", {}, "Quota, bytes ", h("input", { name: "quota-bytes", inputmode: "numeric",
      value: headers.get("X-Container-Meta-Quota-Bytes") || "", placeholder: "none" })),
    h("label", {}, "Quota, objects ", h("input", { name: "quota-count", inputmode: "numeric",
      value: headers.get("X-Container-Meta-Quota-Count") || "", placeholder: "none" })),
    h("button", { type: "submit" }, "Save settings"));
  const close = h("button", { type: "button", "aria-label": "Close settings" }, "Close");
  close.addEventListener("click", () => { section.hidden = true; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const others = read.filter((r) => r !== ".r:*" && r !== ".rlistings");
    if (f.public.checked) others.push(".r:*");
    if (f.listing.checked) others.push(".rlistings");
    const hdrs = {
      "X-Versions-Enabled": f.versions.checked ? "true" : "false",
      "X-Container-Meta-Quota-Bytes": f["quota-bytes"].value.trim(),
      "X-Container-Meta-Quota-Count": f["quota-count"].value.trim(),
    };
    if (others.length) hdrs["X-Container-Read"] = others.join(",");
    else hdrs["X-Remove-Container-Read"] = "x";
    for (const k of ["X-Container-Meta-Quota-Bytes", "X-Container-Meta-Quota-Count"]) {
      if (!hdrs[k]) { delete hdrs[k]; hdrs[k.replace("X-Container-Meta", "X-Remove-Container-Meta")] = "x"; }
    }
    try {
      await swift("POST", account, container, undefined, { headers: hdrs, what: `container ${container}` });
      showStatus(`Settings of ${container} saved.`);
      showSettings(section, account, container);
    } catch (err) { showError(err.message); }
  });
  section.replaceChildren(h("div", { class: "detail-head" }, h("h3", {}, `Settings of ${container}`), close), form);
}
