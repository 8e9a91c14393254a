// The Usage page (#/usage, #/usage/<container>): the account's and a container's bytes and
// object count now, and a small chart of each over time from the samples the server keeps
// (GET /console/usage, which asks Swift first whether the user may see them). The charts are
// SVG built with DOM calls; their figures are also in a visually hidden table.

import { call, swift, withQuery } from "./api.js";
import { bytes, h, showError, when } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 480;
const HEIGHT = 150;
const PAD = { left: 8, right: 8, top: 22, bottom: 22 };
const TABLE_ROWS = 48;
const RANGES = [[1, "last day"], [7, "last 7 days"], [30, "last 30 days"]];
let serial = 0;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

const exactBytes = (n) => (n >= 1024 ? `${n} bytes (${bytes(n)})` : `${n} bytes`);
const stamp = (seconds) => when(new Date(seconds * 1000).toISOString());

/** The series as [time, value] steps over [start, end]: the value before `start` holds
 * from `start`, and the figures now close it at `end`. */
function steps(samples, now, key, start) {
  const points = samples.map((s) => [Math.max(s.time, start), s[key]]);
  points.push([now.time, now[key]]);
  return points;
}

function chart(label, points, format) {
  const id = `usage-chart-${++serial}`;
  const t0 = points[0][0];
  const t1 = Math.max(points[points.length - 1][0], t0 + 1);
  const values = points.map((p) => p[1]);
  const top = Math.max(...values, 1);
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  let d = `M${x(points[0][0]).toFixed(1)},${y(points[0][1]).toFixed(1)}`;
  for (const [t, v] of points.slice(1)) d += `H${x(t).toFixed(1)}V${y(v).toFixed(1)}`;
  const lo = Math.min(...values);
  const summary = `${label}: ${format(values[0])} at ${stamp(t0)}, ${format(values[values.length - 1])} now; ` +
    `lowest ${format(lo)}, highest ${format(Math.max(...values))}.`;
  return h("figure", { class: "usage-chart" },
    svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": `${id}-t`,
      "aria-describedby": `${id}-d`, "data-points": points.length },
    svg("title", { id: `${id}-t` }, label),
    svg("desc", { id: `${id}-d` }, summary),
    svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), class: "axis" }),
    svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(top), y2: y(top), class: "grid" }),
    svg("text", { x: PAD.left, y: PAD.top - 6, class: "tick" }, format(top)),
    svg("text", { x: PAD.left, y: HEIGHT - 6, class: "tick" }, stamp(t0)),
    svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 6, class: "tick end" }, "now"),
    svg("path", { d, class: "line" })),
    h("figcaption", {}, label));
}

/** At most TABLE_ROWS rows, picked evenly, always with the first and the last. */
function pick(rows) {
  if (rows.length <= TABLE_ROWS) return rows;
  const step = (rows.length - 1) / (TABLE_ROWS - 1);
  return Array.from({ length: TABLE_ROWS }, (_, i) => rows[Math.round(i * step)]);
}

function figuresTable(caption, samples, now) {
  const rows = pick([...samples, { ...now, now: true }]);
  return h("table", { class: "sr-only" }, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"),
      h("th", { scope: "col" }, "Objects"), h("th", { scope: "col" }, "Bytes"))),
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("th", { scope: "row" }, r.now ? "now" : stamp(r.time)),
      h("td", {}, String(r.objects)), h("td", {}, String(r.bytes))))));
}

async function usageBlock(what, query, days) {
  const box = h("section", { class: "card usage", "aria-label": `Usage of ${what}` });
  box.append(h("h3", {}, `Usage of ${what}`));
  let data;
  try {
    data = await (await call("GET", withQuery("/console/usage", { ...query, days }),
      { what })).json();
  } catch (err) {
    showError(err.message);
    box.append(h("p", {}, "Not available."));
    return box;
  }
  const now = data.now;
  const figures = h("dl", { class: "figures" },
    h("dt", {}, "Objects"), h("dd", { "data-figure": "objects" }, String(now.objects)),
    h("dt", {}, "Bytes used"), h("dd", { "data-figure": "bytes" }, exactBytes(now.bytes)));
  if (now.containers !== undefined) {
    figures.append(h("dt", {}, "Containers"),
      h("dd", { "data-figure": "containers" }, String(now.containers)));
  }
  box.append(figures);
  const range = RANGES.find(([n]) => n === days)[1];
  if (!data.interval) {
    box.append(h("p", { class: "summary" }, "Usage sampling is off on this server, so there is no history."));
  } else if (!data.samples.length) {
    box.append(h("p", { class: "summary" },
      `No samples yet: the server samples every ${data.interval} s.`));
  } else {
    const start = now.time - days * 86400;
    box.append(h("div", { class: "charts" },
      chart(`Bytes used, ${range}`, steps(data.samples, now, "bytes", start), exactBytes),
      chart(`Objects, ${range}`, steps(data.samples, now, "objects", start), String)),
    figuresTable(`Samples of ${what}, ${range}`, data.samples, now),
    h("p", { class: "summary" }, `Sampled every ${data.interval} s when it changed; ` +
      `${data.samples.length} samples in this range.`));
  }
  return box;
}

export async function showUsage(view, session, container, days = 7) {
  const account = session.account;
  const select = h("select", { name: "days" },
    RANGES.map(([n, label]) => h("option", { value: String(n), selected: n === days }, label)));
  const refresh = h("button", { type: "button" }, "Refresh");
  const reload = () => showUsage(view, session, container, Number(select.value));
  select.addEventListener("change", reload);
  refresh.addEventListener("click", reload);
  const rows = h("tbody");
  view.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" },
      h("a", { href: "#/" }, "Containers"), h("span", {}, "Usage")),
    h("h2", {}, "Usage"),
    h("div", { class: "toolbar" }, h("label", {}, "Range ", select), refresh));
  const blocks = [usageBlock(`account ${account}`, { account }, days)];
  if (container) blocks.push(usageBlock(`container ${container}`, { account, container }, days));
  for (const block of await Promise.all(blocks)) view.append(block);
  view.append(h("h3", {}, "Containers"), h("table", { class: "list" },
    h("caption", { class: "sr-only" }, "Usage per container"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"),
      h("th", { scope: "col", class: "num" }, "Objects"),
      h("th", { scope: "col", class: "num" }, "Bytes"))), rows));
  try {
    const list = await (await swift("GET", account, undefined, undefined,
      { query: { format: "json", limit: 100 }, what: `account ${account}` })).json();
    for (const c of list) {
      rows.append(h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `#/usage/${encodeURIComponent(c.name)}`,
          "aria-label": `Usage of container ${c.name}` }, c.name)),
        h("td", { class: "num", "data-label": "Objects" }, String(c.count)),
        h("td", { class: "num", "data-label": "Bytes" }, exactBytes(c.bytes))));
    }
    if (!list.length) rows.append(h("tr", {}, h("td", { colspan: 3 }, "No containers yet.")));
  } catch (err) { showError(err.message); }
}
