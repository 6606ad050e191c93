/**
 * The gateway's `analytics` message with doubles: acked after the sink accepted it (never
 * forwarded to a game server), `error RIFT_ANALYTICS_UNAVAILABLE` when the sink fails or is
 * absent, refused before login, schema limits close the connection; login/logout game-log rows.
 */
import { describe, expect, test } from "vitest";
import { ErrorCatalog, type ErrorDef } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/log.js";
import { createRegistry } from "../../src/core/metrics.js";
import type { AnalyticsEvent, AnalyticsSink } from "../../src/core/ops/analytics.js";
import type { GameLogKind, GameLogSink } from "../../src/core/ops/game-log.js";
import { encodeEnvelope, PROTOCOL_VERSION } from "../../src/core/protocol/codec.js";
import type { Authenticator, LoginRequest, LoginResult } from "../../src/gateway/auth.js";
import { ClientConnection } from "../../src/gateway/connection.js";
import { createGatewayMetrics } from "../../src/gateway/metrics.js";
import { SessionHub } from "../../src/gateway/sessions.js";
import type { UserRouterApi } from "../../src/gateway/types.js";
import { FakeClientSocket } from "../helpers/gateway-doubles.js";

const Sock = FakeClientSocket;

const auth: Authenticator = {
  register: async () => ({ userId: 1, name: "a" }),
  login: async (_r: LoginRequest): Promise<LoginResult> => ({ account: { userId: 42, name: "alice" }, token: "alice:token-xyz", zone: "z1" }),
};

function setup(sink?: AnalyticsSink) {
  const forwarded: string[] = [];
  const router: UserRouterApi = { attach: () => {}, forward: (_u, t) => (forwarded.push(t), true), detach: () => {} };
  const logged: [GameLogKind, number, Record<string, unknown> | undefined][] = [];
  const gameLog: GameLogSink = { log: (k, u, d) => void logged.push([k, u, d]) };
  const sock = new Sock();
  const conn = new ClientConnection(sock, {
    gatewayId: "gw",
    features: [],
    limits: { maxPayloadBytes: 4096, handshakeTimeoutMs: 5000, rateLimit: { messagesPerSec: 1000, burst: 1000 }, sendQueue: { maxMessages: 100, maxBytes: 1e6 }, closeGraceMs: 50 },
    auth,
    sessions: new SessionHub<ClientConnection>(),
    router,
    metrics: createGatewayMetrics(createRegistry({})),
    log: silentLogger(),
    ...(sink ? { analytics: sink } : {}),
    gameLog,
  });
  const send = (t: string, b: unknown) => conn.onMessage(encodeEnvelope(t, b), true);
  return { sock, conn, send, forwarded, logged };
}
const tick = () => new Promise((r) => setImmediate(r));

async function login(s: ReturnType<typeof setup>) {
  s.send("hello", { proto: PROTOCOL_VERSION, client: "t" });
  s.send("login", { name: "alice", password: "password1" });
  await tick();
}

describe("gateway analytics", () => {
  test("acked after the sink accepted it; never forwarded; login/logout logged", async () => {
    const got: AnalyticsEvent[] = [];
    const s = setup({ append: async (e) => (got.push(e), "1-0") });
    await login(s);
    s.send("analytics", { id: 7, name: "tutorial.step", props: { step: 2, ok: true, s: "x", n: null }, at: 123 });
    await tick();
    expect(got).toEqual([expect.objectContaining({ userId: 42, name: "tutorial.step", props: { step: 2, ok: true, s: "x", n: null }, clientAt: 123 })]);
    expect(s.sock.messages().filter((m) => m[0] === "analyticsAck")).toEqual([["analyticsAck", { id: 7 }]]);
    expect(s.forwarded).toEqual([]);
    s.conn.onSocketClose(1000);
    expect(s.logged.map((l) => [l[0], l[1]])).toEqual([["login", 42], ["logout", 42]]);
  });

  test("sink failure or no sink → error RIFT_ANALYTICS_UNAVAILABLE (re: analytics), connection stays open", async () => {
    for (const sink of [{ append: async () => Promise.reject(new Error("redis down")) }, undefined]) {
      const s = setup(sink);
      await login(s);
      s.send("analytics", { id: 1, name: "a", props: {} });
      await tick();
      expect(s.sock.messages().find((m) => m[0] === "error")?.[1]).toMatchObject({ code: ErrorCatalog.ANALYTICS_UNAVAILABLE.code, re: "analytics" });
      expect(s.sock.closed).toBeUndefined();
    }
  });

  test("before login → PROTO_UNEXPECTED; too many props / bad name → closed with a PROTO_ code", async () => {
    const s0 = setup({ append: async () => "1-0" });
    s0.send("hello", { proto: PROTOCOL_VERSION, client: "t" });
    s0.send("analytics", { id: 1, name: "a", props: {} });
    expect(s0.sock.closed?.code).toBe((ErrorCatalog.PROTO_UNEXPECTED as ErrorDef).close);
    for (const bad of [{ id: 1, name: "a", props: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])) }, { id: 1, name: "Bad Name", props: {} }, { id: 1, name: "a", props: { k: "x".repeat(257) } }, { id: 1, name: "a", props: { k: { nested: 1 } } }]) {
      const s = setup({ append: async () => "1-0" });
      await login(s);
      s.send("analytics", bad);
      expect(s.sock.closed?.reason).toMatch(/^RIFT_PROTO_/);
    }
  });
});
