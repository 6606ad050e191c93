/**
 * `opsctl flag …`: feature flags (issue #9 item 6).
 *
 *   flag set <name> on|off|<pct>% [--role R]   set the rule for every role (`*`) or for role R
 *   flag rm <name> [--role R]                  remove the role's rule, or the whole flag
 *   flag list [--json] [--user ID]             every flag and switch (with --user: what that user gets per role)
 *
 * Stored in the global DB (`ops_flags`), published on Redis `<keyPrefix>events` like the
 * events of event.ts; gateways push the new `features` list to every client whose set changed.
 * Evaluation: src/core/ops/flags.ts (role rule over `*`; percentage by a stable hash of
 * (flag, user id)). Exit status: 0; 1 `rm` of a flag that does not exist; 2 usage / unreachable.
 */
import { ROLES } from "../../core/config.js";
import { RiftError } from "../../core/errors.js";
import type { OpsEvent } from "../../core/ops/events.js";
import { evaluateFlag, FLAG_NAME, parseFlagValue } from "../../core/ops/flags.js";
import type { Output } from "./context.js";
import { runEvent, type OpsTools } from "./event.js";
import { table } from "./format.js";

function checkName(name: string): void {
  if (!FLAG_NAME.test(name)) throw new RiftError("USAGE", `flag name ${JSON.stringify(name)}: lower-case [a-z0-9_.-], starting with a letter, at most 48 characters`);
}

function checkRole(role: string | undefined): string {
  if (role === undefined) return "*";
  if (!(ROLES as readonly string[]).includes(role)) throw new RiftError("USAGE", `--role ${JSON.stringify(role)}: one of ${ROLES.join(", ")}`);
  return role;
}

/** The event of `flag set` (pure). */
export function flagSetEvent(name: string, value: string, role?: string): OpsEvent {
  checkName(name);
  const v = parseFlagValue(value);
  if (v === undefined) throw new RiftError("USAGE", `flag value ${JSON.stringify(value)}: on, off or a percentage 0-100 such as 10% (two decimals at most)`);
  return { kind: "flag", name, scope: checkRole(role), value: v };
}

/** The event of `flag rm` (pure). */
export function flagRmEvent(name: string, role?: string): OpsEvent {
  checkName(name);
  return role === undefined ? { kind: "flagRemoved", name } : { kind: "flag", name, scope: checkRole(role), value: null };
}

export async function runFlagSet(tools: Pick<OpsTools, "store" | "bus">, name: string, value: string, o: { role?: string; json?: boolean }, io: Output): Promise<number> {
  return runEvent(tools, flagSetEvent(name, value, o.role), io, o.json === true);
}

export async function runFlagRm(tools: Pick<OpsTools, "store" | "bus">, name: string, o: { role?: string; json?: boolean }, io: Output): Promise<number> {
  const e = flagRmEvent(name, o.role);
  const state = await tools.store.load();
  const rules = state.flags[name];
  if (!rules || (e.kind === "flag" && rules[e.scope] === undefined)) {
    io.err(`flag ${name}${o.role ? ` has no rule for role ${o.role}` : " does not exist"}`);
    return 1;
  }
  return runEvent(tools, e, io, o.json === true);
}

export async function runFlagList(tools: Pick<OpsTools, "store">, o: { json?: boolean; user?: number }, io: Output): Promise<number> {
  const s = await tools.store.load();
  const names = Object.keys(s.flags).sort();
  if (o.json) {
    const out: Record<string, unknown> = { flags: s.flags, switches: s.switches };
    if (o.user !== undefined) {
      const u = o.user;
      out.user = { id: u, enabled: Object.fromEntries(names.map((n) => [n, Object.fromEntries(ROLES.map((r) => [r, evaluateFlag(n, s.flags[n]!, u, r)]))])) };
    }
    io.out(JSON.stringify(out));
    return 0;
  }
  if (names.length === 0) io.out("no flags");
  else {
    const header = ["FLAG", "ALL ROLES", ...ROLES.map((r) => r.toUpperCase())];
    if (o.user !== undefined) header.push(`USER ${o.user} (gateway)`);
    const rows = names.map((n) => {
      const r = s.flags[n]!;
      const row = [n, r["*"] ?? "-", ...ROLES.map((role) => r[role] ?? "")];
      if (o.user !== undefined) row.push(evaluateFlag(n, r, o.user, "gateway") ? "enabled" : "disabled");
      return row;
    });
    for (const l of table(header, rows)) io.out(l);
  }
  const sw = Object.entries(s.switches).sort(([a], [b]) => a.localeCompare(b));
  if (sw.length) io.out(`switches: ${sw.map(([k, v]) => `${k}=${v ? "on" : "off"}`).join(", ")}`);
  return 0;
}
