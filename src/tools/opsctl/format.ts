/**
 * Pure text formatting for opsctl (no IO, no clock: callers pass `now`).
 *
 * - `formatAge(ms)`: compact durations like kubectl: "0s", "3s", "2m10s", "3h4m", "2d5h".
 * - `formatElapsed(ms)`: "0.4s", "12.3s" below a minute, then like `formatAge`.
 * - `table(header, rows)`: columns aligned with two spaces between them, no trailing spaces;
 *   columns listed in `right` are right-aligned (numbers).
 * - `clusterText`, `placementText`, `drainStateText`: the human output of the commands, built
 *   from the plain data the commands read (see state.ts).
 */
import { ROLES } from "../../core/config.js";
import type { MemberInfo } from "../../core/cluster/types.js";
import type { PlacementDoc } from "../../core/cluster/placement-doc.js";

/** Compact age/duration: "3s", "2m10s", "1h0m", "2d3h". Negative values (clock skew) count as 0. */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60}m`;
  const d = Math.floor(h / 24);
  return `${d}d${h % 24}h`;
}

/** Elapsed time of an operation: one decimal below a minute ("12.3s"), else `formatAge`. */
export function formatElapsed(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  const v = Math.max(0, ms);
  if (v < 60_000) return `${(Math.floor(v / 100) / 10).toFixed(1)}s`;
  return formatAge(v);
}

function width(s: string): number {
  return [...s].length;
}

export interface TableOptions {
  /** Indexes of right-aligned columns. */
  right?: number[];
}

/**
 * Aligned text table: a header row, then one row per entry. Missing cells print as empty;
 * each line is trimmed at the end. Returns the lines (no trailing newline).
 */
export function table(header: string[], rows: string[][], opts: TableOptions = {}): string[] {
  const right = new Set(opts.right ?? []);
  const cols = Math.max(header.length, ...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < cols; c++) {
    widths.push(Math.max(width(header[c] ?? ""), ...rows.map((r) => width(r[c] ?? ""))));
  }
  const line = (cells: string[]) =>
    widths
      .map((w, c) => {
        const v = cells[c] ?? "";
        const pad = " ".repeat(w - width(v));
        return right.has(c) ? pad + v : v + pad;
      })
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Sort order of roles in listings (the catalogue order of config.ts). */
export function roleRank(role: string): number {
  const i = (ROLES as readonly string[]).indexOf(role);
  return i < 0 ? ROLES.length : i;
}

export function compareMembers(a: MemberInfo, b: MemberInfo): number {
  return roleRank(a.role) - roleRank(b.role) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Where other processes reach a member: gateways `host:clientPort`, game servers
 * `host:linkPort[,linkPort…]`, anything else just the host (its ops port is a column of its own).
 */
export function memberAddress(m: MemberInfo): string {
  if (m.clientPort !== undefined) return `${m.host}:${m.clientPort}`;
  if (m.linkPorts && m.linkPorts.length > 0) return `${m.host}:${m.linkPorts.join(",")}`;
  return m.host;
}

/** Load as printed: integers as they are, fractions with up to two decimals. */
export function formatLoad(load: number): string {
  return Number.isInteger(load) ? String(load) : String(Math.round(load * 100) / 100);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

// ---------------------------------------------------------------- cluster

export interface ClusterData {
  members: MemberInfo[];
  /** Node id of the coordinator leader (data of the lowest election node), if any. */
  leader: string | undefined;
  /** Member znodes whose data is not a valid MemberInfo (skipped). */
  invalid: string[];
}

/** "5 members: 2 gateway, 2 field, 1 coordinator; leader coord-1" (roles in catalogue order). */
export function clusterSummary(d: ClusterData): string {
  const counts = new Map<string, number>();
  for (const m of [...d.members].sort(compareMembers)) counts.set(m.role, (counts.get(m.role) ?? 0) + 1);
  const parts = [...counts].map(([role, n]) => `${n} ${role}`);
  const head = `${plural(d.members.length, "member")}${parts.length ? `: ${parts.join(", ")}` : ""}`;
  let leader = "no leader";
  if (d.leader !== undefined) {
    const live = d.members.some((m) => m.role === "coordinator" && m.id === d.leader);
    leader = `leader ${d.leader}${live ? "" : " (not a registered coordinator)"}`;
  }
  return `${head}; ${leader}`;
}

/** The `opsctl cluster` table + summary (+ a warning line per invalid member node). */
export function clusterText(d: ClusterData, now: number): string[] {
  const rows = [...d.members].sort(compareMembers).map((m) => [
    m.role,
    m.id + (m.role === "coordinator" && m.id === d.leader ? " LEADER" : ""),
    memberAddress(m),
    String(m.opsPort),
    formatLoad(m.load),
    m.colour,
    m.version,
    formatAge(now - m.startedAt),
  ]);
  const out = rows.length > 0 ? table(["ROLE", "ID", "ADDRESS", "OPS", "LOAD", "COLOUR", "VERSION", "UPTIME"], rows, { right: [3, 4, 7] }) : ["(no members registered)"];
  out.push("", clusterSummary(d));
  for (const path of d.invalid) out.push(`warning: ${path} holds no valid member info (skipped)`);
  return out;
}

// ---------------------------------------------------------------- placement

export interface PlacementRow {
  zone: string;
  server: string;
  /** The server is currently a registered member. */
  live: boolean;
  since: number;
}

/** Zone rows of a placement document, sorted by zone, each marked live / missing. */
export function placementRows(doc: PlacementDoc, memberIds: ReadonlySet<string>): PlacementRow[] {
  return Object.keys(doc.zones)
    .sort()
    .map((zone) => {
      const z = doc.zones[zone]!;
      return { zone, server: z.server, live: memberIds.has(z.server), since: z.since };
    });
}

export { zonesOf } from "../../core/cluster/placement-doc.js";

export const NO_PLACEMENT = "no placement yet: is a coordinator running?";

/**
 * The `opsctl placement` output: header lines (generation, writer, age, current leader,
 * draining), then the zone table.
 */
export function placementText(doc: PlacementDoc, memberIds: ReadonlySet<string>, currentLeader: string | undefined, now: number): string[] {
  const rows = placementRows(doc, memberIds);
  const out = [
    `generation ${doc.generation}, written by ${doc.leader || "(unknown)"} ${formatAge(now - doc.updatedAt)} ago`,
    `current leader: ${currentLeader ?? "none"}${currentLeader !== undefined && currentLeader !== doc.leader ? " (differs from the writer: a new leader has not written yet)" : ""}`,
    `draining: ${doc.draining.length > 0 ? doc.draining.join(", ") : "none"}`,
    "",
  ];
  if (rows.length === 0) out.push("(no zones placed)");
  else
    out.push(
      ...table(
        ["ZONE", "SERVER", "STATUS", "SINCE"],
        rows.map((r) => [r.zone, r.server, r.live ? "live" : "MISSING", formatAge(now - r.since)]),
        { right: [3] },
      ),
    );
  const missing = rows.filter((r) => !r.live).length;
  out.push("", `${plural(rows.length, "zone")}, ${missing === 0 ? "all on live servers" : `${missing} on MISSING servers`}`);
  return out;
}

// ---------------------------------------------------------------- drain

/** What `opsctl drain` tracks about the server being drained. */
export interface DrainState {
  /** The member node still exists. */
  present: boolean;
  /** Zones the placement places on it. */
  zones: string[];
  /** Its load (users) as registered; undefined once gone. */
  load: number | undefined;
  /** Listed in the placement's `draining`. */
  draining: boolean;
}

function zoneList(zones: string[]): string {
  if (zones.length === 0) return "0 zones";
  const shown = zones.length <= 6 ? zones.join(", ") : `${zones.slice(0, 6).join(", ")}, …`;
  return `${plural(zones.length, "zone")} (${shown})`;
}

/** "field-1: 2 zones (z1, z2), 140 users, draining" — one progress line. */
export function drainStateText(id: string, s: DrainState): string {
  if (!s.present) return `${id}: gone`;
  const users = s.load === undefined ? "" : `, ${plural(Math.round(s.load), "user")}`;
  return `${id}: ${zoneList(s.zones)}${users}${s.draining ? ", draining" : ""}`;
}

/** True when a progress line must be printed for `next` (first state, or anything changed). */
export function drainStateChanged(prev: DrainState | undefined, next: DrainState): boolean {
  if (!prev) return true;
  return prev.present !== next.present || prev.load !== next.load || prev.draining !== next.draining || prev.zones.join("\0") !== next.zones.join("\0");
}
