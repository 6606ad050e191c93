/**
 * The gateway connection with an external shop catalogue (src/gateway/shop-catalog.ts) as a
 * double: `shopList` is answered when the catalogue's promise settles; the `shop` switch is
 * still checked first (no call when off); nothing is sent if the connection closed meanwhile.
 */
import { describe, expect, test } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { Registry } from "../../src/core/metrics.js";
import { emptySnapshot, featureEnabled, featuresFor, type OpsSnapshot } from "../../src/core/ops/flags.js";
import { encodeEnvelope, PROTOCOL_VERSION } from "../../src/core/protocol/codec.js";
import type { Authenticator, LoginRequest, LoginResult } from "../../src/gateway/auth.js";
import { ClientConnection } from "../../src/gateway/connection.js";
import { createGatewayMetrics } from "../../src/gateway/metrics.js";
import type { ShopCatalog } from "../../src/gateway/shop-catalog.js";
import type { ShopItem } from "../../src/gateway/shop.js";
import { SessionHub } from "../../src/gateway/sessions.js";
import type { UserRouterApi } from "../../src/gateway/types.js";
import { FakeClientSocket } from "../helpers/gateway-doubles.js";

const Sock = FakeClientSocket;

const auth: Authenticator = {
  register: async (name) => ({ userId: 1, name }),
  login: async (req: LoginRequest): Promise<LoginResult> => ({ account: { userId: 7, name: "name" in req ? req.name : "x" }, token: "t".repeat(12), zone: "z1" }),
};
const router: UserRouterApi = { attach: () => {}, forward: () => true, detach: () => {} };

/** A catalogue whose answers the test releases by hand. */
class ManualCatalog implements ShopCatalog {
  calls = 0;
  private waiting: ((items: readonly ShopItem[]) => void)[] = [];
  list(): Promise<readonly ShopItem[]> {
    this.calls++;
    return new Promise((r) => this.waiting.push(r));
  }
  release(items: readonly ShopItem[]): void {
    for (const r of this.waiting.splice(0)) r(items);
  }
  close(): void {}
}

const tick = () => new Promise((r) => setImmediate(r));

async function setup(state: { s: OpsSnapshot }, shop: ShopCatalog) {
  const socket = new Sock();
  const conn = new ClientConnection(socket, {
    gatewayId: "gw",
    features: ["move", "shop"],
    limits: { maxPayloadBytes: 4096, handshakeTimeoutMs: 1000, rateLimit: { messagesPerSec: 1000, burst: 1000 }, sendQueue: { maxMessages: 64, maxBytes: 100_000 }, closeGraceMs: 50 },
    auth,
    sessions: new SessionHub(),
    router,
    ops: { features: (b, u) => featuresFor(state.s, b, u, "gateway"), enabled: (f, b, u) => featureEnabled(state.s, b, f, u, "gateway") },
    shop,
    metrics: createGatewayMetrics(new Registry()),
    log: silentLogger(),
  });
  const send = (t: string, b: unknown) => conn.onMessage(encodeEnvelope(t, b), true);
  send("hello", { proto: PROTOCOL_VERSION, client: "t" });
  send("login", { name: "alice", password: "password1" });
  await tick();
  return { socket, conn, send };
}

describe("gateway shopList with an external catalogue", () => {
  test("answered when the catalogue settles; switch off → FEATURE_DISABLED without a call", async () => {
    const state = { s: emptySnapshot() };
    const shop = new ManualCatalog();
    const { socket, send } = await setup(state, shop);
    send("shopList", {});
    expect(shop.calls).toBe(1);
    expect(socket.messages().at(-1)![0]).not.toBe("shop"); // nothing yet: the catalogue has not answered
    shop.release([{ id: "x", name: "X", price: 3 }]);
    await tick();
    expect(socket.messages().at(-1)).toEqual(["shop", { items: [{ id: "x", name: "X", price: 3 }] }]);

    state.s = { ...state.s, switches: { shop: false } };
    send("shopList", {});
    expect(shop.calls).toBe(1);
    expect(socket.messages().at(-1)![1].code).toBe("RIFT_FEATURE_DISABLED");
  });

  test("no reply after the connection closed", async () => {
    const shop = new ManualCatalog();
    const { socket, conn, send } = await setup({ s: emptySnapshot() }, shop);
    send("shopList", {});
    conn.kick("KICKED", "test");
    const n = socket.frames.length;
    shop.release([{ id: "x", name: "X", price: 3 }]);
    await tick();
    expect(socket.frames.length).toBe(n);
  });
});
