/** ChatService (pure logic) and the gateway's ChatRouter with in-memory doubles. */
import { describe, expect, it } from "vitest";
import { ChatService, type ChatBody, type HistoryStore } from "../../src/chat-server/service.js";
import { Moderation } from "../../src/chat-server/moderation.js";
import type { ChatGatewayOp, ChatServerOp } from "../../src/chat-server/protocol.js";
import { channelOwner } from "../../src/chat-server/ownership.js";
import { ChatRouter, createGatewayChatMetrics, type ChatLinkFactory } from "../../src/gateway/chat.js";
import { MemoryCluster } from "../../src/core/cluster/memory.js";
import { silentLogger } from "../../src/core/log.js";
import { Registry } from "../../src/core/metrics.js";
import { unpackStream } from "../../src/core/protocol/codec.js";
import { loadConfig } from "../../src/core/config.js";

const log = silentLogger();
const decode = (frames: Uint8Array[]) => frames.flatMap((f) => unpackStream(f) as [number, string, Record<string, unknown>][]).map(([, t, b]) => ({ t, b }));

function service(opts: Partial<ConstructorParameters<typeof ChatService>[0]> = {}) {
  let now = 1000;
  const s = new ChatService({ historySize: 3, maxLength: 10, fanout: "grouped", moderation: new Moderation(), log, now: () => now, ...opts });
  /** Drain and give, per link and user, the decoded messages. */
  const flush = () => {
    const got = new Map<string, { t: string; b: Record<string, unknown> }[]>();
    for (const [link, ops] of s.drain()) for (const [, d] of ops) for (const u of d.to) got.set(`${link}:${u}`, [...(got.get(`${link}:${u}`) ?? []), ...decode(d.msgs)]);
    return got;
  };
  return { s, flush, tick: (ms: number) => (now += ms) };
}

describe("ChatService", () => {
  it("fans a post out to the channel's members on every link, serves history on join", () => {
    const { s, flush } = service();
    s.handle(1, [["join", { user: 1, name: "al", ch: "world" }], ["join", { user: 2, name: "bo", ch: "world" }]]);
    s.handle(2, [["join", { user: 3, name: "cy", ch: "world" }]]);
    expect(flush().get("1:1")).toEqual([{ t: "chatHistory", b: { ch: "world", msgs: [] } }]);
    for (const t of ["m1", "m2", "m3", "m4"]) s.handle(1, [["say", { user: 1, name: "al", ch: "world", text: t }]]);
    const got = flush();
    for (const k of ["1:1", "1:2", "2:3"]) expect(got.get(k)!.map((m) => m.b.text)).toEqual(["m1", "m2", "m3", "m4"]);
    s.handle(2, [["join", { user: 4, name: "di", ch: "world" }]]);
    expect((flush().get("2:4")![0]!.b.msgs as ChatBody[]).map((m) => m.text)).toEqual(["m2", "m3", "m4"]);
    // quiet join: no history
    s.handle(2, [["join", { user: 5, name: "ed", ch: "world", quiet: true }]]);
    expect(flush().get("2:5")).toBeUndefined();
  });

  it("rejects muted, banned, too long and filtered posts with catalog codes; whispers reach only the recipient + echo", () => {
    const mod = new Moderation();
    const { s, flush } = service({ moderation: mod, filter: ({ text }) => (text.includes("spam") ? { action: "reject" } : { action: "pass" }) });
    s.handle(1, [["join", { user: 1, name: "al", ch: "zone:z1" }], ["join", { user: 2, name: "bo", ch: "w:bo" }]]);
    flush();
    mod.apply({ op: "mute", name: "al", until: 5000 });
    const ops: ChatGatewayOp[] = [
      ["say", { user: 1, name: "Al", ch: "zone:z1", text: "hi" }],
    ];
    s.handle(1, ops);
    expect(flush().get("1:1")).toEqual([{ t: "chatError", b: { code: "RIFT_CHAT_MUTED", message: "you are muted", ch: "zone:z1" } }]);
    mod.apply({ op: "unmute", name: "al" });
    s.handle(1, [["say", { user: 1, name: "al", ch: "zone:z1", text: "x".repeat(11) }], ["say", { user: 1, name: "al", ch: "zone:z1", text: "spam" }]]);
    expect(flush().get("1:1")!.map((m) => m.b.code)).toEqual(["RIFT_CHAT_TOO_LONG", "RIFT_CHAT_FILTERED"]);
    s.handle(3, [["say", { user: 7, name: "cy", ch: "w:bo", text: "psst", to: "Bo" }], ["say", { user: 7, name: "cy", ch: "w:nobody", text: "psst", to: "nobody" }]]);
    const got = flush();
    expect(got.get("1:2")).toEqual([{ t: "chat", b: { ch: "whisper", from: "cy", uid: 7, text: "psst", ts: 1000 } }]);
    expect(got.get("3:7")!.map((m) => [m.t, m.b.to ?? m.b.code])).toEqual([["chat", "Bo"], ["chatError", "RIFT_CHAT_USER_OFFLINE"]]);
    expect(got.get("1:1")).toBeUndefined();
    // ban: removed from channels, joins refused
    s.moderate({ op: "ban", name: "al" });
    expect(s.membersOf("zone:z1")).toBe(0);
    s.handle(1, [["join", { user: 1, name: "al", ch: "world" }]]);
    expect(flush().get("1:1")!.map((m) => m.b.code)).toEqual(["RIFT_CHAT_BANNED"]);
  });

  it("a closed link's users leave; announcements go to world members", () => {
    const { s, flush } = service();
    s.handle(1, [["join", { user: 1, name: "al", ch: "world" }]]);
    s.handle(2, [["join", { user: 2, name: "bo", ch: "world" }]]);
    flush();
    s.linkClosed(2);
    expect(s.membersOf("world")).toBe(1);
    s.announce("maintenance at noon");
    const got = flush();
    expect(got.get("1:1")).toEqual([{ t: "chatNotice", b: { kind: "announce", text: "maintenance at noon" } }]);
    expect(got.has("2:2")).toBe(false);
  });

  it("loads stored history before serving a join and appends new messages", async () => {
    const appended: string[] = [];
    let release!: (v: ChatBody[]) => void;
    const store: HistoryStore = {
      load: () => new Promise((r) => (release = r)),
      append: (_ch, m) => appended.push(m.text),
    };
    const { s, flush } = service({ store });
    s.handle(1, [["join", { user: 1, name: "al", ch: "guild:x" }], ["say", { user: 1, name: "al", ch: "guild:x", text: "new" }]]);
    expect(flush().get("1:1")!.map((m) => m.t)).toEqual(["chat"]);
    release([{ ch: "guild:x", from: "bo", uid: 2, text: "old", ts: 1 }]);
    await new Promise((r) => setTimeout(r, 0));
    expect((flush().get("1:1")![0]!.b.msgs as ChatBody[]).map((m) => m.text)).toEqual(["old", "new"]);
    expect(appended).toEqual(["new"]);
  });
});

describe("ChatRouter (gateway)", () => {
  const config = loadConfig({ env: {} }).chat;
  const member = (id: string) => ({ role: "chat" as const, id, host: "127.0.0.1", opsPort: 1, linkPorts: [9], colour: "blue", version: "1", load: 0, startedAt: 0 });

  function setup() {
    const cluster = new MemoryCluster();
    cluster.set(member("chat-a"));
    cluster.set(member("chat-b"));
    const sent = new Map<string, ChatGatewayOp[]>();
    const handlers = new Map<string, Parameters<ChatLinkFactory>[1]>();
    const factory: ChatLinkFactory = (t, h) => {
      handlers.set(t.memberId, h);
      sent.set(t.memberId, sent.get(t.memberId) ?? []);
      queueMicrotask(() => h.onOpen());
      return { send: (op) => (sent.get(t.memberId)!.push(op), true), close: async () => h.onClose("closed") };
    };
    const router = new ChatRouter({ gatewayId: "gw1", view: cluster.view(), config, metrics: createGatewayChatMetrics(new Registry()), log, linkFactory: factory });
    const frames = new Map<number, { t: string; b: Record<string, unknown> }[]>();
    const client = (user: number) => ({ deliver: (f: Uint8Array) => frames.set(user, [...(frames.get(user) ?? []), ...decode([f])]) });
    return { cluster, router, sent, handlers, frames, client };
  }

  it("joins world + inbox + zone at the owners, forwards posts, refuses bad ones, fans deliver ops out", async () => {
    const { router, sent, handlers, frames, client } = setup();
    const c1 = client(1);
    router.login(1, "Al", c1);
    router.setZone(1, "z1");
    const owner = (ch: string) => channelOwner(ch, ["chat-a", "chat-b"])!;
    const joins = [...sent.entries()].flatMap(([id, ops]) => ops.filter((o) => o[0] === "join").map((o) => [id, (o[1] as { ch: string }).ch]));
    expect(joins.sort()).toEqual([[owner("world"), "world"], [owner("w:al"), "w:al"], [owner("zone:z1"), "zone:z1"]].sort());
    router.handle(1, { t: "chat", b: { ch: "zone", text: "hello" } });
    expect(sent.get(owner("zone:z1"))!.at(-1)).toEqual(["say", { user: 1, name: "Al", ch: "zone:z1", text: "hello" }]);
    router.handle(1, { t: "chat", b: { ch: "party:p1", text: "x" } });
    router.handle(1, { t: "chat", b: { ch: "world", text: "y".repeat(config.maxLength + 1) } });
    for (let i = 0; i < 6; i++) router.handle(1, { t: "whisper", b: { to: "Bob", text: "hi" } });
    const codes = frames.get(1)!.filter((m) => m.t === "chatError").map((m) => m.b.code);
    // burst 5: "hello" + the too-long post + 3 whispers take the tokens, the other 3 whispers are refused
    expect(codes).toEqual(["RIFT_CHAT_BAD_CHANNEL", "RIFT_CHAT_TOO_LONG", "RIFT_CHAT_RATE_LIMITED", "RIFT_CHAT_RATE_LIMITED", "RIFT_CHAT_RATE_LIMITED"]);
    // deliver op: one frame per listed user
    frames.clear();
    const ops: ChatServerOp[] = [["deliver", { msgs: [Buffer.from([0x93, 1, 0xa4, 0x63, 0x68, 0x61, 0x74, 0x80])], to: [1, 99] }]];
    handlers.get(owner("world"))!.onOps(ops);
    expect(frames.get(1)!.length).toBe(1);
    await router.close();
  });

  it("re-homes channels when their chat server fails and notifies the users once", async () => {
    const { cluster, router, sent, handlers, frames, client } = setup();
    router.login(1, "Al", client(1));
    router.setZone(1, "z1");
    await new Promise((r) => setTimeout(r, 0));
    const failed = router.ownerFor("world")!;
    const other = failed === "chat-a" ? "chat-b" : "chat-a";
    sent.get(other)!.length = 0;
    handlers.get(failed)!.onClose("killed");
    expect(router.ownerFor("world")).toBe(other);
    const rejoined = sent.get(other)!.filter((o) => o[0] === "join").map((o) => o[1] as { ch: string; quiet?: boolean });
    expect(rejoined.every((j) => j.quiet === true)).toBe(true);
    expect(rejoined.map((j) => j.ch)).toContain("world");
    expect(frames.get(1)!.filter((m) => m.t === "chatNotice")).toEqual([{ t: "chatNotice", b: { kind: "rehomed", text: expect.any(String) } }]);
    // member gone from ZooKeeper too: stays with the survivor
    cluster.delete("chat", failed);
    expect(router.ownerFor("world")).toBe(other);
    router.logout(1, client(1)); // not the holder: no-op
    expect(router.stats().users).toBe(1);
    await router.close();
  });
});
