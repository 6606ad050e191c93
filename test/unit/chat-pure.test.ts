/** Pure parts of chat: channel ownership hashing, history ring, grouped outbox, moderation, filter. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { channelOwner } from "../../src/chat-server/ownership.js";
import { HistoryRing } from "../../src/chat-server/history.js";
import { Outbox } from "../../src/chat-server/outbox.js";
import { maskWords, Moderation, parseModerationEvent } from "../../src/chat-server/moderation.js";
import { parseGatewayFrame, parseServerFrame, encodeOps } from "../../src/chat-server/protocol.js";
import { inboxChannel, publicChannel, zoneChannel } from "../../src/chat-server/channels.js";
import { chatEvent, resolveRedis } from "../../src/tools/opsctl/chat.js";

describe("channelOwner (rendezvous hashing)", () => {
  const servers = ["chat-a", "chat-b", "chat-c", "chat-d"];

  it("is deterministic and independent of the member order", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), fc.shuffledSubarray(servers, { minLength: 1 }), (ch, subset) => {
        expect(channelOwner(ch, subset)).toBe(channelOwner(ch, [...subset].reverse()));
        expect(subset).toContain(channelOwner(ch, subset));
      }),
    );
    expect(channelOwner("world", [])).toBeUndefined();
  });

  it("moves only the channels of a removed server, and spreads channels evenly", () => {
    const channels = Array.from({ length: 4000 }, (_, i) => `zone:z${i}`);
    const before = new Map(channels.map((c) => [c, channelOwner(c, servers)!]));
    const counts = new Map<string, number>();
    for (const o of before.values()) counts.set(o, (counts.get(o) ?? 0) + 1);
    for (const s of servers) expect(counts.get(s)!).toBeGreaterThan(4000 / 4 * 0.8);
    const after = servers.filter((s) => s !== "chat-b");
    for (const c of channels) {
      const o = channelOwner(c, after)!;
      if (before.get(c) !== "chat-b") expect(o).toBe(before.get(c));
      else expect(o).not.toBe("chat-b");
    }
    // adding a server moves only channels to it
    const added = [...servers, "chat-e"];
    for (const c of channels) {
      const o = channelOwner(c, added)!;
      if (o !== "chat-e") expect(o).toBe(before.get(c));
    }
  });
});

describe("HistoryRing", () => {
  it("keeps the newest N, oldest first", () => {
    const r = new HistoryRing<number>(3);
    for (let i = 1; i <= 5; i++) r.push(i);
    expect(r.items()).toEqual([3, 4, 5]);
    r.prepend([0, 1]);
    expect(r.items()).toEqual([3, 4, 5]);
    const r2 = new HistoryRing<number>(4);
    r2.push(9);
    r2.prepend([6, 7, 8]);
    expect(r2.items()).toEqual([6, 7, 8, 9]);
    const none = new HistoryRing<number>(0);
    none.push(1);
    expect(none.items()).toEqual([]);
  });

  it("matches a reference model", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.integer()), (cap, xs) => {
        const r = new HistoryRing<number>(cap);
        for (const x of xs) r.push(x);
        expect(r.items()).toEqual(xs.slice(Math.max(0, xs.length - cap)));
      }),
    );
  });
});

describe("Outbox", () => {
  const m = (s: string) => Buffer.from(s);
  const members = new Map([
    [1, new Set([10, 11, 12])],
    [2, new Set([20])],
  ]);

  it("grouped: one op per channel per link per flush, recipients read at drain time", () => {
    const o = new Outbox("grouped");
    o.toChannel("world", m("a"), () => members);
    o.toChannel("world", m("b"), () => members);
    o.toUser(1, 10, m("h"));
    expect(o.pending).toBe(3);
    const out = o.drain();
    expect(out.get(1)).toEqual([
      ["deliver", { msgs: [m("a"), m("b")], to: [10, 11, 12] }],
      ["deliver", { msgs: [m("h")], to: [10] }],
    ]);
    expect(out.get(2)).toEqual([["deliver", { msgs: [m("a"), m("b")], to: [20] }]]);
    expect(o.drain().size).toBe(0);
  });

  it("naive: one op per message per recipient", () => {
    const o = new Outbox("naive");
    o.toChannel("world", m("a"), () => members);
    o.toChannel("world", m("b"), () => members);
    const out = o.drain();
    expect(out.get(1)!.length).toBe(6);
    expect(out.get(2)!.length).toBe(2);
    expect(out.get(1)![0]).toEqual(["deliver", { msgs: [m("a")], to: [10] }]);
  });
});

describe("Moderation", () => {
  it("mutes expire, bans hold until unban, names are case-insensitive", () => {
    const mod = new Moderation();
    mod.load({ Alice: 2000 }, ["Bob"]);
    expect(mod.check("alice", 1000)).toBe("CHAT_MUTED");
    expect(mod.check("ALICE", 2500)).toBeUndefined();
    expect(mod.check("bob", 0)).toBe("CHAT_BANNED");
    expect(mod.apply({ op: "unban", name: "bob" })).toBe(true);
    expect(mod.check("bob", 0)).toBeUndefined();
    mod.apply({ op: "mute", name: "carol", until: 10 });
    expect(mod.check("Carol", 5)).toBe("CHAT_MUTED");
    mod.apply({ op: "unmute", name: "carol" });
    expect(mod.check("carol", 5)).toBeUndefined();
  });

  it("parses operator events and refuses malformed ones", () => {
    expect(parseModerationEvent('{"op":"mute","name":"Al","until":5}')).toEqual({ op: "mute", name: "al", until: 5 });
    expect(parseModerationEvent('{"op":"announce","text":"hi"}')).toEqual({ op: "announce", text: "hi" });
    for (const bad of ["", "x", "{}", '{"op":"mute","name":"a"}', '{"op":"ban"}', '{"op":"nuke","name":"a"}', "null"]) expect(parseModerationEvent(bad)).toBeUndefined();
  });

  it("maskWords filter replaces whole words only", () => {
    const f = maskWords(["darn"]);
    expect(f({ ch: "world", user: 1, name: "a", text: "oh DARN it, darned" })).toEqual({ action: "replace", text: "oh **** it, darned" });
    expect(f({ ch: "world", user: 1, name: "a", text: "fine" })).toEqual({ action: "pass" });
  });
});

describe("chat link protocol", () => {
  it("round-trips valid ops and drops malformed ones", () => {
    const frame = encodeOps([
      ["hello", { gateway: "gw" }],
      ["join", { user: 1, name: "al", ch: "world" }],
      ["say", { user: 1, name: "al", ch: "zone:z1", text: "hi" }],
      ["say", { user: 1, name: "al", ch: "nope", text: "hi" }],
      ["leave", { user: -1, ch: "world" }],
    ] as never);
    const r = parseGatewayFrame(frame, 1024);
    expect(r.ops.map((o) => o[0])).toEqual(["hello", "join", "say"]);
    expect(r.invalid).toBe(2);
    expect(() => parseGatewayFrame(encodeOps({} as never), 1024)).toThrow();
    const s = parseServerFrame(encodeOps([["deliver", { msgs: [Buffer.from("x")], to: [1, 2] }], ["deliver", { msgs: ["x"], to: [1] }]] as never));
    expect(s.ops.length).toBe(1);
    expect(s.invalid).toBe(1);
    expect(parseServerFrame(Buffer.from([0xc1])).invalid).toBe(1);
  });

  it("channel ids", () => {
    expect(inboxChannel("Alice")).toBe("w:alice");
    expect(zoneChannel("z1")).toBe("zone:z1");
    expect(publicChannel("w:alice")).toBe("whisper");
    expect(publicChannel("guild:x")).toBe("guild:x");
  });
});

describe("opsctl chat (pure parts)", () => {
  it("builds moderation events and refuses bad input", () => {
    expect(chatEvent("mute", "Alice", 2, 1000)).toEqual({ op: "mute", name: "alice", until: 1000 + 120_000 });
    expect(chatEvent("ban", "bob_1", 10, 0)).toEqual({ op: "ban", name: "bob_1" });
    expect(chatEvent("announce", "  hi all ", 10, 0)).toEqual({ op: "announce", text: "hi all" });
    expect(() => chatEvent("mute", "a b", 10, 0)).toThrow(/RIFT_USAGE|not a user name/);
    expect(() => chatEvent("mute", "alice", 0, 0)).toThrow(/--minutes/);
    expect(() => chatEvent("announce", " ", 10, 0)).toThrow(/announce/);
  });

  it("takes Redis from the configuration, then --redis/--prefix", () => {
    expect(resolveRedis({}, { RIFT__CLUSTER__REDIS__URL: "redis://127.0.0.1:6390" }, undefined)).toEqual({ url: "redis://127.0.0.1:6390", prefix: "rift:" });
    expect(resolveRedis({ redis: "redis://10.0.0.1:1", prefix: "x:" }, {}, undefined)).toEqual({ url: "redis://10.0.0.1:1", prefix: "x:" });
    expect(() => resolveRedis({ redis: "http://x" }, {}, undefined)).toThrow(/redis:\/\//);
  });
});
