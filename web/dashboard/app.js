// Rift dashboard (served by every coordinator; see src/coordinator/dashboard.ts).
// Live data arrives as server-sent events from /api/live (one overview per second); the
// charts keep the last 5 minutes. No build step: plain browser JavaScript + uPlot.
"use strict";

const HISTORY = 300;
const $ = (id) => document.getElementById(id);

function text(v) {
  return v === undefined || v === null ? "–" : String(v);
}
function fmtMs(v) {
  return v === undefined || v === null ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(1);
}
function fmtBytes(v) {
  if (v === undefined || v === null) return "–";
  if (v < 1048576) return `${(v / 1024).toFixed(0)}K`;
  return `${(v / 1048576).toFixed(0)}M`;
}
function fmtAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
function row(cells, cls) {
  const tr = document.createElement("tr");
  if (cls) tr.className = cls;
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = text(c);
    tr.appendChild(td);
  }
  return tr;
}
function fill(tableId, rows) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows);
}

// ---- charts (uPlot) ----
const charts = {};
const series = { ts: [], ccu: [], tick: new Map(), queue: new Map() };

function chartOpts(title, names) {
  const palette = ["#7fd1ff", "#f5c542", "#9be28f", "#ff8a80", "#c792ea", "#ffb86c"];
  return {
    width: 420,
    height: 180,
    axes: [{ stroke: "#8899aa", grid: { stroke: "#2a323c" } }, { stroke: "#8899aa", grid: { stroke: "#2a323c" } }],
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], width: 1.5 }))],
  };
}

function draw(key, el, names, data) {
  const sig = names.join("|");
  if (!charts[key] || charts[key].sig !== sig) {
    if (charts[key]) charts[key].plot.destroy();
    charts[key] = { sig, plot: new uPlot(chartOpts(key, names), data, $(el)) };
  } else {
    charts[key].plot.setData(data);
  }
}

function push(map, name, value, len) {
  if (!map.has(name)) map.set(name, new Array(len).fill(null));
  map.get(name).push(value ?? null);
}

function record(o) {
  const games = o.monitor.filter((m) => m.role === "field" || m.role === "dungeon");
  const len = series.ts.length;
  series.ts.push(Math.floor(o.ts / 1000));
  series.ccu.push(o.monitor.filter((m) => m.role === "gateway").reduce((n, m) => n + m.ccu, 0));
  for (const m of games) {
    push(series.tick, m.node, m.tickP99Ms, len);
    push(series.queue, m.node, m.queueLength, len);
  }
  for (const map of [series.tick, series.queue]) for (const arr of map.values()) while (arr.length < series.ts.length) arr.push(null);
  if (series.ts.length > HISTORY) {
    series.ts.shift();
    series.ccu.shift();
    for (const map of [series.tick, series.queue]) for (const arr of map.values()) arr.shift();
  }
  window.riftSamples = series.ts.length; // for tests: how many refreshes the charts hold
  draw("ccu", "chart-ccu", ["players"], [series.ts, series.ccu]);
  const tickNames = [...series.tick.keys()].sort();
  if (tickNames.length > 0) {
    draw("tick", "chart-tick", tickNames, [series.ts, ...tickNames.map((n) => series.tick.get(n))]);
    draw("queue", "chart-queue", tickNames, [series.ts, ...tickNames.map((n) => series.queue.get(n))]);
  }
}

// ---- tables ----
function render(o) {
  $("leader").textContent = text(o.leader);
  $("self").textContent = text(o.self);
  $("updated").textContent = new Date(o.ts).toLocaleTimeString();
  const mon = new Map(o.monitor.map((m) => [`${m.role}/${m.node}`, m]));
  const gateways = o.monitor.filter((m) => m.role === "gateway");
  $("ccu").textContent = String(gateways.reduce((n, m) => n + m.ccu, 0));
  $("procs").textContent = String(o.members.length);
  $("zones").textContent = String(o.placement ? Object.keys(o.placement.zones).length : 0);
  $("shard-count").textContent = String(o.shards.length);
  const ticks = o.monitor.map((m) => m.tickP99Ms).filter((v) => typeof v === "number");
  $("tick").textContent = ticks.length ? `${fmtMs(Math.max(...ticks))} ms` : "–";

  const roleRank = { coordinator: 0, gateway: 1, field: 2, dungeon: 3, chat: 4 };
  const members = [...o.members].sort((a, b) => (roleRank[a.role] ?? 9) - (roleRank[b.role] ?? 9) || a.id.localeCompare(b.id));
  fill(
    "members",
    members.map((m) => {
      const s = mon.get(`${m.role}/${m.id}`);
      return row(
        [m.role, m.id, `${m.host}:${m.clientPort ?? m.opsPort}`, m.load, fmtMs(s?.tickP99Ms), s?.queueLength, fmtBytes(s?.rssBytes), `${m.version} ${m.colour}`, fmtAge(o.ts - m.startedAt)],
        m.id === o.leader ? "leader" : "",
      );
    }),
  );
  const zones = o.placement ? Object.entries(o.placement.zones).sort(([a], [b]) => a.localeCompare(b)) : [];
  fill("placement", zones.map(([z, p]) => row([z, p.server, fmtAge(o.ts - p.since)])));
  $("placement-meta").textContent = o.placement ? `generation ${o.placement.generation}, written by ${o.placement.leader}${o.placement.draining.length ? `, draining: ${o.placement.draining.join(", ")}` : ""}` : "no placement yet";
  fill("shards", o.shards.map((s) => row([s.name, s.state, s.weight, s.users, s.primary ?? "(no primary)"])));
  const flagRows = [
    ...Object.entries(o.switches).map(([n, on]) => row([`switch ${n}`, on ? "on" : "off"])),
    ...Object.entries(o.flags).map(([n, rules]) => row([`flag ${n}`, Object.entries(rules).map(([scope, v]) => `${scope}: ${v}`).join(", ")])),
  ];
  fill("flags", flagRows.length ? flagRows : [row(["(none)", ""])]);
  const errs = $("errors");
  errs.replaceChildren(...(o.errors.length ? o.errors : ["none"]).map((e) => Object.assign(document.createElement("li"), { textContent: e })));
}

// ---- live connection ----
function connect() {
  const es = new EventSource("/api/live");
  es.onopen = () => {
    $("status").textContent = "live";
    $("status").className = "status live";
  };
  es.onmessage = (ev) => {
    const o = JSON.parse(ev.data);
    render(o);
    record(o);
  };
  es.onerror = () => {
    $("status").textContent = "reconnecting…";
    $("status").className = "status down";
  };
}

$("user-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const id = $("user-id").value;
  const res = await fetch(`/api/user?id=${encodeURIComponent(id)}`);
  $("user-result").textContent = JSON.stringify(await res.json(), null, 2);
});

connect();
