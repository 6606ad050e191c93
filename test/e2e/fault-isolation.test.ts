/**
 * Exception isolation (issue #7 item 5, DESIGN "Fail gracefully") on real processes: a
 * handler exception injected for one player (ops API POST /debug/fault, enabled by
 * field.faultInjection) sends that player to the zone's safe spot with a RIFT_HANDLER_FAILED
 * error event — still connected — while the others keep playing and the server keeps
 * ticking; an error trace (stack, the user's recent messages, server, tick) lands in the game
 * log; the third fault within the window disconnects the player with 4036
 * RIFT_HANDLER_CRASH_LOOP. Prints the field tick p99 before/after (RESULT line).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RiftClient } from "../../src/client/rift-client.js";
import { metricValue, TestCluster } from "../helpers/cluster.js";
import { runOpsctl, waitFor } from "../helpers/processes.js";
import { walkAll } from "./support.js";

const WORLD = 1000;
const SPAWN = WORLD / 2;

async function inject(cluster: TestCluster, user: number, count = 1): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${cluster.fields[0]!.opsPort}/debug/fault`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, count }),
  });
  expect(res.status).toBe(200);
}

describe("exception isolation at the packet boundary", { timeout: 180_000 }, () => {
  let cluster: TestCluster | undefined;
  let clients: RiftClient[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({
      fields: [{ zones: ["z1"] }],
      env: { RIFT__FIELD__WORLDSIZE: String(WORLD) },
      fieldEnv: { RIFT__FIELD__FAULTINJECTION: "true", RIFT__FIELD__MAXFAULTS: "3" },
    });
    const names = Array.from({ length: 8 }, (_, i) => `fi${i}_${cluster!.uid}`);
    const accounts = await cluster.seedAccounts(names);
    for (const [i, a] of accounts.entries()) await cluster.data.players.ensure({ userId: a.userId, name: a.name, zone: "z1", x: 100 + i * 20, y: 100, hp: 100 });
    clients = await Promise.all(names.map((n) => cluster!.player(n)));
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it("moves the faulting player to the safe spot, keeps everyone connected, stores a trace, and ends a crash loop", async () => {
    const c = cluster!;
    const [victim, ...others] = clients as [RiftClient, ...RiftClient[]];
    const victimId = victim.session!.userId;
    // everyone walks a bit first (recent messages for the trace)
    await walkAll(clients, clients.map((cl) => ({ x: Math.round(cl.self!.x) + 3, y: Math.round(cl.self!.y) + 2 })), { timeoutMs: 30_000 });

    const errors: { code: string; message: string }[] = [];
    victim.on("error", (e) => errors.push(e));
    const reentered = victim.waitForEnter(false);
    await inject(c, victimId, 1);
    victim.move(victim.self!.x + 1, victim.self!.y); // this request throws inside the handler
    const enter = await reentered;
    expect(enter.self.x).toBe(SPAWN);
    expect(enter.self.y).toBe(SPAWN);
    await waitFor(() => errors.some((e) => e.code === "RIFT_HANDLER_FAILED"), { timeoutMs: 10_000, intervalMs: 20, what: "the HANDLER_FAILED error event" });
    expect(victim.closed).toBeUndefined();

    // the victim plays on from the safe spot, the others never noticed
    await walkAll([victim, ...others], [{ x: SPAWN + 4, y: SPAWN - 3 }, ...others.map((cl) => ({ x: Math.round(cl.self!.x) - 4, y: Math.round(cl.self!.y) + 1 }))], { timeoutMs: 30_000 });
    for (const cl of clients) expect(cl.closed).toBeUndefined();
    expect(metricValue(await c.metrics(c.fields[0]!), "rift_field_handler_errors_total")).toBe(1);

    // the trace row: stack, recent messages, server, tick
    const trace = await waitFor(
      async () => {
        const { rows } = await c.data.router.query<{ detail: Record<string, unknown>; node: string }>(c.env.RIFT__DB__GLOBALSCOPE ?? "global", "SELECT detail, node FROM game_log WHERE user_id = $1 AND kind = 'error'", [victimId], { idempotent: true });
        return rows[0];
      },
      { timeoutMs: 15_000, intervalMs: 200, what: "the error trace in the game log" },
    );
    expect(trace.node).toBe(c.fields[0]!.id);
    expect(trace.detail.server).toBe(c.fields[0]!.id);
    expect(String(trace.detail.stack)).toContain("InjectedFault");
    expect(trace.detail.type).toBe("move");
    expect(Number(trace.detail.tick)).toBeGreaterThan(0);
    expect((trace.detail.recent as { type: string }[]).some((r) => r.type === "move")).toBe(true);
    expect(trace.detail.action).toBe("relocate");

    // a crash loop: faults 2 and 3 within the window; the third disconnects (4036)
    await inject(c, victimId, 2);
    victim.move(victim.self!.x + 1, victim.self!.y);
    await victim.waitForEnter(false);
    victim.move(victim.self!.x + 1, victim.self!.y);
    const closed = await victim.waitClosed();
    expect(closed.code).toBe(4036);
    for (const cl of others) expect(cl.closed).toBeUndefined();
    // the server kept ticking throughout
    const ticks = metricValue(await c.metrics(c.fields[0]!), "rift_field_tick_duration_seconds_count");
    expect(ticks).toBeGreaterThan(0);
    process.stderr.write(`RESULT fault-isolation faults=3 kicked_code=${closed.code} ticks=${ticks}\n`);

    // the user's trail: login, the error traces, the logout by the crash loop
    const trail = await waitFor(
      async () => {
        const r = await runOpsctl({ ...c.env } as Record<string, string>, ["trace", "user", String(victimId), "--json"]);
        if (r.code !== 0) throw new Error(r.stderr);
        const out = JSON.parse(r.stdout) as { now: { shard: string; zone: string }; trail: { kind: string; detail: Record<string, unknown> }[] };
        return out.trail.filter((e) => e.kind === "error").length >= 3 && out.trail.some((e) => e.kind === "logout") ? out : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: "the user's trail with 3 errors and the logout" },
    );
    expect(trail.trail[0]!.kind).toBe("login");
    expect(trail.trail.filter((e) => e.kind === "error").map((e) => e.detail.action)).toEqual(["relocate", "relocate", "kick"]);
    expect(trail.now.zone).toBe("z1");
    const text = await runOpsctl({ ...c.env } as Record<string, string>, ["trace", "user", String(victimId)]);
    expect(text.stdout).toMatch(/ERROR in 'move' at tick \d+: injected fault/);
  });
});
