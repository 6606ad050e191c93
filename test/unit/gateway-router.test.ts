/**
 * The user router with in-memory membership and fake links: attach/enter, fan-out, transfer,
 * server loss and re-attach, deadlines, kicks and rejections.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import type { ErrorKey } from "../../src/core/errors.js";
import { MemoryCluster } from "../../src/core/cluster/memory.js";
import { MembershipZonePlacement } from "../../src/core/cluster/placement.js";
import type { MemberInfo, MemberView } from "../../src/core/cluster/types.js";
import { silentLogger } from "../../src/core/log.js";
import { Registry } from "../../src/core/metrics.js";
import { fnv1a, pickLinkPort } from "../../src/core/transport/link-client.js";
import type { GatewayOp, ServerOp } from "../../src/core/transport/link-protocol.js";
import { createGatewayMetrics } from "../../src/gateway/metrics.js";
import { UserRouter, type LinkHandlers, type LinkHandle } from "../../src/gateway/router.js";
import type { RoutedClient } from "../../src/gateway/types.js";

class FakeLink implements LinkHandle {
  readonly sent: GatewayOp[] = [];
  open = false;
  closed = false;
  refuse = false;
  constructor(
    readonly url: string,
    readonly h: LinkHandlers,
  ) {}
  send(op: GatewayOp): boolean {
    if (this.closed || this.refuse) return false;
    this.sent.push(op);
    return true;
  }
  flush(): void {}
  async close(): Promise<void> {
    this.fail("closed");
  }
  accept(): void {
    this.open = true;
    this.h.onOpen();
  }
  fail(reason = "broken"): void {
    if (this.closed) return;
    this.closed = true;
    this.h.onClose(reason);
  }
  server(...ops: ServerOp[]): void {
    this.h.onOps(ops);
  }
  ops(kind: GatewayOp[0]): GatewayOp[] {
    return this.sent.filter((o) => o[0] === kind);
  }
}

class FakeClient implements RoutedClient {
  events: string[] = [];
  frames: Uint8Array[] = [];
  kicked: ErrorKey | undefined;
  entered(enter: Uint8Array): void {
    this.events.push(`enter:${Buffer.from(enter).toString()}`);
  }
  relocating(zone: string, server: string): void {
    this.events.push(`relocated:${zone}:${server}`);
  }
  deliver(frame: Uint8Array): void {
    this.frames.push(frame);
  }
  kick(key: ErrorKey): void {
    this.kicked = key;
  }
}

const GW = "gw-1";
let cluster: MemoryCluster;
let view: MemberView;
let placement: MembershipZonePlacement;
let links: FakeLink[];
let router: UserRouter;
const TIMEOUT = 10_000;

function field(id: string, zones: string[], ports = [9000]): MemberInfo {
  return { role: "field", id, host: "10.0.0.1", opsPort: 1, linkPorts: ports, zones, colour: "blue", version: "1", load: 0, startedAt: 0 };
}
/** The current (not closed) link to member `id`. */
const linkTo = (id: string) => links.find((l) => l.url === urlOf(id) && !l.closed);
const urls = new Map<string, string>();
function urlOf(id: string): string {
  return urls.get(id)!;
}
function addField(id: string, zones: string[], port: number): void {
  urls.set(id, `ws://10.0.0.1:${port}`);
  cluster.set(field(id, zones, [port]));
}
const enterBytes = (s: string) => Buffer.from(s);

beforeEach(() => {
  vi.useFakeTimers();
  cluster = new MemoryCluster();
  view = cluster.view();
  placement = new MembershipZonePlacement(view, "field");
  links = [];
  router = new UserRouter({
    gatewayId: GW,
    placement,
    view,
    metrics: createGatewayMetrics(new Registry()),
    log: silentLogger(),
    reattachTimeoutMs: TIMEOUT,
    now: () => Date.now(),
    sweepMs: 100,
    retryMs: 200,
    linkFactory: (target, h) => {
      const l = new FakeLink(target.url, h);
      links.push(l);
      return l;
    },
  });
});
afterEach(async () => {
  await router.close();
  vi.useRealTimers();
});

function attached(user: number, id = "f1", name = "u"): FakeClient {
  const c = new FakeClient();
  router.attach(user, name, "z1", c);
  const l = linkTo(id)!;
  l.accept();
  l.server(["attached", { user, enter: enterBytes(`${id}:${user}`) }]);
  return c;
}

describe("UserRouter", () => {
  test("attaches a user at the zone owner over one link and forwards its enter", () => {
    addField("f1", ["z1"], 9001);
    const c = new FakeClient();
    router.attach(7, "alice", "z1", c);
    expect(links).toHaveLength(1);
    expect(links[0]!.url).toBe("ws://10.0.0.1:9001");
    // hello is the link client's job; the router's first op is the attach
    expect(links[0]!.sent).toEqual([["attach", { user: 7, name: "alice", zone: "z1" }]]);
    expect(router.forward(7, "move", {})).toBe(false); // not attached yet
    links[0]!.accept();
    links[0]!.server(["attached", { user: 7, enter: enterBytes("E") }]);
    expect(c.events).toEqual(["enter:E"]);
    expect(router.forward(7, "move", { seq: 1 })).toBe(true);
    expect(links[0]!.ops("in")).toEqual([["in", 7, "move", { seq: 1 }]]);
    // a second user reuses the link
    attached(8);
    expect(links).toHaveLength(1);
  });

  test("tick fan-out: each user gets direct + watched cells, the same buffers", () => {
    addField("f1", ["z1"], 9001);
    const a = attached(1);
    const b = attached(2);
    const l = links[0]!;
    const c1 = Buffer.from("c1");
    const c2 = Buffer.from("c2");
    l.server([
      "tick",
      {
        tick: 1,
        cells: [
          [1, c1],
          [2, c2],
        ],
        subs: [
          [1, [1]],
          [2, [1, 2]],
        ],
        direct: [[2, [Buffer.from("d")]]],
      },
    ]);
    expect(a.frames.map((f) => Buffer.from(f).toString())).toEqual(["c1"]);
    expect(b.frames.map((f) => Buffer.from(f).toString())).toEqual(["dc1c2"]);
    // subs persist across ticks
    l.server(["tick", { tick: 2, cells: [[2, c2]], subs: [], direct: [] }]);
    expect(b.frames.map((f) => Buffer.from(f).toString())).toEqual(["dc1c2", "c2"]);
    expect(a.frames).toHaveLength(1);
  });

  test("ops for users routed elsewhere are ignored", () => {
    addField("f1", ["z1"], 9001);
    const a = attached(1);
    links[0]!.server(["kick", { user: 99, key: "SERVER_GONE" }], ["tick", { tick: 1, cells: [[1, Buffer.from("x")]], subs: [[99, [1]]], direct: [[99, [Buffer.from("y")]]] }]);
    expect(a.kicked).toBeUndefined();
    expect(a.frames).toEqual([]);
  });

  test("detach is sent when the client goes; only by the client holding the route", () => {
    addField("f1", ["z1"], 9001);
    const a = attached(1);
    router.detach(1, "disconnected", new FakeClient());
    expect(links[0]!.ops("detach")).toEqual([]);
    router.detach(1, "disconnected", a);
    expect(links[0]!.ops("detach")).toEqual([["detach", { user: 1, reason: "disconnected" }]]);
    expect(router.stats().routes).toBe(0);
  });

  test("a re-login of the same user rebinds the route and re-attaches (detach first)", () => {
    addField("f1", ["z1"], 9001);
    const first = attached(1);
    const second = new FakeClient();
    router.attach(1, "u", "z1", second);
    const l = links[0]!;
    expect(l.sent.slice(-2)).toEqual([
      ["detach", { user: 1, reason: "session replaced" }],
      ["attach", { user: 1, name: "u", zone: "z1" }],
    ]);
    l.server(["attached", { user: 1, enter: enterBytes("again") }]);
    expect(second.events).toEqual(["enter:again"]);
    expect(first.events).toEqual(["enter:f1:1"]);
    // the old client going away later does not detach the user
    router.detach(1, "disconnected", first);
    expect(l.ops("detach")).toHaveLength(1);
  });

  test("transfer: relocated, then attach at the new zone's owner", () => {
    addField("f1", ["z1"], 9001);
    addField("f2", ["z2"], 9002);
    const a = attached(1);
    links[0]!.server(["transfer", { user: 1, zone: "z2" }]);
    expect(a.events.at(-1)).toBe("relocated:z2:f2");
    const l2 = linkTo("f2")!;
    expect(l2.sent).toEqual([["attach", { user: 1, name: "u", zone: "z2" }]]);
    // no detach to the old server: it already released the user
    expect(links[0]!.ops("detach")).toEqual([]);
    l2.accept();
    l2.server(["attached", { user: 1, enter: enterBytes("z2") }]);
    expect(a.events.at(-1)).toBe("enter:z2");
    expect(router.routeOf(1)).toEqual({ state: "attached", server: "f2", zone: "z2", channel: "z2" });
  });

  test("link lost: the client stays, is relocated and re-attached when the link is back", () => {
    addField("f1", ["z1"], 9001);
    const a = attached(1);
    links[0]!.fail("socket hang up");
    expect(a.events.at(-1)).toBe("relocated:z1:f1");
    expect(a.kicked).toBeUndefined();
    expect(router.routeOf(1)?.state).toBe("waiting");
    // backoff, then a new link to the same member, which re-attaches the user
    vi.advanceTimersByTime(500);
    const l2 = linkTo("f1")!;
    expect(l2).not.toBe(links[0]);
    expect(l2.sent).toEqual([["attach", { user: 1, name: "u", zone: "z1" }]]);
    l2.accept();
    l2.server(["attached", { user: 1, enter: enterBytes("back") }]);
    expect(a.events.at(-1)).toBe("enter:back");
  });

  test("owner leaves: users wait and move to the next owner of the zone", () => {
    addField("f1", ["z1"], 9001);
    const a = attached(1);
    cluster.delete("field", "f1");
    expect(a.events.at(-1)).toBe("relocated:z1:");
    expect(links[0]!.closed).toBe(true);
    addField("f9", ["z1"], 9009);
    const l = linkTo("f9")!;
    expect(l.sent).toEqual([["attach", { user: 1, name: "u", zone: "z1" }]]);
  });

  test("no server comes back within the deadline → SERVER_GONE", () => {
    addField("f1", ["z1"], 9001);
    const a = attached(1);
    cluster.delete("field", "f1");
    vi.advanceTimersByTime(TIMEOUT - 500);
    expect(a.kicked).toBeUndefined();
    vi.advanceTimersByTime(1000);
    expect(a.kicked).toBe("SERVER_GONE");
    expect(router.stats().routes).toBe(0);
  });

  test("no server for the zone at login within the deadline → NO_SERVER_FOR_ZONE", () => {
    const c = new FakeClient();
    router.attach(1, "u", "nowhere", c);
    vi.advanceTimersByTime(TIMEOUT + 500);
    expect(c.kicked).toBe("NO_SERVER_FOR_ZONE");
  });

  test("a server that never answers the attach hits the same deadline", () => {
    addField("f1", ["z1"], 9001);
    const c = new FakeClient();
    router.attach(1, "u", "z1", c);
    links[0]!.accept();
    vi.advanceTimersByTime(TIMEOUT + 500);
    expect(c.kicked).toBe("NO_SERVER_FOR_ZONE");
    expect(links[0]!.ops("detach")).toEqual([["detach", { user: 1, reason: "attach timeout" }]]);
  });

  test("kick closes the client with the key and forgets the route without a detach", () => {
    addField("f1", ["z1"], 9001);
    const a = attached(1);
    links[0]!.server(["kick", { user: 1, key: "PERSIST_REJECTED", reason: "db" }]);
    expect(a.kicked).toBe("PERSIST_REJECTED");
    router.detach(1, "PERSIST_REJECTED", a);
    expect(links[0]!.ops("detach")).toEqual([]);
  });

  test("kick with a RIFT_ code or an unknown key maps to the catalog (INTERNAL when unknown)", () => {
    addField("f1", ["z1"], 9001);
    const a = attached(1);
    const b = attached(2);
    links[0]!.server(["kick", { user: 1, key: "RIFT_OWNERSHIP_LOST" }], ["kick", { user: 2, key: "NOT_A_KEY" }]);
    expect(a.kicked).toBe("OWNERSHIP_LOST");
    expect(b.kicked).toBe("INTERNAL");
  });

  test("rejected: NO_SERVER_FOR_ZONE retries; other codes close the client", () => {
    addField("f1", ["z1"], 9001);
    const a = new FakeClient();
    router.attach(1, "u", "z1", a);
    const l = links[0]!;
    l.accept();
    l.server(["rejected", { user: 1, code: "RIFT_NO_SERVER_FOR_ZONE" }]);
    expect(a.kicked).toBeUndefined();
    vi.advanceTimersByTime(1200);
    expect(l.ops("attach")).toHaveLength(2);
    l.server(["rejected", { user: 1, code: "DEPENDENCY_UNAVAILABLE" }]);
    expect(a.kicked).toBe("DEPENDENCY_UNAVAILABLE");
  });

  test("a link that refuses an attach (full) is dropped and the user waits", () => {
    addField("f1", ["z1"], 9001);
    const c = new FakeClient();
    router.attach(1, "u", "z1", c);
    const l = links[0]!;
    l.accept();
    l.server(["attached", { user: 1, enter: enterBytes("E") }]);
    const d = new FakeClient();
    l.refuse = true;
    router.attach(2, "v", "z1", d);
    expect(l.closed).toBe(true);
    expect(c.events.at(-1)).toBe("relocated:z1:f1");
    expect(router.routeOf(2)?.state).toBe("waiting");
  });

  test("close detaches every routed user and closes the links", async () => {
    addField("f1", ["z1"], 9001);
    attached(1);
    attached(2);
    const l = links[0]!;
    await router.close();
    expect(l.ops("detach").map((o) => (o[1] as { user: number }).user).sort()).toEqual([1, 2]);
    expect(l.closed).toBe(true);
  });
});

describe("link port choice", () => {
  test("hashes the gateway id over the worker ports, deterministically", () => {
    expect(pickLinkPort([], "gw")).toBeUndefined();
    expect(pickLinkPort([5000, 5001, 5002], "gw-a")).toBe([5000, 5001, 5002][fnv1a("gw-a") % 3]);
    expect(pickLinkPort([5000, 5001, 5002], "gw-a")).toBe(pickLinkPort([5000, 5001, 5002], "gw-a"));
    const used = new Set(Array.from({ length: 50 }, (_, i) => pickLinkPort([1, 2, 3, 4], `gateway-${i}`)));
    expect(used.size).toBe(4);
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
  });
});

describe("UserRouter: zone moves", () => {
  test("planned move (old server still a member): no detach; the old server's transfer moves the user", () => {
    addField("f1", ["z1"], 9001);
    const c = attached(1, "f1");
    const old = linkTo("f1")!;
    // f2 takes z1 while f1 stays a member (drain): the gateway waits for f1's hand-over
    addField("f2", ["z1"], 9002);
    cluster.set(field("f1", [], [9001]));
    expect(old.ops("detach")).toEqual([]);
    expect(router.routeOf(1)).toMatchObject({ state: "attached", server: "f1" });
    old.server(["transfer", { user: 1, zone: "z1" }]);
    expect(c.events).toContain("relocated:z1:f2");
    expect(linkTo("f2")!.sent).toContainEqual(["attach", { user: 1, name: "u", zone: "z1" }]);
    expect(old.ops("detach")).toEqual([]);
  });

  test("planned move without a hand-over: forced after handoverTimeoutMs (10 s default)", () => {
    addField("f1", ["z1"], 9001);
    attached(1, "f1");
    const old = linkTo("f1")!;
    addField("f2", ["z1"], 9002);
    cluster.set(field("f1", [], [9001]));
    vi.advanceTimersByTime(9_000);
    expect(old.ops("detach")).toEqual([]);
    vi.advanceTimersByTime(2_000);
    expect(old.ops("detach")).toEqual([["detach", { user: 1, reason: "hand-over timeout" }]]);
    expect(linkTo("f2")!.sent).toContainEqual(["attach", { user: 1, name: "u", zone: "z1" }]);
  });

  test("crash (old server gone from membership): detach and re-attach at the new owner at once", () => {
    addField("f1", ["z1"], 9001);
    attached(1, "f1");
    const old = linkTo("f1")!;
    addField("f2", ["z1"], 9002);
    cluster.delete("field", "f1");
    expect(old.closed).toBe(true);
    vi.advanceTimersByTime(150);
    expect(linkTo("f2")!.sent).toContainEqual(["attach", { user: 1, name: "u", zone: "z1" }]);
  });
});
