/**
 * Chat-server crash (issue #8): SIGKILL (by PID) the chat server that owns `world` while
 * players chat and walk.
 *
 * Real processes on the shared test infra: 1 coordinator, 1 field server (z1), 2 chat servers,
 * 2 gateways, 20 players spread over both gateways. Expected: the gateways see the link drop
 * and move the dead server's channels to the survivor at once (the ZooKeeper member node
 * goes after the session timeout; nothing waits for it); every player gets one
 * `chatNotice {kind: "rehomed"}`; a world message posted after the kill reaches every player
 * within sessionTimeoutMs + 2 s of the kill; a channel's history survives (Redis); whispers work again; 0 game disconnects and the
 * game keeps confirming moves throughout. RESULT line: kill → world chat delivered to all.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RiftClient } from "../../src/client/rift-client.js";
import { channelOwner } from "../../src/chat-server/ownership.js";
import { metricValue, TestCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/processes.js";

const N = 20;
const SESSION_TIMEOUT_MS = 4000;

describe("SIGKILL of a chat server", { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let clients: RiftClient[];
  let names: string[];
  const closes: string[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({
      gateways: 2,
      chats: 2,
      fields: [{ zones: ["z1"] }],
      env: {
        RIFT__CLUSTER__ZOOKEEPER__SESSIONTIMEOUTMS: String(SESSION_TIMEOUT_MS),
        RIFT__CHAT__RATELIMIT__MESSAGESPERSEC: "20",
        RIFT__CHAT__RATELIMIT__BURST: "20",
      },
    });
    names = Array.from({ length: N }, (_, i) => `cc${i}_${cluster.uid}`);
    const accounts = await cluster.seedAccounts(names);
    for (const [i, a] of accounts.entries()) await cluster.data.players.ensure({ userId: a.userId, name: a.name, zone: "z1", x: 100 + 40 * (i % 10), y: 100 + 200 * Math.floor(i / 10), hp: 100 });
    clients = [];
    for (let i = 0; i < N; i += 5) clients.push(...(await Promise.all(names.slice(i, i + 5).map((n, j) => cluster.player(n, { gateway: (i + j) % 2 })))));
    for (const c of clients) c.on("close", (info) => closes.push(`${c.session?.name}: ${info.code} ${info.reason}`));
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  /** Post `tag#k` to world from `from` every 250 ms until every client has one; resolves with the time it took. */
  async function worldReachesAll(from: RiftClient, tag: string, timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    const seen = new Set<RiftClient>();
    const offs = clients.map((c) => c.on("chat", (m) => m.ch === "world" && m.text.startsWith(`${tag}#`) && seen.add(c)));
    let k = 0;
    try {
      await waitFor(
        () => {
          if (seen.size === clients.length) return true;
          from.chat("world", `${tag}#${k++}`);
          return false;
        },
        { timeoutMs, intervalMs: 250, what: `world chat '${tag}' to reach all ${clients.length} players (${seen.size} have it)` },
      );
    } finally {
      offs.forEach((off) => off());
    }
    return performance.now() - t0;
  }

  it("re-homes the dead server's channels: chat works again within session timeout + 2 s, 0 game disconnects", async () => {
    await worldReachesAll(clients[0]!, "before", 20_000);
    const owner = channelOwner("world", cluster.chats.map((c) => c.id))!;
    const victim = cluster.chats.find((c) => c.id === owner)!;
    const survivor = cluster.chats.find((c) => c.id !== owner)!;

    // a guild channel the victim owns, with history (persisted to Redis once per flush)
    const guild = Array.from({ length: 100 }, (_, i) => `guild:g${i}`).find((g) => channelOwner(g, cluster.chats.map((c) => c.id)) === owner)!;
    const poster = clients[2]!;
    const joined = poster.waitForEvent("chatHistory", (h) => h.ch === guild);
    poster.joinChannel(guild);
    await joined;
    for (const t of ["h1", "h2", "h3"]) poster.chat(guild, t);
    await poster.waitForEvent("chat", (m) => m.ch === guild && m.text === "h3");
    await new Promise((r) => setTimeout(r, 500)); // > chat.flushMs: the history batch reached Redis

    // gameplay keeps going: every player walks back and forth; count server confirmations
    const confirmed = new Map<RiftClient, number>();
    const offs = clients.map((c) => c.on("self", () => confirmed.set(c, (confirmed.get(c) ?? 0) + 1)));
    let step = 0;
    const walker = setInterval(() => {
      step++;
      for (const c of clients) if (c.self) c.move(c.self.x + (step % 2 === 0 ? 1 : -1), c.self.y);
    }, 200);

    const notices = clients.map((c) => c.waitForEvent("chatNotice", (n) => n.kind === "rehomed", SESSION_TIMEOUT_MS + 10_000));
    const t0 = performance.now();
    victim.proc.kill("SIGKILL");
    confirmed.clear();
    const ms = await worldReachesAll(clients[N - 1]!, "after", SESSION_TIMEOUT_MS + 2000);
    const total = performance.now() - t0;
    process.stderr.write(`RESULT chat-crash: kill -9 ${victim.id} -> world chat delivered to all ${N} players in ${Math.round(total)} ms (budget ${SESSION_TIMEOUT_MS + 2000} ms)\n`);
    expect(total).toBeLessThanOrEqual(SESSION_TIMEOUT_MS + 2000);
    expect(ms).toBeGreaterThan(0);
    await Promise.all(notices);

    // the channel's history moved with it: the survivor loaded it from Redis
    const hist = clients[7]!.waitForEvent("chatHistory", (h) => h.ch === guild, 10_000);
    clients[7]!.joinChannel(guild);
    expect((await hist).msgs.map((m) => m.text)).toEqual(["h1", "h2", "h3"]);

    // whispers across gateways work again (inboxes of the dead server moved too)
    const heard = clients[1]!.waitForEvent("chat", (m) => m.ch === "whisper" && m.text === "still there?", 10_000);
    clients[0]!.whisper(names[1]!, "still there?");
    await heard;

    // after the session timeout the dead member is gone from ZooKeeper: chat stays on the survivor
    await waitFor(async () => metricValue(await cluster.metrics(survivor), "rift_chat_links") === 2, { timeoutMs: 20_000, what: "both gateways linked to the survivor" });
    await new Promise((r) => setTimeout(r, SESSION_TIMEOUT_MS));
    await worldReachesAll(clients[3]!, "later", 10_000);

    clearInterval(walker);
    offs.forEach((off) => off());
    expect(closes).toEqual([]);
    expect(clients.every((c) => c.closed === undefined)).toBe(true);
    expect(clients.filter((c) => (confirmed.get(c) ?? 0) === 0).map((c) => c.session?.name)).toEqual([]);
    for (const n of [...cluster.gateways, ...cluster.fields, survivor]) expect(n.proc.exitInfo()).toBeNull(); // all but the victim alive
  });
});
