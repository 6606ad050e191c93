/**
 * Feature gating in the gateway's connection (issue #9) with doubles: `welcome` carries the
 * features enabled for everyone, `features` follows `session` with the user's own set and is
 * pushed again only when it changes; a request for a disabled feature gets
 * `error RIFT_FEATURE_DISABLED` (re: the request type) and the connection stays open;
 * `notice` and `kick(KICKED)` for operator events.
 */
import { describe, expect, test } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { Registry } from "../../src/core/metrics.js";
import { emptySnapshot, evaluateFlag, featureEnabled, featuresFor, type OpsSnapshot } from "../../src/core/ops/flags.js";
import { encodeEnvelope, PROTOCOL_VERSION } from "../../src/core/protocol/codec.js";
import type { Authenticator, LoginRequest, LoginResult } from "../../src/gateway/auth.js";
import { ClientConnection } from "../../src/gateway/connection.js";
import { createGatewayMetrics } from "../../src/gateway/metrics.js";
import { SessionHub } from "../../src/gateway/sessions.js";
import type { FeatureGate } from "../../src/gateway/shop.js";
import type { UserRouterApi } from "../../src/gateway/types.js";
import { FakeClientSocket } from "../helpers/gateway-doubles.js";

const Sock = FakeClientSocket;

const auth: Authenticator = {
  register: async (name) => ({ userId: 1, name }),
  login: async (req: LoginRequest): Promise<LoginResult> => ({ account: { userId: 7, name: "name" in req ? req.name : "x" }, token: "t".repeat(12), zone: "z1" }),
};
const router: UserRouterApi = { attach: () => {}, forward: () => true, detach: () => {} };

function gate(state: { s: OpsSnapshot }): FeatureGate {
  return {
    features: (b, u) => featuresFor(state.s, b, u, "gateway"),
    enabled: (f, b, u) => featureEnabled(state.s, b, f, u, "gateway"),
  };
}

async function setup(state: { s: OpsSnapshot }) {
  const socket = new Sock();
  const conn = new ClientConnection(socket, {
    gatewayId: "gw",
    features: ["move", "chat", "shop"],
    limits: { maxPayloadBytes: 4096, handshakeTimeoutMs: 1000, rateLimit: { messagesPerSec: 1000, burst: 1000 }, sendQueue: { maxMessages: 64, maxBytes: 100_000 }, closeGraceMs: 50 },
    auth,
    sessions: new SessionHub(),
    router,
    ops: gate(state),
    metrics: createGatewayMetrics(new Registry()),
    log: silentLogger(),
  });
  const send = (t: string, b: unknown) => conn.onMessage(encodeEnvelope(t, b), true);
  send("hello", { proto: PROTOCOL_VERSION, client: "t" });
  send("login", { name: "alice", password: "password1" });
  await new Promise((r) => setImmediate(r));
  return { socket, conn, send };
}

describe("gateway feature gating", () => {
  test("welcome + features after session; shopList answered, or FEATURE_DISABLED while off; pushes only on change", async () => {
    const state = { s: emptySnapshot() };
    state.s.flags.beta = { "*": "100%" };
    const { socket, conn, send } = await setup(state);
    const m = socket.messages();
    expect(m[0]).toEqual(["welcome", { proto: PROTOCOL_VERSION, server: "gw", features: ["beta", "chat", "move", "shop"] }]);
    expect(m.map((x) => x[0])).toEqual(["welcome", "session", "features"]);

    send("shopList", {});
    expect(socket.messages().at(-1)![0]).toBe("shop");

    state.s = { ...state.s, switches: { shop: false } };
    conn.refreshFeatures();
    expect(socket.messages().at(-1)).toEqual(["features", { features: ["beta", "chat", "move"] }]);
    const n = socket.frames.length;
    conn.refreshFeatures(); // unchanged: nothing sent
    expect(socket.frames.length).toBe(n);

    send("shopList", {});
    expect(socket.messages().at(-1)).toEqual(["error", { code: "RIFT_FEATURE_DISABLED", message: "this feature is disabled: shop", re: "shopList" }]);
    expect(socket.closed).toBeUndefined();
    expect(conn.state).not.toBe("closed");

    conn.notice("hello all");
    expect(socket.messages().at(-1)).toEqual(["chatNotice", { kind: "announce", text: "hello all" }]);
    conn.kick("KICKED", "test");
    expect(socket.closed?.code).toBe(4040);
  });

  test("a percentage flag gives each user the pure evaluation of its id", async () => {
    const state = { s: emptySnapshot() };
    state.s.flags.beta = { "*": "50%" };
    const { socket } = await setup(state);
    const f = socket.messages().find((x) => x[0] === "features")![1].features as string[];
    expect(f.includes("beta")).toBe(evaluateFlag("beta", { "*": "50%" }, 7, "gateway"));
    // before login (welcome) a percentage flag counts as off
    expect(socket.messages()[0]![1].features).not.toContain("beta");
  });
});
