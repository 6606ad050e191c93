/**
 * The connection state machine with doubles (socket, authenticator, router): every bad input
 * closes with its catalogued code, the handshake sequence, session replacement, send queue.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { ErrorCatalog, RiftError, type ErrorDef, type ErrorKey } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/log.js";
import { Registry } from "../../src/core/metrics.js";
import { encodeEnvelope, pack, PROTOCOL_VERSION, unpackStream } from "../../src/core/protocol/codec.js";
import type { Authenticator, LoginRequest, LoginResult } from "../../src/gateway/auth.js";
import { ClientConnection, closeReason, type ConnectionLimits } from "../../src/gateway/connection.js";
import { createGatewayMetrics } from "../../src/gateway/metrics.js";
import { SessionHub } from "../../src/gateway/sessions.js";
import type { ClientSocket, RoutedClient, UserRouterApi } from "../../src/gateway/types.js";

class FakeSocket implements ClientSocket {
  readonly frames: Uint8Array[] = [];
  bufferedAmount = 0;
  closed: { code: number; reason: string } | undefined;
  terminated = false;
  /** When false, writes never complete (a client that stopped reading). */
  autoDrain = true;
  send(data: Uint8Array, cb: (err?: Error) => void): void {
    this.frames.push(data);
    if (this.autoDrain) cb();
  }
  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
  }
  terminate(): void {
    this.terminated = true;
  }
  /** Decoded messages sent so far: [type, body]. */
  messages(): [string, any][] {
    return this.frames.flatMap((f) => unpackStream(f) as [number, string, unknown][]).map((e) => [e[1], e[2]]);
  }
  types(): string[] {
    return this.messages().map((m) => m[0]);
  }
}

class FakeAuth implements Authenticator {
  users = new Map<string, { id: number; password: string }>();
  zone = "z1";
  nextId = 1;
  /** When set, login waits for this promise. */
  gate: Promise<void> | undefined;
  async register(name: string, password: string) {
    if (this.users.has(name)) throw new RiftError("USER_EXISTS", name);
    const id = this.nextId++;
    this.users.set(name, { id, password });
    return { userId: id, name };
  }
  async login(req: LoginRequest): Promise<LoginResult> {
    if (this.gate) await this.gate;
    if ("token" in req) {
      const [name] = req.token.split(":");
      const u = this.users.get(name ?? "");
      if (!u || !req.token.endsWith(":valid-token")) throw new RiftError("AUTH_TOKEN_INVALID");
      return { account: { userId: u.id, name: name! }, token: req.token, zone: this.zone };
    }
    const u = this.users.get(req.name);
    if (!u || u.password !== req.password) throw new RiftError("AUTH_FAILED");
    return { account: { userId: u.id, name: req.name }, token: `${req.name}:valid-token`, zone: this.zone };
  }
}

class FakeRouter implements UserRouterApi {
  attached: { user: number; zone: string; client: RoutedClient }[] = [];
  forwarded: [number, string, unknown][] = [];
  detached: [number, string][] = [];
  attach(user: number, _name: string, zone: string, client: RoutedClient): void {
    this.attached.push({ user, zone, client });
  }
  forward(user: number, type: string, body: unknown): boolean {
    this.forwarded.push([user, type, body]);
    return true;
  }
  detach(user: number, reason: string): void {
    this.detached.push([user, reason]);
  }
}

const limits: ConnectionLimits = {
  maxPayloadBytes: 4096,
  handshakeTimeoutMs: 1000,
  rateLimit: { messagesPerSec: 1000, burst: 1000 },
  sendQueue: { maxMessages: 8, maxBytes: 100_000 },
  closeGraceMs: 50,
};

let auth: FakeAuth;
let router: FakeRouter;
let sessions: SessionHub<ClientConnection>;
let registry: Registry;
let metrics: ReturnType<typeof createGatewayMetrics>;

function connect(over: Partial<ConnectionLimits> = {}) {
  const socket = new FakeSocket();
  const conn = new ClientConnection(socket, {
    gatewayId: "gw-test",
    features: ["move"],
    limits: { ...limits, ...over },
    auth,
    sessions,
    router,
    metrics,
    log: silentLogger(),
  });
  const send = (type: string, body: unknown) => conn.onMessage(encodeEnvelope(type, body), true);
  return { socket, conn, send };
}

const closeOf = (key: ErrorKey) => (ErrorCatalog[key] as ErrorDef).close;
const flush = () => new Promise((r) => setImmediate(r));

async function loggedIn(name = "alice") {
  if (!auth.users.has(name)) await auth.register(name, "password1");
  const c = connect();
  c.send("hello", { proto: PROTOCOL_VERSION, client: "t" });
  c.send("login", { name, password: "password1" });
  await flush();
  return c;
}

beforeEach(() => {
  auth = new FakeAuth();
  router = new FakeRouter();
  sessions = new SessionHub();
  registry = new Registry();
  metrics = createGatewayMetrics(registry);
});
afterEach(() => {
  vi.useRealTimers();
});

describe("handshake", () => {
  test("hello → welcome with the protocol version, gateway id and features", () => {
    const { socket, send, conn } = connect();
    send("hello", { proto: PROTOCOL_VERSION, client: "t" });
    expect(socket.messages()).toEqual([["welcome", { proto: PROTOCOL_VERSION, server: "gw-test", features: ["move"] }]]);
    expect(conn.state).toBe("auth");
  });

  test("a wrong protocol version in hello closes with PROTO_VERSION", () => {
    const { socket, send } = connect();
    send("hello", { proto: 99, client: "t" });
    expect(socket.closed?.code).toBe(closeOf("PROTO_VERSION"));
    expect(socket.closed?.reason).toMatch(/^RIFT_PROTO_VERSION/);
  });

  test("register → registered; a taken name is a non-fatal error reply", async () => {
    const { socket, send, conn } = connect();
    send("hello", { proto: PROTOCOL_VERSION, client: "t" });
    send("register", { name: "bob_1", password: "secret99" });
    await flush();
    send("register", { name: "bob_1", password: "secret99" });
    await flush();
    const msgs = socket.messages();
    expect(msgs[1]).toEqual(["registered", { userId: 1 }]);
    expect(msgs[2]?.[0]).toBe("error");
    expect(msgs[2]?.[1].code).toBe("RIFT_USER_EXISTS");
    expect(socket.closed).toBeUndefined();
    expect(conn.state).toBe("auth");
  });

  test("login → session, then the router attaches the user in its zone", async () => {
    const { socket, conn } = await loggedIn("alice");
    expect(socket.messages()[1]).toEqual(["session", { userId: 1, name: "alice", token: "alice:valid-token" }]);
    expect(router.attached).toEqual([{ user: 1, zone: "z1", client: conn }]);
    expect(conn.state).toBe("attaching");
    conn.entered(encodeEnvelope("enter", { zone: "z1" }));
    expect(conn.state).toBe("playing");
    expect(socket.types().at(-1)).toBe("enter");
  });

  test("login by token works; a bad token closes with AUTH_TOKEN_INVALID", async () => {
    await auth.register("carol", "password1");
    const good = connect();
    good.send("hello", { proto: PROTOCOL_VERSION, client: "t" });
    good.send("login", { token: "carol:valid-token" });
    await flush();
    expect(good.socket.types()).toEqual(["welcome", "session"]);
    const bad = connect();
    bad.send("hello", { proto: PROTOCOL_VERSION, client: "t" });
    bad.send("login", { token: "carol:forged-token" });
    await flush();
    expect(bad.socket.closed?.code).toBe(closeOf("AUTH_TOKEN_INVALID"));
  });

  test("wrong password closes with AUTH_FAILED", async () => {
    await auth.register("dave", "password1");
    const { socket, send } = connect();
    send("hello", { proto: PROTOCOL_VERSION, client: "t" });
    send("login", { name: "dave", password: "wrong-password" });
    await flush();
    expect(socket.closed?.code).toBe(closeOf("AUTH_FAILED"));
    expect(router.attached).toEqual([]);
  });

  test("no session within the deadline closes with HANDSHAKE_TIMEOUT", () => {
    vi.useFakeTimers();
    const { socket, send } = connect();
    send("hello", { proto: PROTOCOL_VERSION, client: "t" });
    vi.advanceTimersByTime(limits.handshakeTimeoutMs - 1);
    expect(socket.closed).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(socket.closed?.code).toBe(closeOf("HANDSHAKE_TIMEOUT"));
    vi.advanceTimersByTime(limits.closeGraceMs);
    expect(socket.terminated).toBe(true);
  });

  test("a logged-in connection is not hit by the handshake deadline", async () => {
    const { socket } = await loggedIn();
    vi.useFakeTimers();
    vi.advanceTimersByTime(limits.handshakeTimeoutMs * 2);
    expect(socket.closed).toBeUndefined();
  });
});

describe("bad input closes only this connection with the catalogued code", () => {
  const cases: [string, (c: ReturnType<typeof connect>) => void, ErrorKey][] = [
    ["text frame", (c) => c.conn.onMessage(Buffer.from("hello"), false), "PROTO_NOT_BINARY"],
    ["undecodable bytes", (c) => c.conn.onMessage(Uint8Array.from([0xc1]), true), "PROTO_MALFORMED"],
    ["truncated msgpack", (c) => c.conn.onMessage(encodeEnvelope("hello", { proto: 1, client: "x" }).subarray(0, 5), true), "PROTO_MALFORMED"],
    ["not an envelope", (c) => c.conn.onMessage(pack({ a: 1 }), true), "PROTO_MALFORMED"],
    ["two envelopes in one frame", (c) => c.conn.onMessage(Buffer.concat([encodeEnvelope("ping", { t: 1 }), encodeEnvelope("ping", { t: 2 })]), true), "PROTO_MALFORMED"],
    ["envelope version", (c) => c.conn.onMessage(pack([2, "hello", { proto: 1, client: "x" }]), true), "PROTO_VERSION"],
    ["unknown type", (c) => c.send("teleport", { x: 1 }), "PROTO_UNKNOWN_TYPE"],
    ["schema violation", (c) => c.send("hello", { proto: "one", client: "x" }), "PROTO_SCHEMA"],
    ["extra field", (c) => c.send("hello", { proto: 1, client: "x", admin: true }), "PROTO_SCHEMA"],
    ["oversized frame", (c) => c.conn.onMessage(new Uint8Array(limits.maxPayloadBytes + 1), true), "PROTO_TOO_LARGE"],
    ["login before hello", (c) => c.send("login", { name: "alice", password: "password1" }), "PROTO_UNEXPECTED"],
    ["ping before hello", (c) => c.send("ping", { t: 1 }), "PROTO_UNEXPECTED"],
    ["move before login", (c) => (c.send("hello", { proto: 1, client: "x" }), c.send("move", { seq: 1, x: 1, y: 1 })), "PROTO_UNEXPECTED"],
    ["hello twice", (c) => (c.send("hello", { proto: 1, client: "x" }), c.send("hello", { proto: 1, client: "x" })), "PROTO_UNEXPECTED"],
  ];
  for (const [name, act, key] of cases) {
    test(`${name} → ${key}`, () => {
      const victim = connect();
      const bystander = connect();
      bystander.send("hello", { proto: PROTOCOL_VERSION, client: "t" });
      act(victim);
      expect(victim.socket.closed?.code).toBe(closeOf(key));
      expect(victim.conn.state).toBe("closed");
      expect(victim.conn.closedWith).toEqual({ code: closeOf(key), key });
      // later input on the closed connection is ignored, the other connection works
      victim.send("ping", { t: 1 });
      bystander.send("ping", { t: 5 });
      expect(bystander.socket.closed).toBeUndefined();
      expect(bystander.socket.types()).toEqual(["welcome", "pong"]);
    });
  }

  test("more messages than the rate limit allows → RATE_LIMITED", () => {
    const { socket, send } = connect({ rateLimit: { messagesPerSec: 1, burst: 3 } });
    send("hello", { proto: 1, client: "x" });
    send("ping", { t: 1 });
    send("ping", { t: 2 });
    expect(socket.closed).toBeUndefined();
    send("ping", { t: 3 });
    expect(socket.closed?.code).toBe(closeOf("RATE_LIMITED"));
  });

  test("closing counts the close under its code and key", async () => {
    const { send } = connect();
    send("teleport", {});
    const text = await registry.metrics();
    expect(text).toMatch(/rift_gateway_closes_total\{code="4003",key="PROTO_UNKNOWN_TYPE"\} 1/);
  });

  test("close reasons are printable ASCII and at most 123 bytes", () => {
    const r = closeReason("PROTO_SCHEMA", "é".repeat(300));
    expect(Buffer.byteLength(r)).toBeLessThanOrEqual(123);
    expect(r).toMatch(/^[\x20-\x7e]+$/);
  });
});

describe("playing", () => {
  test("inputs before enter are dropped; after enter they are forwarded", async () => {
    const { conn, send } = await loggedIn();
    send("move", { seq: 1, x: 1, y: 2 });
    expect(router.forwarded).toEqual([]);
    conn.entered(encodeEnvelope("enter", {}));
    send("move", { seq: 2, x: 3, y: 4 });
    send("travel", { zone: "z2" });
    expect(router.forwarded).toEqual([
      [1, "move", { seq: 2, x: 3, y: 4 }],
      [1, "travel", { zone: "z2" }],
    ]);
  });

  test("a replayed move sequence closes with PROTO_REPLAY", async () => {
    const { conn, send, socket } = await loggedIn();
    conn.entered(encodeEnvelope("enter", {}));
    send("move", { seq: 5, x: 1, y: 1 });
    send("move", { seq: 5, x: 1, y: 1 });
    expect(socket.closed?.code).toBe(closeOf("PROTO_REPLAY"));
  });

  test("ping is answered by the gateway itself", async () => {
    const { send, socket } = await loggedIn();
    send("ping", { t: 123.5 });
    const [type, body] = socket.messages().at(-1)!;
    expect(type).toBe("pong");
    expect(body.t).toBe(123.5);
    expect(typeof body.s).toBe("number");
  });

  test("relocating sends relocated and pauses inputs until the next enter", async () => {
    const { conn, send, socket } = await loggedIn();
    conn.entered(encodeEnvelope("enter", {}));
    conn.relocating("z2", "field-b");
    expect(socket.messages().at(-1)).toEqual(["relocated", { zone: "z2", server: "field-b" }]);
    send("move", { seq: 1, x: 0, y: 0 });
    expect(router.forwarded).toEqual([]);
  });

  test("the client closing detaches the user", async () => {
    const { conn } = await loggedIn();
    conn.onSocketClose(1000);
    expect(router.detached).toEqual([[1, "disconnected"]]);
    expect(sessions.holder(1)).toBeUndefined();
  });

  test("kick closes with the key's close code and detaches", async () => {
    const { conn, socket } = await loggedIn();
    conn.kick("PERSIST_REJECTED");
    expect(socket.closed?.code).toBe(closeOf("PERSIST_REJECTED"));
    expect(router.detached).toEqual([[1, "PERSIST_REJECTED"]]);
  });

  test("a second login of the same user replaces the first (SESSION_REPLACED)", async () => {
    const first = await loggedIn("erin");
    first.conn.entered(encodeEnvelope("enter", {}));
    const second = await loggedIn("erin");
    expect(first.socket.closed?.code).toBe(closeOf("SESSION_REPLACED"));
    // the replaced connection must not detach the user from its new connection
    expect(router.detached).toEqual([]);
    expect(router.attached.map((a) => a.client)).toEqual([first.conn, second.conn]);
    expect(sessions.holder(first.conn.user!)).toBe(second.conn);
    expect(second.socket.closed).toBeUndefined();
  });

  test("a client that stops reading is closed with SEND_QUEUE_FULL", async () => {
    const { conn, socket } = await loggedIn();
    conn.entered(encodeEnvelope("enter", {}));
    socket.autoDrain = false;
    const before = socket.frames.length;
    for (let i = 0; i < 20; i++) conn.deliver(new Uint8Array(16));
    expect(socket.closed?.code).toBe(closeOf("SEND_QUEUE_FULL"));
    expect(socket.frames.length - before).toBe(limits.sendQueue.maxMessages);
    expect(router.detached).toEqual([[1, "SEND_QUEUE_FULL"]]);
  });

  test("a login finishing after the connection closed is ignored", async () => {
    await auth.register("frank", "password1");
    let open!: () => void;
    auth.gate = new Promise((r) => (open = r));
    const { send, conn } = connect();
    send("hello", { proto: 1, client: "x" });
    send("login", { name: "frank", password: "password1" });
    conn.onSocketClose(1001);
    open();
    await flush();
    expect(router.attached).toEqual([]);
    expect(sessions.size).toBe(0);
  });
});

describe("input→observed latency probe", () => {
  function cellFrame(id: number, seq: number): Uint8Array {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(id, 0);
    rec.writeFloatLE(1, 4);
    rec.writeFloatLE(2, 8);
    rec.writeUInt32LE(seq, 12);
    return encodeEnvelope("cell", { c: 0, tick: 1, m: rec, g: [] });
  }
  const observed = async () =>
    ((await registry.getSingleMetric("rift_gateway_input_latency_seconds")!.get()).values.find((v) => (v as { metricName?: string }).metricName?.endsWith("_count"))?.value ?? 0);

  test("a move is observed once the client is sent its own record at that seq", async () => {
    const { send, conn } = await loggedIn();
    const user = router.attached[0]!.user;
    conn.entered(encodeEnvelope("pong", { t: 0, s: 0 }));
    send("move", { seq: 5, x: 1, y: 2 });
    conn.deliver(cellFrame(user, 4)); // older input: not yet observed
    conn.deliver(cellFrame(user + 1, 5)); // someone else's record
    expect(await observed()).toBe(0);
    conn.deliver(cellFrame(user, 5));
    expect(await observed()).toBe(1);
    conn.deliver(cellFrame(user, 6)); // no probe pending: nothing more
    expect(await observed()).toBe(1);
  });
});
