/**
 * Chat end to end (issue #8) with real processes: 1 coordinator, 2 field servers (z1, z2),
 * 2 chat servers, 2 gateways, on the shared test infra (ZooKeeper, Redis, Postgres).
 *
 *   alice  gw0  z1        bob    gw1  z1
 *   carol  gw1  z2        dave   gw0  z2
 *
 * - whispers cross gateways (alice → bob; the sender gets its own copy);
 * - zone chat reaches exactly the users in the zone;
 * - history on join (guild channel; the zone channel when travelling into it);
 * - `opsctl chat mute` → the muted user's posts are refused with RIFT_CHAT_MUTED, the
 *   connection stays open; `opsctl chat announce` reaches everyone.
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RiftClient } from "../../src/client/rift-client.js";
import type { ServerBody } from "../../src/core/protocol/messages.js";
import { TestCluster } from "../helpers/cluster.js";
import { tsxCommand, runOpsctl } from "../helpers/processes.js";

type Chat = ServerBody<"chat">;

const opsctl = (env: Record<string, string>, args: string[]) => runOpsctl(env, args, 30000);

/** Every `chat` message a client receives, collected from the moment of login. */
function inbox(c: RiftClient): Chat[] {
  const got: Chat[] = [];
  c.on("chat", (m) => got.push(m));
  return got;
}

describe("chat", { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let alice: RiftClient, bob: RiftClient, carol: RiftClient, dave: RiftClient;
  const got = new Map<RiftClient, Chat[]>();
  let names: Record<"alice" | "bob" | "carol" | "dave", string>;

  beforeAll(async () => {
    cluster = await TestCluster.start({
      gateways: 2,
      chats: 2,
      fields: [{ zones: ["z1"] }, { zones: ["z2"] }],
      startZone: "z1",
      env: { RIFT__CHAT__RATELIMIT__MESSAGESPERSEC: "20", RIFT__CHAT__RATELIMIT__BURST: "20" },
    });
    const u = cluster.uid;
    names = { alice: `al_${u}`, bob: `bo_${u}`, carol: `ca_${u}`, dave: `da_${u}` };
    const accounts = await cluster.seedAccounts(Object.values(names));
    for (const a of accounts.slice(2)) await cluster.data.players.ensure({ userId: a.userId, name: a.name, zone: "z2", x: 100, y: 100, hp: 100 });
    [alice, bob, carol, dave] = await Promise.all([
      cluster.player(names.alice, { gateway: 0 }),
      cluster.player(names.bob, { gateway: 1 }),
      cluster.player(names.carol, { gateway: 1 }),
      cluster.player(names.dave, { gateway: 0 }),
    ]);
    for (const c of [alice, bob, carol, dave]) got.set(c, inbox(c));
    expect(carol.zone).toBe("z2");
    expect(alice.welcome!.features).toContain("chat");
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const has = (c: RiftClient, pred: (m: Chat) => boolean) => got.get(c)!.some(pred);

  /** Post until it arrives at `probe` (the first posts may race the zone join after `enter`). */
  async function postUntil(from: RiftClient, ch: string, text: string, probe: RiftClient): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (let i = 0; ; i++) {
      from.chat(ch, `${text}#${i}`);
      try {
        await probe.waitForEvent("chat", (m) => m.text.startsWith(`${text}#`), 1000);
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
    }
  }

  it("whispers cross gateways; the sender gets its own copy", async () => {
    const echo = alice.waitForEvent("chat", (m) => m.ch === "whisper" && m.text === "psst bob");
    const heard = bob.waitForEvent("chat", (m) => m.ch === "whisper" && m.text === "psst bob");
    alice.whisper(names.bob.toUpperCase(), "psst bob");
    expect(await heard).toMatchObject({ ch: "whisper", from: names.alice, uid: alice.session!.userId });
    expect(await echo).toMatchObject({ to: names.bob.toUpperCase() });
    const err = carol.waitForEvent("chatError");
    carol.whisper("nobody_here", "hello?");
    expect(await err).toMatchObject({ code: "RIFT_CHAT_USER_OFFLINE", ch: "whisper" });
  });

  it("zone chat reaches exactly the users in the zone", async () => {
    await postUntil(alice, "zone", "z1 only", bob);
    // a world marker after it: once everyone has the marker, the zone message has had its chance everywhere
    await postUntil(dave, "world", "marker", carol);
    for (const c of [alice, bob, carol, dave]) if (!has(c, (m) => m.text.startsWith("marker#"))) await c.waitForEvent("chat", (m) => m.text.startsWith("marker#"), 10_000);
    expect(has(alice, (m) => m.ch === "zone:z1" && m.text.startsWith("z1 only#"))).toBe(true);
    expect(has(bob, (m) => m.ch === "zone:z1" && m.text.startsWith("z1 only#"))).toBe(true);
    expect(has(carol, (m) => m.text.startsWith("z1 only#"))).toBe(false);
    expect(has(dave, (m) => m.text.startsWith("z1 only#"))).toBe(false);
    // and z2's own chat stays in z2
    await postUntil(carol, "zone", "z2 only", dave);
    expect(has(alice, (m) => m.text.startsWith("z2 only#")) || has(bob, (m) => m.text.startsWith("z2 only#"))).toBe(false);
  });

  it("a channel's history is served on join (guild; zone when travelling in)", async () => {
    const g = `guild:g${cluster.uid}`;
    const joined = alice.waitForEvent("chatHistory", (h) => h.ch === g);
    alice.joinChannel(g);
    expect((await joined).msgs).toEqual([]);
    for (const t of ["one", "two", "three"]) alice.chat(g, t);
    await alice.waitForEvent("chat", (m) => m.ch === g && m.text === "three");
    const hist = carol.waitForEvent("chatHistory", (h) => h.ch === g);
    carol.joinChannel(g);
    expect((await hist).msgs.map((m) => [m.from, m.text])).toEqual([
      [names.alice, "one"],
      [names.alice, "two"],
      [names.alice, "three"],
    ]);
    // travelling into z1: the zone's history arrives with the zone join
    const zoneHist = dave.waitForEvent("chatHistory", (h) => h.ch === "zone:z1", 20_000);
    dave.travel("z1");
    const h = await zoneHist;
    expect(h.msgs.some((m) => m.text.startsWith("z1 only#"))).toBe(true);
    expect(h.msgs.some((m) => m.text.startsWith("z2 only#"))).toBe(false);
    // a non-member cannot post to the guild
    const err = bob.waitForEvent("chatError");
    bob.chat(g, "let me in");
    expect(await err).toMatchObject({ code: "RIFT_CHAT_BAD_CHANNEL" });
  });

  it("opsctl chat mute: the muted user's posts are refused with RIFT_CHAT_MUTED; announce reaches everyone", async () => {
    const r = await opsctl(cluster.env, ["chat", "mute", names.bob, "--minutes", "5"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^muted ${names.bob} until .* \\(2 chat servers notified\\)`));
    // opsctl returns once Redis delivered the event to both chat servers; they apply it as it arrives
    let err: ServerBody<"chatError"> | undefined;
    for (let i = 0; i < 10 && !err; i++) {
      const next = bob.waitForEvent("chatError", (e) => e.code === "RIFT_CHAT_MUTED", 1000);
      bob.chat("world", "can you hear me");
      err = await next.catch(() => undefined);
    }
    expect(err).toMatchObject({ code: "RIFT_CHAT_MUTED", ch: "world" });
    expect(bob.closed).toBeUndefined();
    const unmute = await opsctl(cluster.env, ["chat", "unmute", names.bob]);
    expect(unmute.code).toBe(0);
    await postUntil(bob, "world", "back again", alice);

    const notices = [alice, bob, carol, dave].map((c) => c.waitForEvent("chatNotice", (n) => n.kind === "announce" && n.text === "server restart at noon", 15_000));
    const a = await opsctl(cluster.env, ["chat", "announce", "server", "restart", "at", "noon"]);
    expect(a.code).toBe(0);
    await Promise.all(notices);
    for (const c of [alice, bob, carol, dave]) expect(c.closed).toBeUndefined();
  });
});

describe("chat with no chat server, then a new one", { timeout: 180_000 }, () => {
  let cluster: TestCluster;

  afterAll(async () => {
    await cluster?.stop();
  });

  it("answers RIFT_CHAT_UNAVAILABLE while none runs; a new chat server takes every channel", async () => {
    cluster = await TestCluster.start({ gateways: 1, chats: 1, fields: [{ zones: ["z1"] }] });
    const names = [`na_${cluster.uid}`, `nb_${cluster.uid}`];
    await cluster.seedAccounts(names);
    const [a, b] = await Promise.all(names.map((n) => cluster.player(n)));
    const heard = b!.waitForEvent("chat", (m) => m.text === "first");
    a!.chat("world", "first");
    await heard;
    await cluster.chats[0]!.proc.stop();
    const err = a!.waitForEvent("chatError", (e) => e.code === "RIFT_CHAT_UNAVAILABLE", 20_000);
    for (let i = 0; i < 40; i++) {
      a!.chat("world", "anyone?");
      if (await Promise.race([err.then(() => true), new Promise((r) => setTimeout(() => r(false), 500))])) break;
    }
    await err;
    await cluster.startChat(1);
    const again = b!.waitForEvent("chat", (m) => m.text.startsWith("second"), 20_000);
    for (let i = 0; i < 40; i++) {
      a!.chat("world", `second ${i}`);
      if (await Promise.race([again.then(() => true), new Promise((r) => setTimeout(() => r(false), 500))])) break;
    }
    await again;
    expect(a!.closed).toBeUndefined();
    expect(b!.closed).toBeUndefined();
  });
});
