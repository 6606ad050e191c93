/**
 * The gateway in-process with real ZooKeeper membership, the in-memory data layer and fake
 * field servers speaking the link protocol; clients are the SDK (and raw ws where the SDK
 * would be too polite). Covers the full flow, fan-out, relocation (transfer, server loss),
 * kicks, session replacement, slow readers and graceful shutdown.
 */
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { RiftClient } from "../../src/client/rift-client.js";
import { ZkMemberView } from "../../src/core/cluster/member-view.js";
import { MembershipZonePlacement } from "../../src/core/cluster/placement.js";
import { Zk } from "../../src/core/cluster/zk.js";
import { loadConfig, type Config } from "../../src/core/config.js";
import { silentLogger } from "../../src/core/log.js";
import { Registry } from "../../src/core/metrics.js";
import { encodeEnvelope, unpackStream } from "../../src/core/protocol/codec.js";
import { pickLinkPort } from "../../src/core/transport/link-client.js";
import { DataLayerAuthenticator } from "../../src/gateway/auth.js";
import { Gateway } from "../../src/gateway/gateway.js";
import { createMemoryDataLayer } from "../../src/shard/memory.js";
import { getInfra } from "../helpers/infra.js";
import { uniqueId, zkRoot, type ZkRoot } from "../helpers/isolation.js";
import { waitFor } from "../helpers/processes.js";
import { FakeField } from "./gateway-fake-field.js";

const until = <T>(what: string, cond: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000) =>
  waitFor(cond, { timeoutMs, intervalMs: 20, what });

interface Env {
  root: ZkRoot;
  zk: Zk;
  gateway: Gateway;
  registry: Registry;
  url: string;
  fields: FakeField[];
  clients: RiftClient[];
  field(id: string, zones: string[], opts?: Partial<ConstructorParameters<typeof FakeField>[0]>): Promise<FakeField>;
  player(name?: string, opts?: ConstructorParameters<typeof RiftClient>[0]): Promise<RiftClient>;
  closes(key: string): Promise<number>;
}

let env: Env;
const GW_ID = "gw-it";

async function makeEnv(gw: Partial<Config["gateway"]> = {}): Promise<Env> {
  const infra = getInfra();
  const root = await zkRoot(infra);
  const config = loadConfig({
    env: {},
    overrides: {
      gateway: {
        port: 0,
        maxPayloadBytes: 4096,
        handshakeTimeoutMs: 3000,
        rateLimit: { messagesPerSec: 50, burst: 50 },
        sendQueue: { maxMessages: 256, maxBytes: 256 * 1024 },
        reattachTimeoutMs: 3000,
        linkFlushMs: 2,
        closeGraceMs: 500,
        startZone: "z1",
        ...gw,
      },
    },
  });
  const zk = await Zk.connect({ connect: infra.zookeeper.connect, sessionTimeoutMs: 4000 });
  const view = new ZkMemberView(zk, { root: root.path, roles: ["field"] });
  await view.ready();
  const placement = new MembershipZonePlacement(view);
  const data = createMemoryDataLayer();
  const registry = new Registry();
  const gateway = new Gateway({
    id: GW_ID,
    host: "127.0.0.1",
    config: config.gateway,
    auth: new DataLayerAuthenticator({ accounts: data.accounts, tokens: data.tokens, players: data.players, startZone: "z1" }),
    placement,
    view,
    log: silentLogger(),
    registry,
  });
  const port = await gateway.start();
  const e: Env = {
    root,
    zk,
    gateway,
    registry,
    url: `ws://127.0.0.1:${port}`,
    fields: [],
    clients: [],
    async field(id, zones, opts = {}) {
      const f = await new FakeField({ id, zones, zkConnect: infra.zookeeper.connect, root: root.path, tickMs: 50, ...opts }).start();
      e.fields.push(f);
      return f;
    },
    async player(name = `p${uniqueId().slice(-8)}`, opts = {}) {
      const c = await RiftClient.connect(e.url, opts);
      e.clients.push(c);
      await c.hello();
      await c.register(name, "password1");
      await c.login(name, "password1");
      await c.waitForEnter();
      return c;
    },
    async closes(key) {
      const m = await registry.getSingleMetric("rift_gateway_closes_total")!.get();
      return m.values.filter((v) => v.labels.key === key).reduce((n, v) => n + v.value, 0);
    },
  };
  // placement/view are closed with the zk session at teardown
  (e as Env & { _close: () => Promise<void> })._close = async () => {
    for (const c of e.clients) await c.close().catch(() => undefined);
    await gateway.stop();
    for (const f of e.fields) await f.stop();
    placement.close();
    await view.close();
    await zk.close();
    await root.dispose();
  };
  return e;
}

/** Move and wait until the server-confirmed own record shows that seq. */
async function moveAndSee(c: RiftClient, x: number, y: number): Promise<void> {
  const seq = c.move(x, y);
  await until(`self seq ${seq}`, () => (c.self?.seq ?? -1) >= seq);
}

describe("gateway with fake field servers", () => {
  beforeEach(async () => {
    env = await makeEnv();
  });
  afterEach(async () => {
    await (env as Env & { _close: () => Promise<void> })._close();
  });

  test("hello → register → login → enter; moves come back; players see each other", async () => {
    const f = await env.field("f1", ["z1"]);
    const a = await env.player("alice");
    expect(a.welcome?.server).toBe(GW_ID);
    expect(a.lastEnter).toMatchObject({ zone: "z1", server: "f1" });
    const b = await env.player("bob");
    await moveAndSee(a, 160, 160);
    await until("bob sees alice at 160", () => b.entity(a.self!.id)?.x === 160);
    await moveAndSee(b, 170, 150);
    await until("alice sees bob", () => a.entity(b.self!.id)?.x === 170);
    // alice walks far away: bob's view loses her (she left his watched cells)
    const left = b.once("entity-leave");
    await moveAndSee(a, 900, 900);
    expect((await left).id).toBe(a.self!.id);
    expect(f.hellos).toEqual([GW_ID]);
    expect(await a.ping()).toBeGreaterThanOrEqual(0);
    // one link for both users
    expect(env.gateway.router.stats().openLinks).toBe(1);
  });

  test("login by token on a new connection", async () => {
    await env.field("f1", ["z1"]);
    const a = await env.player("carol");
    const token = a.session!.token;
    const c2 = await RiftClient.connect(env.url);
    env.clients.push(c2);
    await c2.hello();
    const s = await c2.login({ token });
    expect(s.name).toBe("carol");
    // the old connection is replaced
    expect((await a.waitClosed()).error?.key).toBe("SESSION_REPLACED");
    await c2.waitForEnter();
    await moveAndSee(c2, 155, 155);
  });

  test("the bots' fast path sees its own seq without an entity map", async () => {
    await env.field("f1", ["z1"]);
    const bot = await env.player(undefined, { trackEntities: false, validate: false });
    await env.player();
    const seqs: number[] = [];
    bot.onSelfSeq((seq) => seqs.push(seq));
    const s = bot.move(170, 170);
    await until("bot saw its seq", () => seqs.includes(s));
    expect(bot.visibleCount).toBe(0);
  });

  test("the gateway uses the worker port chosen by hashing its id", async () => {
    const f = await env.field("f1", ["z1"], { workers: 3 });
    await env.player();
    const want = pickLinkPort(f.ports, GW_ID);
    await until("one link", () => f.links.size === 1);
    const [link] = [...f.links];
    expect((link as unknown as { _socket: { localPort: number } })._socket.localPort).toBe(want);
  });

  test("travel → transfer: the client stays connected, gets relocated then enter in the new zone", async () => {
    const f1 = await env.field("f1", ["z1"]);
    const f2 = await env.field("f2", ["z2"]);
    const a = await env.player();
    const relocated = a.once("relocated");
    const entered = new Promise((r) => a.on("enter", (e) => e.zone === "z2" && r(e)));
    a.travel("z2");
    expect(await relocated).toEqual({ zone: "z2", server: "f2" });
    await entered;
    expect(a.zone).toBe("z2");
    expect(f1.opsOf("in").some((o) => o[2] === "travel")).toBe(true);
    expect(f2.opsOf("attach")).toEqual([["attach", { user: a.self!.id, name: expect.any(String), zone: "z2" }]]);
    await moveAndSee(a, 120, 120);
    expect(a.closed).toBeUndefined();
  });

  test("server lost: clients stay, then re-attach to the next server for their zone", async () => {
    const f1 = await env.field("f1", ["z1"]);
    const a = await env.player();
    const b = await env.player();
    const relocA = a.once("relocated");
    await f1.stop();
    expect((await relocA).zone).toBe("z1");
    await env.field("f2", ["z1"]);
    await until("a re-entered at f2", () => a.lastEnter?.server === "f2");
    await until("b re-entered at f2", () => b.lastEnter?.server === "f2");
    await moveAndSee(a, 140, 140);
    expect(a.closed).toBeUndefined();
    expect(b.closed).toBeUndefined();
  });

  test("link dropped while the server stays in the cluster: re-attached over a new link", async () => {
    const f1 = await env.field("f1", ["z1"]);
    const a = await env.player();
    const attachesBefore = f1.opsOf("attach").length;
    f1.dropLinks();
    await until("re-attached", () => f1.opsOf("attach").length > attachesBefore && a.lastEnter !== undefined && f1.ents.has(a.self!.id));
    await moveAndSee(a, 145, 145);
  });

  test("no server for the zone comes back within the deadline → SERVER_GONE", async () => {
    const f1 = await env.field("f1", ["z1"]);
    const a = await env.player();
    await f1.stop();
    const info = await a.waitClosed();
    expect(info.code).toBe(4031);
    expect(info.error?.key).toBe("SERVER_GONE");
  });

  test("no server for the start zone at login → NO_SERVER_FOR_ZONE after the deadline", async () => {
    const c = await RiftClient.connect(env.url);
    env.clients.push(c);
    await c.hello();
    await c.register("lonely", "password1");
    await c.login("lonely", "password1");
    expect((await c.waitClosed()).error?.key).toBe("NO_SERVER_FOR_ZONE");
  });

  test("kick from the server closes the client with that catalog code", async () => {
    const f1 = await env.field("f1", ["z1"]);
    const a = await env.player();
    const b = await env.player();
    f1.sendAll(["kick", { user: a.self!.id, key: "PERSIST_REJECTED", reason: "db write fenced" }]);
    const info = await a.waitClosed();
    expect(info.code).toBe(4032);
    expect(info.reason).toMatch(/RIFT_PERSIST_REJECTED/);
    await moveAndSee(b, 151, 151);
  });

  test("attach rejected by the server closes the client with the rejection code", async () => {
    await env.field("f1", ["z1"], { rejectWith: "OWNERSHIP_LOST" });
    const c = await RiftClient.connect(env.url);
    env.clients.push(c);
    await c.hello();
    await c.register("rejected1", "password1");
    await c.login("rejected1", "password1");
    expect((await c.waitClosed()).error?.key).toBe("OWNERSHIP_LOST");
  });

  test("graceful stop: clients closed with SHUTTING_DOWN and every user detached", async () => {
    const f1 = await env.field("f1", ["z1"]);
    const a = await env.player();
    const b = await env.player();
    await env.gateway.stop();
    expect((await a.waitClosed()).error?.key).toBe("SHUTTING_DOWN");
    expect((await b.waitClosed()).error?.key).toBe("SHUTTING_DOWN");
    await until("both detached", () => f1.opsOf("detach").length >= 2);
    expect(f1.opsOf("detach").map((o) => (o[1] as { user: number }).user).sort()).toEqual([a.self!.id, b.self!.id].sort());
  });

  test("a client that stops reading is disconnected (SEND_QUEUE_FULL) while others keep ticking", async () => {
    const f1 = await env.field("f1", ["z1"], { tickMs: 10 });
    const healthy = await env.player();
    // the slow one: a raw ws client that logs in, then pauses its socket
    const raw = new WebSocket(env.url);
    raw.on("error", () => {});
    await new Promise((r) => raw.once("open", r));
    const types: string[] = [];
    raw.on("message", (d: Buffer) => {
      for (const e of unpackStream(d) as [number, string][]) types.push(e[1]);
    });
    raw.send(encodeEnvelope("hello", { proto: 1, client: "raw" }));
    raw.send(encodeEnvelope("register", { name: "slowpoke", password: "password1" }));
    await until("registered", () => types.includes("registered"));
    raw.send(encodeEnvelope("login", { name: "slowpoke", password: "password1" }));
    await until("slow client entered", () => types.includes("enter"));
    const closed = new Promise<number>((r) => raw.once("close", (code) => r(code)));
    (raw as unknown as { _socket: { pause(): void } })._socket.pause();
    f1.padBytes = 48 * 1024; // big frames: fill the kernel buffers, then the gateway's queue
    await until("slow client closed by the gateway", async () => (await env.closes("SEND_QUEUE_FULL")) === 1, 30_000);
    // the healthy client still gets its updates
    await moveAndSee(healthy, 152, 152);
    f1.padBytes = 0;
    (raw as unknown as { _socket: { resume(): void } })._socket.resume();
    expect([4011, 1006]).toContain(await closed);
    expect(healthy.closed).toBeUndefined();
    await until("detach of the slow user", () => f1.opsOf("detach").length === 1);
  });
});

describe("bad input closes only the offending connection", () => {
  let bystander: RiftClient;
  beforeEach(async () => {
    env = await makeEnv({ handshakeTimeoutMs: 1500, rateLimit: { messagesPerSec: 20, burst: 20 } });
    await env.field("f1", ["z1"]);
    bystander = await env.player();
  });
  afterEach(async () => {
    // the bystander keeps playing after every victim
    await moveAndSee(bystander, 150 + Math.random() * 10, 150);
    expect(bystander.closed).toBeUndefined();
    await (env as Env & { _close: () => Promise<void> })._close();
  });

  async function victim(): Promise<RiftClient> {
    const c = await RiftClient.connect(env.url);
    env.clients.push(c);
    return c;
  }

  test("text frame → 4006 PROTO_NOT_BINARY", async () => {
    const ws = new WebSocket(env.url);
    ws.on("error", () => {});
    await new Promise((r) => ws.once("open", r));
    const closed = new Promise<number>((r) => ws.once("close", (c) => r(c)));
    ws.send("hello");
    expect(await closed).toBe(4006);
  });

  test("frame above maxPayload → 1009 from ws, reported as PROTO_TOO_LARGE", async () => {
    const c = await victim();
    c.sendRaw(new Uint8Array(5000));
    const info = await c.waitClosed();
    expect(info.code).toBe(1009);
    expect(info.error?.key).toBe("PROTO_TOO_LARGE");
    await until("counted", async () => (await env.closes("PROTO_TOO_LARGE")) === 1);
  });

  test.each([
    { name: "malformed msgpack", bytes: Uint8Array.from([0xc1, 0xc1]), code: 4001 },
    { name: "unknown type", bytes: encodeEnvelope("teleport", { x: 1 }), code: 4003 },
    { name: "schema violation", bytes: encodeEnvelope("hello", { proto: 1, client: 5 }), code: 4004 },
    { name: "wrong protocol version", bytes: encodeEnvelope("hello", { proto: 2, client: "x" }), code: 4002 },
    { name: "login before hello", bytes: encodeEnvelope("login", { name: "alice", password: "password1" }), code: 4007 },
  ])("$name → $code", async ({ bytes, code }) => {
    const c = await victim();
    c.sendRaw(bytes);
    const info = await c.waitClosed();
    expect(info.code).toBe(code);
    expect(info.error?.close).toBe(code);
  });

  test("flooding → 4010 RATE_LIMITED", async () => {
    const c = await victim();
    await c.hello();
    for (let i = 0; i < 40; i++) c.sendRaw(encodeEnvelope("ping", { t: i }));
    expect((await c.waitClosed()).error?.key).toBe("RATE_LIMITED");
  });

  test("silence → 4012 HANDSHAKE_TIMEOUT", async () => {
    const c = await victim();
    await c.hello();
    expect((await c.waitClosed()).error?.key).toBe("HANDSHAKE_TIMEOUT");
  });

  test("replayed move seq → 4008 PROTO_REPLAY", async () => {
    const c = await env.player();
    c.sendRaw(encodeEnvelope("move", { seq: 100, x: 150, y: 150 }));
    c.sendRaw(encodeEnvelope("move", { seq: 100, x: 150, y: 150 }));
    expect((await c.waitClosed()).error?.key).toBe("PROTO_REPLAY");
  });
});
