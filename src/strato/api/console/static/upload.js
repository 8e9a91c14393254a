// Uploads straight from the browser through the Swift API: one PUT for a small file; a
// large one goes as segments PUT in parallel into `<container>_segments`, then an SLO
// manifest. Progress comes from XMLHttpRequest's upload events (fetch has none).

import { ApiError, call, csrfToken, describe, swiftPath, withQuery } from "./api.js";

export const SEGMENT_SIZE = 8 * 1024 * 1024;
export const SLO_THRESHOLD = 16 * 1024 * 1024;
export const PARALLEL = 4;

class Cancelled extends Error {}

function put(url, blob, headers, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(blob.size); resolve(xhr); }
      else reject(new ApiError(xhr.status, describe(xhr.status, xhr.responseText)));
    };
    xhr.onerror = () => reject(new ApiError(0, "The connection failed."));
    xhr.onabort = () => reject(new Cancelled("Cancelled"));
    if (signal.aborted) { reject(new Cancelled("Cancelled")); return; }
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(blob);
  });
}

/** One file on its way into `container` as `name`; `onChange(upload)` on every step. */
export class Upload {
  constructor(file, account, container, name, onChange) {
    Object.assign(this, { file, account, container, name, onChange });
    this.loaded = 0;
    this.state = "queued";  // queued, uploading, done, failed, cancelled
    this.error = "";
    this.controller = new AbortController();
    this.segments = [];
  }

  get total() { return this.file.size; }

  cancel() {
    if (this.state === "done" || this.state === "failed") return;
    this.controller.abort();
  }

  async start() {
    this.state = "uploading";
    this.onChange(this);
    try {
      if (this.file.size > SLO_THRESHOLD) await this.segmented();
      else await this.single();
      this.loaded = this.total;
      this.state = "done";
    } catch (err) {
      this.state = err instanceof Cancelled ? "cancelled" : "failed";
      this.error = err.message;
      if (this.segments.length) this.cleanUp();
    }
    this.onChange(this);
  }

  headers() {
    return { "Content-Type": this.file.type || "application/octet-stream" };
  }

  single() {
    return put(swiftPath(this.account, this.container, this.name), this.file, this.headers(),
      (n) => { this.loaded = n; this.onChange(this); }, this.controller.signal);
  }

  async segmented() {
    const segContainer = `${this.container}_segments`;
    await call("PUT", swiftPath(this.account, segContainer), { what: segContainer });
    const stamp = (Date.now() / 1000).toFixed(6);
    const count = Math.ceil(this.file.size / SEGMENT_SIZE);
    const loaded = new Array(count).fill(0);
    const manifest = new Array(count);
    let next = 0;
    const worker = async () => {
      while (next < count && !this.controller.signal.aborted) {
        const i = next++;
        const blob = this.file.slice(i * SEGMENT_SIZE, Math.min(this.file.size, (i + 1) * SEGMENT_SIZE));
        const segName = `${this.name}/slo/${stamp}/${this.file.size}/${SEGMENT_SIZE}/${String(i).padStart(8, "0")}`;
        const xhr = await put(swiftPath(this.account, segContainer, segName), blob, {},
          (n) => {
            loaded[i] = n;
            this.loaded = loaded.reduce((a, b) => a + b, 0);
            this.onChange(this);
          }, this.controller.signal);
        this.segments.push([segContainer, segName]);
        manifest[i] = { path: `/${segContainer}/${segName}`,
          etag: (xhr.getResponseHeader("Etag") || "").replace(/"/g, ""), size_bytes: blob.size };
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, count) }, worker));
    if (this.controller.signal.aborted) throw new Cancelled("Cancelled");
    const url = withQuery(swiftPath(this.account, this.container, this.name),
      { "multipart-manifest": "put" });
    await put(url, new Blob([JSON.stringify(manifest)]), this.headers(), () => {},
      this.controller.signal);
    this.segments = [];
  }

  /** Segments of a cancelled or failed upload are deleted rather than left behind. */
  cleanUp() {
    const body = this.segments.map(([c, o]) => encodeURIComponent(c) + "/" +
      o.split("/").map(encodeURIComponent).join("/")).join("\n");
    this.segments = [];
    call("POST", withQuery(swiftPath(this.account), { "bulk-delete": "" }),
      { headers: { "Content-Type": "text/plain", Accept: "application/json" }, body })
      .catch(() => {});
  }
}
