/**
 * Fencing under pause (DESIGN "Ownership and fencing"): a field server frozen with SIGSTOP
 * past the ZooKeeper session timeout, resumed after its users were taken over, must not
 * write a single stale row and must drop its users cleanly.
 *
 * Real processes on a private 3-node ZooKeeper: 1 coordinator, 1 gateway, 2 field servers
 * able to host z1. An audit trigger (this test's own, on every shard of the test database)
 * records every UPDATE of `players` with the writer's `application_name` (`<node id>/<scope>`).
 * The players keep walking while A is frozen — A holds unflushed changes and the gateway
 * buffers moves and detaches for it. After the takeover by B and SIGCONT of A:
 *  - the audit holds no update by A after the takeover (checked row by row);
 *  - every row equals B's settled state, owned by B with B's epoch;
 *  - A saw its session expire, self-fenced, and registered again (healthy, 0 users);
 *  - no client was disconnected.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerBody } from "../../src/core/protocol/messages.js";
import { metricValue, TestCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/processes.js";
import { flushedRows, privateZooKeeper, seedPlayers, settle, wander, type Players, type PrivateZk } from "./support.js";

const N = 30;

const AUDIT_SQL = `
  CREATE TABLE IF NOT EXISTS players_audit (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    writer text NOT NULL,
    old_epoch bigint NOT NULL,
    new_epoch bigint NOT NULL,
    x real NOT NULL,
    y real NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  CREATE OR REPLACE FUNCTION players_audit_fn() RETURNS trigger AS $$
  BEGIN
    INSERT INTO players_audit (user_id, writer, old_epoch, new_epoch, x, y)
      VALUES (NEW.user_id, current_setting('application_name'), OLD.owner_epoch, NEW.owner_epoch, NEW.x, NEW.y);
    RETURN NEW;
  END $$ LANGUAGE plpgsql;
  DROP TRIGGER IF EXISTS players_audit_trg ON players;
  CREATE TRIGGER players_audit_trg AFTER UPDATE ON players FOR EACH ROW EXECUTE FUNCTION players_audit_fn();
`;

interface AuditRow {
  id: string;
  user_id: string;
  writer: string;
  old_epoch: string;
  new_epoch: string;
  at: Date;
}

describe("SIGSTOP past the session timeout, SIGCONT after the takeover", { timeout: 300_000 }, () => {
  let zk: PrivateZk;
  let cluster: TestCluster;
  let players: Players;
  let shardScopes: string[];

  beforeAll(async () => {
    zk = await privateZooKeeper(3);
    cluster = await TestCluster.start({
      zookeeper: zk.connect,
      coordinators: 1,
      gateways: 1,
      fields: [{ zones: ["z1"] }, { zones: ["z1"] }],
      startZone: "z1",
      env: { RIFT__FIELD__FLUSHINTERVALMS: "200", RIFT__GATEWAY__REATTACHTIMEOUTMS: "90000" },
    });
    shardScopes = cluster.scope.dbs.shards.map((s) => s.scope);
    for (const scope of shardScopes) await cluster.data.router.query(scope, AUDIT_SQL);
    players = await seedPlayers(cluster, N, { zone: "z1", worldSize: 1000, prefix: "fp" });
  }, 240_000);

  afterAll(async () => {
    // never leave a frozen process behind
    for (const f of cluster?.fields ?? []) if (f && f.proc.exitInfo() === null) f.proc.kill("SIGCONT");
    await cluster?.stop();
    await zk?.stop();
  });

  async function audit(): Promise<AuditRow[]> {
    const out: AuditRow[] = [];
    for (const scope of shardScopes) out.push(...(await cluster.data.router.query<AuditRow>(scope, "SELECT id, user_id, writer, old_epoch, new_epoch, at FROM players_audit ORDER BY id")).rows);
    return out;
  }

  it("writes no stale row, drops its users cleanly and rejoins", async () => {
    const ownerId = (await cluster.placement())!.zones.z1!.server;
    const a = cluster.fields.find((f) => f.id === ownerId)!;
    const b = cluster.fields.find((f) => f.id !== ownerId)!;
    await settle(cluster, players, 3);
    const auditA = (await audit()).filter((r) => r.writer.startsWith(`${a.id}/`)).length;
    expect(auditA).toBeGreaterThan(0); // the audit sees A's writes (the check below can fail)

    // A has dirty users when it freezes: keep everyone walking across the pause
    const rowsBefore = await flushedRows(cluster, a);
    const stopWalking = wander(players.clients, 9);
    await waitFor(async () => (await flushedRows(cluster, a)) >= rowsBefore + N, { timeoutMs: 30_000, what: "A flushing moving players" });
    const reentered: Promise<ServerBody<"enter">>[] = players.clients.map((c) => c.waitForEnter(false));
    a.proc.kill("SIGSTOP");
    const frozenAt = Date.now();
    let enters: ServerBody<"enter">[];
    try {
      enters = await Promise.all(reentered);
    } finally {
      stopWalking();
    }
    const takenOverAt = Date.now();
    enters.forEach((e) => expect(e.server).toBe(b.id));
    const epochsB = (await Promise.all(players.ids.map((id) => cluster.data.players.load(id)))).map((r) => {
      expect(r!.owner).toBe(b.id);
      return r!.epoch;
    });

    // B's state becomes the truth; then A wakes up with stale state, buffered input and detaches
    const targets = await settle(cluster, players, 4);
    a.proc.kill("SIGCONT");
    await waitFor(async () => (await cluster.health(a).catch(() => ({ status: 0 }))).status === 200, { timeoutMs: 30_000, what: "A answering /healthz again" });
    await a.proc.waitForLine((l) => l.includes("self-fencing"), 30_000);
    await a.proc.waitForLine((l) => l.includes("membership: re-registered") || l.includes("zookeeper session renewed"), 30_000);
    // A processed its backlog (fence, detaches, flush timers) before re-registering; give its
    // write-behind a cycle after that, proven by a flush of B (a later write on the same DB)
    const bRows = await flushedRows(cluster, b);
    const c0 = players.clients[0]!;
    c0.move(targets[0]!.x + 1, targets[0]!.y);
    targets[0] = { x: targets[0]!.x + 1, y: targets[0]!.y };
    await waitFor(async () => (await flushedRows(cluster, b)) > bRows, { timeoutMs: 20_000, what: "a flush by B after A woke up" });

    // 1. no update by A after the takeover, row by row
    const rows = await audit();
    const staleByA = rows.filter((r) => r.writer.startsWith(`${a.id}/`) && r.at.getTime() >= frozenAt - 1000);
    const lateByA = staleByA.filter((r) => r.at.getTime() > takenOverAt);
    expect(lateByA).toEqual([]);
    // 2. every row holds B's state, owner and epoch
    const now = await Promise.all(players.ids.map((id) => cluster.data.players.load(id)));
    now.forEach((r, i) => {
      expect(r!.owner, players.names[i]).toBe(b.id);
      expect(r!.epoch).toBe(epochsB[i]);
      expect({ x: r!.state.x, y: r!.state.y }).toEqual(targets[i]);
    });
    // 3. A dropped everyone: no users, fenced writes counted or no write attempted at all
    const am = await cluster.metrics(a);
    expect(metricValue(am, "rift_field_ccu")).toBe(0);
    // 4. nobody was disconnected
    expect(players.clients.filter((c) => c.closed !== undefined)).toEqual([]);
    console.log(
      `RESULT field-pause: frozen ${Math.round((takenOverAt - frozenAt) / 100) / 10} s until all ${N} players were re-entered on B; ` +
        `A's writes after waking: ${lateByA.length}; A's fenced (rejected) writes: ${metricValue(am, "rift_field_flush_rejected_total")}`,
    );
  });
});
