/**
 * Game log + client analytics through a real cluster (coordinator, gateway, field):
 * - a client's login and logout land in game_log (batched writer in the gateway) and
 *   `opsctl logs --user <id> --since 1h` shows them;
 * - `client.analytics(name, props)` is acknowledged once queued in the Redis Stream; the
 *   coordinator's consumer stores every acknowledged event in analytics_events (counted);
 * - an invalid analytics message (too many props) closes the connection with a PROTO_ code.
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "../helpers/cluster.js";
import { tsxCommand, waitFor } from "../helpers/processes.js";

function opsctl(env: Record<string, string>, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, argv] = tsxCommand("src/tools/opsctl/cli.ts", args);
  return new Promise((resolve) => {
    execFile(cmd, argv, { env: { ...process.env, ...env }, timeout: 45_000, killSignal: "SIGKILL" }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("game log + analytics (cluster)", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  const q = async (sql: string, p: unknown[] = []) => (await cluster.data.router.query("global", sql, p)).rows as Record<string, unknown>[];

  beforeAll(async () => {
    cluster = await TestCluster.start({ gateways: 1, fields: [{ zones: ["z1"] }], env: { RIFT__OPS__LOGFLUSHMS: "100", RIFT__OPS__ANALYTICSCLAIMIDLEMS: "2000" } });
    await cluster.seedAccounts(["log_a", "log_b"]);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("login/logout rows, opsctl logs --user, analytics acked == stored", async () => {
    const a = await cluster.player("log_a");
    const userId = a.session!.userId;
    const N = 150;
    const t0 = performance.now();
    // paced under the per-connection message rate limit (60/s by default): 25 every 500 ms
    const acks: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      if (i > 0 && i % 25 === 0) await new Promise((r) => setTimeout(r, 500));
      acks.push(a.analytics("tutorial.step", { i, ok: i % 2 === 0, where: "z1" }));
    }
    await Promise.all(acks);
    const ackMs = performance.now() - t0;
    await waitFor(async () => Number((await q("SELECT count(*)::int AS n FROM analytics_events WHERE user_id = $1", [userId]))[0]!.n) === N, { timeoutMs: 30_000, intervalMs: 100, what: `${N} analytics rows` });
    const storedMs = performance.now() - t0;
    const distinct = Number((await q("SELECT count(DISTINCT props->>'i')::int AS n FROM analytics_events WHERE user_id = $1", [userId]))[0]!.n);
    expect(distinct).toBe(N);
    console.log(`RESULT analytics-e2e events=${N} acked-ms=${ackMs.toFixed(0)} stored-ms=${storedMs.toFixed(0)}`);

    await a.close();
    await waitFor(async () => (await q("SELECT kind FROM game_log WHERE user_id = $1 AND at > now() - interval '1 hour'", [userId])).length >= 2, { timeoutMs: 20_000, intervalMs: 100, what: "login + logout rows" });
    const r = await opsctl(cluster.env as Record<string, string>, ["logs", "--user", String(userId), "--since", "1h", "--json"]);
    expect(r.code).toBe(0);
    const kinds = (JSON.parse(r.stdout) as { entries: { kind: string }[] }).entries.map((e) => e.kind).sort();
    expect(kinds).toEqual(["login", "logout"]);

    const b = await cluster.player("log_b");
    const props = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]));
    const closed = b.once("close");
    void b.analytics("too.many", props).catch(() => undefined);
    const info = await closed;
    expect(String(info.reason ?? "")).toMatch(/RIFT_PROTO/);
  });
});
