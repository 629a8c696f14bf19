// The viewer that scripts/timeline_html.py inlines into its page: reads the trace events from the page and
// draws them on one canvas. Rows: per process (pid) a header (its instant events as markers), then its
// threads' complete slices, its counters as step plots, its async slices packed into lanes.
"use strict";
const meta = JSON.parse(document.getElementById("meta").textContent);
const doc = JSON.parse(document.getElementById("trace").textContent);
const other = doc.otherData || {};

const COLOURS = {
  loading: "#e8a33d", "loading (abandoned)": "#f6d6a3", prefill: "#3b7dd8", decode: "#2ca05a", idle: "#d3d3d3",
  "decode (migrating)": "#9b59b6", "migration recompute": "#c9a3dc", "migration hand-off": "#e74c3c",
  request: "#9fb3c8", "request (timed_out)": "#e58c8c", "request (rejected)": "#c58fe0", queued: "#bdbdbd",
};
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f"];
const COUNTER_COLOUR = "#1f77b4", MARK_COLOUR = "#c0392b";
const colourKey = s => (s.name === "request" && s.args.outcome && s.args.outcome !== "completed"
  ? `request (${s.args.outcome})` : s.name);
function colour(key) {
  if (!(key in COLOURS)) {
    let h = 0;
    for (const c of key) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    COLOURS[key] = PALETTE[h % PALETTE.length];
  }
  return COLOURS[key];
}
const dark = hex => {  // white text on it reads better than black
  const n = parseInt(hex.slice(1), 16);
  return (n >> 16) * 3 + ((n >> 8) & 255) * 6 + (n & 255) < 1200;
};

// ---- Model: groups (one per pid) of rows, built once from the events. ----
const names = {}, sortIndex = {}, threadNames = {}, groups = new Map(), openAsync = new Map();
const group = pid => {
  if (!groups.has(pid)) groups.set(pid, { pid, rows: new Map(), marks: [], async: new Map(), folded: false });
  return groups.get(pid);
};
const row = (g, key, make) => { if (!g.rows.has(key)) g.rows.set(key, make()); return g.rows.get(key); };
for (const e of doc.traceEvents) {
  const g = group(e.pid), t = e.ts / 1e6, args = e.args || {};
  if (e.ph === "M") {
    if (e.name === "process_name") names[e.pid] = args.name;
    else if (e.name === "process_sort_index") sortIndex[e.pid] = args.sort_index;
    else if (e.name === "thread_name") threadNames[`${e.pid}/${e.tid}`] = args.name;
  } else if (e.ph === "X") {
    row(g, `t${e.tid}`, () => ({ kind: "slices", tid: e.tid || 0, items: [] }))
      .items.push({ name: e.name, t, d: e.dur / 1e6, depth: 0, args });
  } else if (e.ph === "C") {
    for (const [unit, v] of Object.entries(args)) {
      row(g, `c${e.name}/${unit}`, () => ({ kind: "counter", name: e.name, unit, items: [] })).items.push({ t, v });
    }
  } else if (e.ph === "i" || e.ph === "I") {
    g.marks.push({ name: e.name, t, d: 0, depth: 0, args });
  } else {  // async begin/end: nesting depth from the begins still open on the same id
    const key = `${e.cat || ""}/${e.id}`, stack = openAsync.get(`${e.pid}/${key}`) || [];
    openAsync.set(`${e.pid}/${key}`, stack);
    if (e.ph === "b") {
      stack.push({ name: e.name, t, args, depth: stack.length });
    } else {
      const j = stack.map(b => b.name).lastIndexOf(e.name);
      if (j < 0) continue;
      const b = stack.splice(j, 1)[0];
      if (!g.async.has(key)) g.async.set(key, []);
      g.async.get(key).push({ name: b.name, t: b.t, d: t - b.t, depth: b.depth, args: { ...b.args, ...args } });
    }
  }
}

// Counters are scaled to the largest value of their class (the name without server and link numbers), so
// that the rows of one kind of link compare.
const counterClass = r => `${r.name.replace(/^server\d+\./, "").replace(/\d+$/, "")}/${r.unit}`;
const classMax = {};
// Sorts a list of slices by start and records the latest end so far at each index (reach), so that the
// first slice still running at a time is found by bisection even where slices nest or overlap.
function index(list) {
  list.sort((a, b) => a.t - b.t);
  list.reach = new Float64Array(list.length);
  list.forEach((s, i) => { list.reach[i] = Math.max(i ? list.reach[i - 1] : -Infinity, s.t + s.d); });
}
const firstEnding = (list, t) => {  // index of the first slice that ends at or after t
  let lo = 0, hi = list.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (list.reach[m] >= t) hi = m; else lo = m + 1; }
  return lo;
};
const ordered = [...groups.values()]
  .sort((a, b) => (sortIndex[a.pid] ?? a.pid) - (sortIndex[b.pid] ?? b.pid) || a.pid - b.pid);
for (const g of ordered) {
  g.name = names[g.pid] ?? `process ${g.pid}`;
  const rows = [...g.rows.values()];
  for (const r of rows) {
    r.items.sort((a, b) => a.t - b.t);
    if (r.kind === "slices") r.label = threadNames[`${g.pid}/${r.tid}`] ?? `thread ${r.tid}`;
    if (r.kind === "counter") {
      r.label = r.unit === "bytes_per_s" ? r.name : `${r.name} ${r.unit}`;
      r.cls = counterClass(r);
      for (const p of r.items) classMax[r.cls] = Math.max(classMax[r.cls] || 0, p.v);
    }
  }
  const byName = (a, b) => a.name.localeCompare(b.name, "en", { numeric: true });
  rows.sort((a, b) => (a.kind !== b.kind ? (a.kind === "slices" ? -1 : 1)
    : a.kind === "slices" ? a.tid - b.tid : byName(a, b)));
  // Async tracks (one per id) packed greedily into lanes: a lane takes the next track that starts after it ends.
  const tracks = [...g.async.values()].map(items => ({
    items,
    t0: items.reduce((m, s) => Math.min(m, s.t), Infinity),
    t1: items.reduce((m, s) => Math.max(m, s.t + s.d), 0),
    depth: 1 + items.reduce((m, s) => Math.max(m, s.depth), 0),
  })).sort((a, b) => a.t0 - b.t0);
  const lanes = [];
  for (const tr of tracks) {
    let lane = lanes.find(l => l.end < tr.t0);
    if (!lane) lanes.push(lane = { kind: "async", label: "", items: [], depth: 1, end: 0 });
    lane.end = tr.t1;
    lane.items.push(...tr.items);
    lane.depth = Math.max(lane.depth, tr.depth);
  }
  if (lanes.length) lanes[0].label = `${tracks.length} sampled, ${lanes.length} lanes`;
  g.list = rows.concat(lanes);
  for (const r of g.list) if (r.kind !== "counter") index(r.items);
  index(g.marks);
}

// ---- Formatting ----
const esc = v => String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;");
const SI = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
const si = v => {  // three digits and a decimal prefix, e.g. "1.25 G"
  const [f, p] = SI.find(([f]) => Math.abs(v) >= f) ?? [1, ""];
  return `${+(v / f).toPrecision(3)} ${p}`;
};
const fmtValue = (v, unit) => (unit === "bytes_per_s" ? `${si(v)}B/s` : unit === "bytes" ? `${si(v)}B`
  : `${si(v)}${unit}`.trim());
const fmtTime = s => `${s.toFixed(6).replace(/\.?0+$/, "")} s`;
const fmtDur = s => (s >= 1 ? `${s.toFixed(3)} s` : s >= 1e-3 ? `${(s * 1e3).toFixed(3)} ms`
  : `${(s * 1e6).toFixed(3)} µs`);

// ---- Layout and view ----
const canvas = document.getElementById("canvas"), ctx = canvas.getContext("2d"), tip = document.getElementById("tip");
const LABEL_W = 250, AXIS_H = 30, PAD_R = 14, HEADER_H = 20, SLICE_H = 17, DEPTH_H = 15, COUNTER_H = 18;
// The time range: the window the trace says it covers (sllmsim's otherData), else what its events span.
const extent = [other.window_start_s ?? Infinity, other.window_end_s ?? -Infinity];
if (!isFinite(extent[0]) || !isFinite(extent[1])) {
  for (const list of ordered.flatMap(g => [...g.list.map(r => r.items), g.marks])) {
    for (const s of list) { extent[0] = Math.min(extent[0], s.t); extent[1] = Math.max(extent[1], s.t + (s.d || 0)); }
  }
}
if (!isFinite(extent[0])) [extent[0], extent[1]] = [0, 1];
if (!(extent[1] > extent[0])) extent[1] = extent[0] + 1;
const home = meta.view ? [meta.view[0], meta.view[1] ?? extent[1]] : extent;
let [v0, v1] = home, scrollY = 0, W = 0, H = 0, layout = [], contentH = 0;
function relayout() {
  layout = [];
  let y = 0;
  const add = (entry, h) => { layout.push({ ...entry, y, h }); y += h; };
  for (const g of ordered) {
    add({ group: g }, HEADER_H);
    if (g.folded) continue;
    for (const r of g.list) {
      add({ row: r, g }, r.kind === "slices" ? SLICE_H : r.kind === "counter" ? COUNTER_H : r.depth * DEPTH_H + 3);
    }
  }
  contentH = y;
  scrollTo(scrollY);
}
const scrollTo = s => { scrollY = Math.max(0, Math.min(s, contentH - (H - AXIS_H))); };
const plotW = () => W - LABEL_W - PAD_R;
const X = t => LABEL_W + (t - v0) / (v1 - v0) * plotW();
const T = x => v0 + (x - LABEL_W) / plotW() * (v1 - v0);
const lastAtOrBefore = (list, t) => {  // index of the last item starting at or before t (0 if none)
  let lo = 0, hi = list.length - 1;
  while (lo < hi) { const m = (lo + hi + 1) >> 1; if (list[m].t <= t) lo = m; else hi = m - 1; }
  return lo;
};

// ---- Drawing ----
function ticks() {
  const raw = (v1 - v0) / Math.max(1, plotW() / 110), p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map(m => m * p).find(s => s >= raw * 0.999);
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9)), out = [];
  for (let i = Math.ceil(v0 / step); i * step <= v1; ++i) out.push([i * step, `${(i * step).toFixed(digits)} s`]);
  return out;
}
function text(s, x, y, maxW) {
  if (maxW !== undefined && ctx.measureText(s).width > maxW) {
    while (s.length > 1 && ctx.measureText(`${s}…`).width > maxW) s = s.slice(0, -1);
    s += "…";
  }
  ctx.fillText(s, x, y);
}
function drawSlices(list, y, h, depthH) {
  ctx.font = "11px system-ui, sans-serif";
  const lastPx = [];  // per depth: the pixel column last filled, to skip slices narrower than a pixel there
  for (let i = firstEnding(list, v0); i < list.length; ++i) {
    const s = list[i], x0 = X(s.t), x1 = X(s.t + s.d);
    if (x0 > W) break;
    if (x1 < LABEL_W || (x1 - x0 < 1 && Math.floor(x0) === lastPx[s.depth])) continue;
    lastPx[s.depth] = Math.floor(x0);
    const c = colour(colourKey(s)), top = y + 1 + s.depth * depthH, w = Math.max(1, x1 - x0);
    ctx.fillStyle = c;
    ctx.fillRect(x0, top, w, h - 2);
    if (s.depth === 0 && depthH && w > 3) {  // an outline tells adjacent requests of one lane apart
      ctx.strokeStyle = "#fff";
      ctx.strokeRect(x0 + 0.5, top + 0.5, w - 1, h - 3);
    }
    const room = Math.min(x1, W - PAD_R) - Math.max(x0, LABEL_W) - 6;  // the name where it fits whole
    const label = [s.name + (s.depth === 0 && depthH && s.args.model ? ` · ${s.args.model}` : ""), s.name]
      .find(l => room > 20 && ctx.measureText(l).width <= room);
    if (label) {
      ctx.fillStyle = dark(c) ? "#fff" : "#111";
      ctx.fillText(label, Math.max(x0, LABEL_W) + 3, top + h / 2);
    }
  }
}
function drawCounter(r, y, h) {
  const max = classMax[r.cls] || 1, base = y + h - 2, end = Math.min(v1, extent[1]);
  const yv = v => base - (v / max) * (h - 5);
  ctx.beginPath();
  ctx.moveTo(X(Math.max(r.items[0].t, v0)), base);
  let i = lastAtOrBefore(r.items, v0), last = r.items[i].t <= v0 ? r.items[i].v : 0;
  for (; i < r.items.length && r.items[i].t <= end; ++i) {
    const x = X(Math.max(r.items[i].t, v0));
    ctx.lineTo(x, yv(last));
    ctx.lineTo(x, yv(last = r.items[i].v));
  }
  ctx.lineTo(X(end), yv(last));
  ctx.lineTo(X(end), base);
  ctx.fillStyle = `${COUNTER_COLOUR}55`;
  ctx.fill();
  ctx.strokeStyle = COUNTER_COLOUR;
  ctx.stroke();
}
function draw() {
  ctx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  ctx.textBaseline = "middle";
  const tk = ticks();
  ctx.strokeStyle = "#e6e6e6";
  ctx.beginPath();
  for (const [t] of tk) { ctx.moveTo(Math.round(X(t)) + 0.5, AXIS_H); ctx.lineTo(Math.round(X(t)) + 0.5, H); }
  ctx.stroke();
  for (const L of layout) {
    const y = L.y - scrollY + AXIS_H;
    if (y + L.h < AXIS_H || y > H) continue;
    ctx.save();
    ctx.beginPath();
    ctx.rect(LABEL_W, Math.max(y, AXIS_H), plotW(), L.h);
    ctx.clip();
    if (L.group) {
      ctx.fillStyle = "#eef1f5";
      ctx.fillRect(0, y, W, L.h);
      ctx.fillStyle = MARK_COLOUR;
      for (let i = firstEnding(L.group.marks, v0); i < L.group.marks.length && L.group.marks[i].t <= v1; ++i) {
        const x = X(L.group.marks[i].t);
        ctx.beginPath(); ctx.moveTo(x - 4, y + 4); ctx.lineTo(x + 4, y + 4); ctx.lineTo(x, y + L.h - 3); ctx.fill();
      }
    } else if (L.row.kind === "counter") {
      drawCounter(L.row, y, L.h);
    } else {
      drawSlices(L.row.items, y, L.row.kind === "async" ? DEPTH_H : L.h, L.row.kind === "async" ? DEPTH_H : 0);
    }
    ctx.restore();
    // The label column.
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, AXIS_H, LABEL_W, H - AXIS_H);
    ctx.clip();
    ctx.fillStyle = L.group ? "#dfe4ea" : "#f7f7f7";
    ctx.fillRect(0, y, LABEL_W, L.h);
    ctx.fillStyle = "#222";
    if (L.group) {
      ctx.font = "bold 12px system-ui, sans-serif";
      text(`${L.group.folded ? "▸" : "▾"} ${L.group.name}`, 6, y + L.h / 2, LABEL_W - 10);
    } else {
      let room = LABEL_W - 24;
      if (L.row.kind === "counter") {  // the scale at the right, the name in what is left
        const scale = `max ${fmtValue(classMax[L.row.cls], L.row.unit)}`;
        ctx.font = "11px system-ui, sans-serif";
        ctx.fillStyle = "#777";
        ctx.textAlign = "right";
        ctx.fillText(scale, LABEL_W - 6, y + L.h / 2);
        ctx.textAlign = "left";
        ctx.fillStyle = "#222";
        room -= ctx.measureText(scale).width + 6;
      }
      ctx.font = "12px system-ui, sans-serif";
      text(L.row.label, 18, y + Math.min(L.h, 20) / 2 + 1, room);
    }
    ctx.strokeStyle = "#e3e3e3";
    ctx.beginPath(); ctx.moveTo(0, y + L.h - 0.5); ctx.lineTo(LABEL_W, y + L.h - 0.5); ctx.stroke();
    ctx.restore();
  }
  ctx.strokeStyle = "#bbb";
  ctx.beginPath(); ctx.moveTo(LABEL_W - 0.5, AXIS_H); ctx.lineTo(LABEL_W - 0.5, H); ctx.stroke();
  // The time axis, over the rows.
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, AXIS_H);
  ctx.fillStyle = "#222";
  ctx.font = "bold 12px system-ui, sans-serif";
  ctx.fillText("simulated time", 6, AXIS_H / 2);
  ctx.font = "12px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.strokeStyle = "#444";
  ctx.beginPath();
  ctx.moveTo(LABEL_W, AXIS_H - 0.5); ctx.lineTo(W - PAD_R, AXIS_H - 0.5);
  for (const [t, label] of tk) {
    const x = Math.round(X(t)) + 0.5;
    ctx.moveTo(x, AXIS_H - 7); ctx.lineTo(x, AXIS_H);
    ctx.fillText(label, Math.min(Math.max(x, LABEL_W + 20), W - PAD_R - 20), AXIS_H / 2 - 2);
  }
  ctx.stroke();
  ctx.textAlign = "left";
}

// ---- Hover: what lies under the pointer ----
function hit(x, y) {
  const L = layout.find(l => y >= l.y - scrollY + AXIS_H && y < l.y - scrollY + AXIS_H + l.h);
  if (!L || x < LABEL_W || y < AXIS_H) return null;
  const t = T(x), top = L.y - scrollY + AXIS_H, slack = 3 * (v1 - v0) / plotW();
  const near = (list, depth) => {  // the slice at depth under t (or within 3 pixels), the closest by centre
    let best = null;
    for (let i = firstEnding(list, t - slack); i < list.length && list[i].t <= t + slack; ++i) {
      const s = list[i];
      if (s.depth === depth && t <= s.t + s.d + slack &&
          (!best || Math.abs(t - s.t - s.d / 2) < Math.abs(t - best.t - best.d / 2))) best = s;
    }
    return best;
  };
  if (L.group) { const m = near(L.group.marks, 0); return m && { ...m, instant: true, where: L.group.name }; }
  const r = L.row;
  if (r.kind === "counter") {
    const i = lastAtOrBefore(r.items, t), p = r.items[i];
    if (p.t > t) return null;
    const next = r.items[i + 1];
    return { name: r.name, t: p.t, d: (next ? next.t : extent[1]) - p.t, args: { [r.unit]: p.v }, where: L.g.name };
  }
  const s = near(r.items, r.kind === "async" ? Math.floor((y - top - 1) / DEPTH_H) : 0);
  return s && { ...s, where: L.g.name + (r.kind === "slices" ? ` · ${r.label}` : "") };
}
function showTip(ev, x, y) {
  const s = hit(x, y);
  if (!s) { tip.style.display = "none"; return; }
  const rows = [[s.instant ? "time" : "start", fmtTime(s.t)], ...(s.instant ? [] : [["duration", fmtDur(s.d)]])];
  for (const [k, v] of Object.entries(s.args || {})) {
    rows.push([k, typeof v === "number" && (k === "bytes" || k === "bytes_per_s") ? `${fmtValue(v, k)} (${v})` : v]);
  }
  tip.innerHTML = `<b>${esc(s.name)}</b> <span style="color:#777">${esc(s.where || "")}</span><table>${
    rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("")}</table>`;
  tip.style.display = "block";
  tip.style.left = `${Math.min(ev.clientX + 14, innerWidth - tip.offsetWidth - 4)}px`;
  tip.style.top = `${Math.min(ev.clientY + 14, innerHeight - tip.offsetHeight - 4)}px`;
}

// ---- Interaction: wheel zooms about the pointer, drag pans (both ways), shift+wheel scrolls rows ----
let drag = null;
const local = ev => { const b = canvas.getBoundingClientRect(); return [ev.clientX - b.left, ev.clientY - b.top]; };
canvas.addEventListener("wheel", ev => {
  ev.preventDefault();
  const [x] = local(ev);
  if (ev.shiftKey) {
    scrollTo(scrollY + (ev.deltaY || ev.deltaX));
  } else {
    const at = T(Math.max(x, LABEL_W)), span = extent[1] - extent[0];
    const f = Math.min(Math.max(Math.exp(ev.deltaY * 0.0015), 1e-6 / (v1 - v0)), 2 * span / (v1 - v0));
    const pan = ev.deltaX / plotW() * (v1 - v0);
    [v0, v1] = [at - (at - v0) * f + pan, at + (v1 - at) * f + pan];
  }
  draw();
}, { passive: false });
canvas.addEventListener("mousedown", ev => {
  const [x, y] = local(ev);
  drag = { x, y, v0, v1, s: scrollY, moved: false };
});
addEventListener("mousemove", ev => {
  const [x, y] = local(ev);
  if (!drag) { showTip(ev, x, y); return; }
  if (Math.abs(x - drag.x) + Math.abs(y - drag.y) > 3) drag.moved = true;
  const dt = (x - drag.x) / plotW() * (drag.v1 - drag.v0);
  [v0, v1] = [drag.v0 - dt, drag.v1 - dt];
  scrollTo(drag.s - (y - drag.y));
  tip.style.display = "none";
  draw();
});
addEventListener("mouseup", () => {
  if (drag && !drag.moved) {  // a click on a group's header folds or unfolds it
    const L = layout.find(l => drag.y >= l.y - scrollY + AXIS_H && drag.y < l.y - scrollY + AXIS_H + l.h);
    if (L && L.group && drag.y >= AXIS_H) { L.group.folded = !L.group.folded; relayout(); draw(); }
  }
  drag = null;
});
canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
canvas.addEventListener("dblclick", () => { [v0, v1] = home; draw(); });
function resize() {
  const box = canvas.parentElement.getBoundingClientRect();
  [W, H] = [box.width, box.height];
  canvas.width = Math.round(W * devicePixelRatio);
  canvas.height = Math.round(H * devicePixelRatio);
  canvas.style.width = `${W}px`;
  canvas.style.height = `${H}px`;
  relayout();
  draw();
}
addEventListener("resize", resize);

// ---- Header: title, bounds, legend ----
const used = new Set(ordered.flatMap(g => g.list.filter(r => r.kind !== "counter")
  .flatMap(r => r.items.map(colourKey))));
const marks = new Set(ordered.flatMap(g => g.marks.map(m => m.name)));
const facts = [
  `window ${fmtTime(extent[0])} – ${fmtTime(extent[1])}`,
  ...(meta.view ? [`page cut to ${fmtTime(home[0])} – ${fmtTime(home[1])}`] : []),
  `${doc.traceEvents.filter(e => e.ph !== "M").length.toLocaleString("en")} events` +
    (other.events_dropped ? ` (${other.events_dropped.toLocaleString("en")} dropped by the bound)` : ""),
  ...(other.request_sample === undefined ? []
    : [`requests sampled: ${+(other.request_sample * 100).toPrecision(3)} %`]),
  "wheel: zoom · drag: pan · shift+wheel: scroll · click a group: fold · double-click: whole window",
];
document.getElementById("title").innerHTML = `${esc(meta.file)} <span>· ${facts.join(" · ")}</span>`;
const swatch = (style, label) => `<span><i style="${style}"></i>${esc(label)}</span>`;
document.getElementById("legend").innerHTML = [
  ...Object.keys(COLOURS).filter(k => used.has(k)).map(k => swatch(`background:${colour(k)}`, k)),
  ...[...marks].map(n => `<span><b style="color:${MARK_COLOUR}">▼</b> ${
    n === "place" ? "placement decision" : esc(n)}</span>`),
  ...(Object.keys(classMax).length === 0 ? [] : [
    swatch(`background:${COUNTER_COLOUR}55;border-top:2px solid ${COUNTER_COLOUR};height:10px`,
      "link rate (the rows of one link class share a scale: its max is right of the name)")]),
].join("");
resize();
