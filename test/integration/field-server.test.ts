/**
 * The real field server (child process, 2 IO worker threads) on the shared infra, driven by
 * tiny fake gateways speaking the link protocol with `ws`:
 * - two users in adjacent cells see each other's moves in `tick` frames (cell records);
 * - a user far away, on another gateway and another IO worker, sees nothing of them;
 * - write-behind persists positions (final write on detach), ownership is recorded;
 * - a malformed link frame closes only that link with its catalogued code;
 * - SIGTERM: every user is saved and handed back with `transfer`, links close with 4034.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ZkMemberView } from "../../src/core/cluster/member-view.js";
import { Zk } from "../../src/core/cluster/zk.js";
import { loadConfig } from "../../src/core/config.js";
import { silentLogger } from "../../src/core/log.js";
import { pack, unpack, unpackStream } from "../../src/core/protocol/codec.js";
import type { ServerOp } from "../../src/core/transport/link-protocol.js";
import { decodeRecords, type EntityRecord } from "../../src/game/records.js";
import { createDataLayer, type PgDataLayer } from "../../src/shard/data-layer.js";
import { infraEnv } from "../../src/tools/infra/infra.js";
import { getInfra } from "../helpers/infra.js";
import { isolated, uniqueId, type Isolated } from "../helpers/isolation.js";
import { startCoordinator, waitForPlacement } from "../helpers/coordinator.js";
import { startRift, stopAll, waitFor, type ManagedProcess } from "../helpers/processes.js";

const ALICE = 1001;
const BOB = 1002;
const CAROL = 1003;

/** A fake gateway: one link, every received op kept, cell records indexed. */
class FakeGateway {
  readonly ws: WebSocket;
  readonly ops: ServerOp[] = [];
  /** Every entity record seen in `cell` envelopes and `aoi.add`, in arrival order. */
  readonly seen: EntityRecord[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(port: number, name: string) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}`);
    this.ws.on("message", (data) => {
      for (const op of unpack(data as Buffer) as ServerOp[]) {
        this.ops.push(op);
        if (op[0] !== "tick") continue;
        for (const [, buf] of op[1].cells) {
          for (const env of unpackStream(buf) as [number, string, { m: Uint8Array }][]) this.seen.push(...decodeRecords(env[2].m));
        }
        for (const [, bufs] of op[1].direct) {
          for (const b of bufs) for (const env of unpackStream(b) as [number, string, { add?: Uint8Array }][]) if (env[1] === "aoi") this.seen.push(...decodeRecords(env[2].add!));
        }
      }
    });
    this.closed = new Promise((r) => this.ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
    this.ws.once("open", () => this.send(["hello", { gateway: name }]));
  }

  send(...ops: unknown[]): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(pack(ops));
    else this.ws.once("open", () => this.ws.send(pack(ops)));
  }

  find<K extends ServerOp[0]>(kind: K, user: number): Extract<ServerOp, [K, ...unknown[]]> | undefined {
    return this.ops.find((o) => o[0] === kind && (o[1] as { user?: number }).user === user) as Extract<ServerOp, [K, ...unknown[]]> | undefined;
  }

  saw(id: number, pred: (r: EntityRecord) => boolean = () => true): boolean {
    return this.seen.some((r) => r.id === id && pred(r));
  }

  subsOf(user: number): number[] | undefined {
    let last: number[] | undefined;
    for (const op of this.ops) if (op[0] === "tick") for (const [u, cells] of op[1].subs) if (u === user) last = cells;
    return last;
  }
}

describe("field server (real process, real infra)", { timeout: 120_000 }, () => {
  let scope: Isolated;
  let field: ManagedProcess;
  let data: PgDataLayer;
  let linkPorts: number[];
  let opsPort: number;
  const nodeId = `field-it-${uniqueId()}`;
  const gateways: FakeGateway[] = [];

  beforeAll(async () => {
    const infra = getInfra();
    scope = await isolated(infra);
    const env = {
      ...infraEnv(infra),
      RIFT__CLUSTER__ZOOKEEPER__ROOT: scope.zk.path,
      RIFT__CLUSTER__REDIS__KEYPREFIX: JSON.stringify(scope.redis.prefix), // env values are YAML: quote the colons
      RIFT__DB__DATABASE: scope.dbs.name,
      RIFT__NODE__ID: nodeId,
      RIFT__OPS__PORT: "0",
      RIFT__FIELD__LINKPORT: "0",
      RIFT__FIELD__IOWORKERS: "2",
      RIFT__FIELD__ZONES: "[z1]",
      RIFT__FIELD__FLUSHINTERVALMS: "200",
      RIFT__LOG__LEVEL: "info",
    };
    await startCoordinator(env);
    field = await startRift(["--role", "field"], { env, readyWhen: /field server listening/, timeoutMs: 60_000 });
    await waitForPlacement(infra.zookeeper.connect, scope.zk.path, ["z1"], { server: nodeId });
    const ready = JSON.parse(field.lines.find((l) => l.includes("field server listening"))!) as { linkPorts: number[]; opsPort: number };
    linkPorts = ready.linkPorts;
    opsPort = ready.opsPort;
    const config = loadConfig({ env: infraEnv(infra) });
    data = createDataLayer({ config, log: silentLogger(), database: scope.dbs.name });
    // carol starts far away from the spawn point (500, 500)
    await data.players.ensure({ userId: CAROL, name: "carol", zone: "z1", x: 50, y: 50, hp: 100 });
  });

  afterAll(async () => {
    for (const g of gateways) g.ws.terminate();
    await stopAll();
    await data?.close();
    await scope?.dispose();
  });

  it("registers in ZooKeeper with its link ports and zones", async () => {
    expect(linkPorts).toHaveLength(2);
    const zk = await Zk.connect({ connect: getInfra().zookeeper.connect, sessionTimeoutMs: 5000 });
    const view = new ZkMemberView(zk, { root: scope.zk.path, roles: ["field"] });
    try {
      await view.ready();
      await waitFor(() => view.members("field").find((m) => m.id === nodeId), { timeoutMs: 10_000, what: "field member" });
      expect(view.members("field").find((m) => m.id === nodeId)).toMatchObject({ linkPorts, zones: ["z1"] });
    } finally {
      await view.close();
      await zk.close();
    }
  });

  it("users in adjacent cells see each other's moves; a user far away sees nothing of them", async () => {
    const gwA = new FakeGateway(linkPorts[0]!, "gw-a");
    const gwB = new FakeGateway(linkPorts[1]!, "gw-b");
    gateways.push(gwA, gwB);
    gwA.send(["attach", { user: ALICE, name: "alice", zone: "z1" }], ["attach", { user: BOB, name: "bob", zone: "z1" }]);
    gwB.send(["attach", { user: CAROL, name: "carol", zone: "z1" }]);
    await waitFor(() => gwA.find("attached", ALICE) && gwA.find("attached", BOB) && gwB.find("attached", CAROL), { timeoutMs: 20_000, what: "three attaches" });
    const enter = unpackStream(gwA.find("attached", ALICE)![1].enter)[0] as [number, string, { self: { x: number; y: number } }];
    expect(enter[1]).toBe("enter");
    expect(enter[2].self).toMatchObject({ x: 500, y: 500 }); // a new user spawns at the zone's spawn point

    // alice stays in cell 55 (x >= 500), bob steps into the adjacent cell 54 (x < 500)
    gwA.send(["in", ALICE, "move", { seq: 1, x: 503, y: 502 }], ["in", BOB, "move", { seq: 1, x: 497, y: 500 }]);
    await waitFor(
      () => gwA.saw(ALICE, (r) => r.seq === 1 && r.x === 503 && r.y === 502) && gwA.saw(BOB, (r) => r.seq === 1 && r.x === 497 && r.y === 500),
      { timeoutMs: 10_000, what: "both moves in gateway A's tick frames" },
    );
    expect(gwA.subsOf(ALICE)).toEqual(expect.arrayContaining([54, 55]));
    expect(gwA.subsOf(BOB)).toEqual(expect.arrayContaining([54, 55]));

    // a far move that would be a teleport is clamped to maxSpeed (5 units)
    gwA.send(["in", ALICE, "move", { seq: 2, x: 903, y: 502 }]);
    await waitFor(() => gwA.saw(ALICE, (r) => r.seq === 2), { timeoutMs: 10_000, what: "clamped move" });
    expect(gwA.seen.filter((r) => r.id === ALICE && r.seq === 2).every((r) => r.x === 508 && r.y === 502)).toBe(true);

    gwB.send(["in", CAROL, "move", { seq: 1, x: 52, y: 50 }]);
    await waitFor(() => gwB.saw(CAROL, (r) => r.seq === 1), { timeoutMs: 10_000, what: "carol's own move" });
    expect(gwB.saw(ALICE) || gwB.saw(BOB)).toBe(false);
    expect(gwA.saw(CAROL)).toBe(false);
    expect(gwB.subsOf(CAROL)).toEqual([0, 1, 10, 11]);
  });

  it("persists through write-behind: the final write on detach, with this server as owner", async () => {
    const gwA = gateways[0]!;
    gwA.send(["detach", { user: ALICE, reason: "client closed" }]);
    await waitFor(async () => {
      const row = await data.players.load(ALICE);
      return row && row.state.x === 508 && row.state.y === 502 ? row : undefined;
    }, { timeoutMs: 15_000, what: "alice's final position in the DB" });
    expect((await data.players.load(ALICE))!.owner).toBe(nodeId);
    // bob's move reached the DB by the periodic flush
    await waitFor(async () => (await data.players.load(BOB))?.state.x === 497, { timeoutMs: 15_000, what: "bob's periodic flush" });
  });

  it("a malformed link frame closes only that link, with the catalogued close code", async () => {
    const bad = new WebSocket(`ws://127.0.0.1:${linkPorts[0]}`);
    await new Promise((r) => bad.once("open", r));
    const closed = new Promise<number>((r) => bad.on("close", (code) => r(code)));
    bad.send(Buffer.from([0xc1, 0x00, 0xff]));
    expect(await closed).toBe(4001);
    const gwA = gateways[0]!;
    expect(gwA.ws.readyState).toBe(WebSocket.OPEN);
    gwA.send(["in", BOB, "move", { seq: 2, x: 495, y: 500 }]);
    await waitFor(() => gwA.saw(BOB, (r) => r.seq === 2), { timeoutMs: 10_000, what: "bob still served" });
  });

  it("exports the packet-queue, tick and flush metrics", async () => {
    const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    for (const name of ["rift_field_tick_duration_seconds_count", "rift_field_packet_queue_consume_seconds_count", "rift_field_flush_duration_seconds_count", "rift_field_link_send_queue_bytes"]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/rift_field_inbound_messages_total\{[^}]*type="move"[^}]*\} [1-9]/);
    expect(text).toMatch(/rift_field_ccu\{[^}]*zone="z1"[^}]*\} 2/);
  });

  it("SIGTERM: saves everyone, transfers them back to their zone, closes links with SHUTTING_DOWN", async () => {
    const [gwA, gwB] = gateways as [FakeGateway, FakeGateway];
    const exit = await field.stop();
    expect(exit.code).toBe(0);
    expect(gwA.find("transfer", BOB)).toEqual(["transfer", { user: BOB, zone: "z1" }]);
    expect(gwB.find("transfer", CAROL)).toEqual(["transfer", { user: CAROL, zone: "z1" }]);
    expect((await gwA.closed).code).toBe(4034);
    expect((await gwB.closed).code).toBe(4034);
    expect((await data.players.load(BOB))!.state).toMatchObject({ x: 495, y: 500 });
    expect((await data.players.load(CAROL))!.state).toMatchObject({ x: 52, y: 50 });
  });
});
