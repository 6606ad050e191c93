import { describe, expect, it } from "vitest";
import { ErrorCatalog } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/log.js";
import type { InstanceRequest } from "../../src/core/cluster/instances.js";
import { DungeonEntry, type InstanceBroker } from "../../src/field-server/dungeon-entry.js";
import { DUNGEON_KINDS } from "../../src/game/dungeon.js";
import { FakeScene } from "../helpers/scene-context.js";

const PARTY_FORM_MS = 15_000;
const PLACE_TIMEOUT_MS = 5_000;
const PARTY_CODE = ErrorCatalog.DUNGEON_PARTY.code;

/** Resolves every pending microtask chain of the in-memory doubles (they never wait on timers). */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function setup() {
  const requests: InstanceRequest[] = [];
  const waits: { key: string; timeoutMs: number; resolve: (ok: boolean) => void }[] = [];
  const removed: string[] = [];
  let failRequest = false;
  const broker: InstanceBroker = {
    request: async (req) => {
      if (failRequest) throw new Error("zookeeper down");
      requests.push(req);
      return `d${String(requests.length).padStart(10, "0")}@${req.home}`;
    },
    waitPlaced: (key, timeoutMs) => new Promise<boolean>((resolve) => waits.push({ key, timeoutMs, resolve })),
    remove: async (key) => void removed.push(key),
  };
  const clock = { t: 0 };
  const entry = new DungeonEntry({ broker, nodeId: "field-1", partyFormMs: PARTY_FORM_MS, placeTimeoutMs: PLACE_TIMEOUT_MS, log: silentLogger(), now: () => clock.t });
  const ctx = new FakeScene({ nodeId: "field-1", hooks: entry.hooks });
  const ask = (user: number, party: number[], kind = "crypt") => entry.handlers.dungeonEnter!(ctx, ctx.session(user)!, { kind, party });
  return {
    requests,
    waits,
    removed,
    clock,
    entry,
    ctx,
    ask,
    failRequests: () => {
      failRequest = true;
    },
  };
}

type Env = ReturnType<typeof setup>;

function readyOf(env: Env, user: number): number[][] {
  return env.ctx.repliesOf(user, "dungeonParty").map((r) => (r.body as { ready: number[] }).ready);
}

/** Users 1..n in zone `zone` at (10·u, 20·u). */
function field(env: Env, n: number, zone = "z1"): void {
  for (let u = 1; u <= n; u++) env.ctx.attach(u, zone, { x: 10 * u, y: 20 * u });
}

describe("DungeonEntry (party forming by consent on the field server)", () => {
  it("refuses an unknown kind, a party without the asker and more than 4 members with RIFT_DUNGEON_PARTY", () => {
    const env = setup();
    field(env, 5);
    env.ask(1, [1, 2], "nosuchdungeon");
    env.ask(1, [2, 3]);
    env.ask(1, [1, 2, 3, 4, 5]);
    expect(env.ctx.errorsOf(1).map((e) => e.code)).toEqual([PARTY_CODE, PARTY_CODE, PARTY_CODE]);
    expect(env.ctx.replies).toEqual([]);
    expect(env.entry.pending).toBe(0);
    env.ask(2, [2, 2, 2]); // duplicates count once: a party of one
    expect(env.ctx.errorsOf(2)).toEqual([]);
  });

  it("members asking one by one see the growing ready list; the last one triggers ONE instance request from the base zone", async () => {
    const env = setup();
    field(env, 3, "z1#2"); // channel 2 of z1: the party returns to the base zone
    env.ask(1, [1, 2, 3]);
    expect(readyOf(env, 1)).toEqual([[1]]);
    env.ask(3, [3, 2, 1]); // same party in another order
    expect(readyOf(env, 1)).toEqual([[1], [1, 3]]);
    expect(readyOf(env, 3)).toEqual([[1, 3]]);
    expect(env.ctx.repliesOf(1, "dungeonParty")[1]!.body).toEqual({ kind: "crypt", party: [1, 2, 3], ready: [1, 3] });
    expect(env.entry.pending).toBe(1);
    await flush();
    expect(env.requests).toEqual([]);

    env.ask(2, [1, 2, 3]);
    for (const u of [1, 2, 3]) expect(readyOf(env, u).at(-1)).toEqual([1, 2, 3]);
    expect(env.entry.pending).toBe(0);
    await flush();
    expect(env.requests).toHaveLength(1);
    const req = env.requests[0]!;
    expect(req).toMatchObject({
      kind: "crypt",
      home: "z1",
      requestedBy: "field-1",
      party: [
        { user: 1, x: 10, y: 20 },
        { user: 2, x: 20, y: 40 },
        { user: 3, x: 30, y: 60 },
      ],
    });
    expect(typeof req.requestedAt).toBe("number");
    expect(env.waits.map((w) => [w.key, w.timeoutMs])).toEqual([["d0000000001@z1", PLACE_TIMEOUT_MS]]);
  });

  it("once the instance is placed every member travels to it at the dungeon's spawn", async () => {
    const env = setup();
    field(env, 2);
    env.ask(1, [1, 2]);
    env.ask(2, [1, 2]);
    await flush();
    expect(env.ctx.travels).toEqual([]); // not placed yet
    env.waits[0]!.resolve(true);
    await flush();
    const spawn = DUNGEON_KINDS.crypt!.spawn;
    expect(env.ctx.travels).toEqual([
      { user: 1, from: "z1", zone: "d0000000001@z1", pos: spawn },
      { user: 2, from: "z1", zone: "d0000000001@z1", pos: spawn },
    ]);
    expect(env.ctx.errors).toEqual([]);
    expect(env.removed).toEqual([]);
  });

  it("a member who left while the instance was being placed stays behind; the others go", async () => {
    const env = setup();
    field(env, 2);
    env.ask(1, [1, 2]);
    env.ask(2, [1, 2]);
    await flush();
    env.ctx.detach(2);
    env.waits[0]!.resolve(true);
    await flush();
    expect(env.ctx.travels.map((t) => t.user)).toEqual([1]);
  });

  it("not placed in time: the request is withdrawn and every member gets RIFT_DUNGEON_UNAVAILABLE", async () => {
    const env = setup();
    field(env, 2);
    env.ask(1, [1, 2]);
    env.ask(2, [1, 2]);
    await flush();
    env.waits[0]!.resolve(false);
    await flush();
    expect(env.removed).toEqual(["d0000000001@z1"]);
    for (const u of [1, 2]) expect(env.ctx.errorsOf(u).map((e) => e.code)).toEqual([ErrorCatalog.DUNGEON_UNAVAILABLE.code]);
    expect(env.ctx.travels).toEqual([]);
  });

  it("a failing instance request answers RIFT_DUNGEON_UNAVAILABLE (nothing to withdraw)", async () => {
    const env = setup();
    env.failRequests();
    field(env, 1);
    env.ask(1, [1]);
    await flush();
    expect(env.ctx.errorsOf(1).map((e) => e.code)).toEqual([ErrorCatalog.DUNGEON_UNAVAILABLE.code]);
    expect(env.removed).toEqual([]);
    expect(env.waits).toEqual([]);
  });

  it("a member no longer on this server when the last one asks: error, no request", async () => {
    const env = setup();
    field(env, 2);
    env.ask(2, [1, 2]);
    env.ctx.worlds.get("z1")!.leave(2);
    env.ctx.sessions.delete(2); // gone without the leaving hook (e.g. handed over)
    env.ask(1, [1, 2]);
    await flush();
    expect(env.ctx.errorsOf(1).map((e) => e.code)).toEqual([PARTY_CODE]);
    expect(env.requests).toEqual([]);
    expect(env.entry.pending).toBe(0);
  });

  it("members in different zones cannot form a party", async () => {
    const env = setup();
    env.ctx.attach(1, "z1", { x: 1, y: 1 });
    env.ctx.attach(2, "z2", { x: 1, y: 1 });
    env.ask(1, [1, 2]);
    env.ask(2, [1, 2]);
    await flush();
    expect(env.ctx.errorsOf(2).map((e) => e.code)).toEqual([PARTY_CODE]);
    expect(env.requests).toEqual([]);
  });

  it("a party not complete within partyFormMs expires on the tick: error to those who asked", () => {
    const env = setup();
    field(env, 3);
    env.ask(1, [1, 2, 3]);
    env.clock.t = 1000;
    env.ask(2, [1, 2, 3]);
    env.clock.t = PARTY_FORM_MS; // measured from the first ask
    env.ctx.tick();
    expect(env.ctx.errors).toEqual([]);
    env.clock.t = PARTY_FORM_MS + 1;
    env.ctx.tick();
    expect(env.ctx.errors.map((e) => [e.user, e.code])).toEqual([
      [1, PARTY_CODE],
      [2, PARTY_CODE],
    ]);
    expect(env.entry.pending).toBe(0);

    env.ask(3, [1, 2, 3]); // starts over: only 3 is ready
    expect(readyOf(env, 3)).toEqual([[3]]);
  });

  it("a member leaving the server withdraws its consent", async () => {
    const env = setup();
    field(env, 3);
    env.ask(1, [1, 2, 3]);
    env.ask(2, [1, 2, 3]);
    env.ctx.detach(1); // hooks.leaving
    env.ask(3, [1, 2, 3]);
    expect(readyOf(env, 3)).toEqual([[2, 3]]);
    await flush();
    expect(env.requests).toEqual([]);

    env.ctx.detach(2);
    env.ctx.detach(3);
    expect(env.entry.pending).toBe(0); // nobody left asking
  });

  it("members who withdraw are reported to the others; asking again while the instance opens is refused", async () => {
    const env = setup();
    field(env, 3);
    env.ask(1, [1, 2, 3]);
    env.ask(2, [1, 2, 3]);
    env.ctx.detach(1);
    expect(readyOf(env, 2)).toEqual([[1, 2], [2]]);

    env.ask(3, [2, 3]);
    env.ask(2, [2, 3]);
    await flush();
    expect(env.requests.length).toBe(1);
    env.ask(2, [2, 3]); // while the instance is being placed
    expect(env.ctx.errorsOf(2).map((e) => e.code)).toEqual([PARTY_CODE]);
    env.waits[0]!.resolve(true);
    await flush();
    expect(env.requests.length).toBe(1);
    expect(env.ctx.travels.map((t) => t.user).sort()).toEqual([2, 3]);
  });

  it("asking for another party withdraws the consent given to the first", async () => {
    const env = setup();
    field(env, 3);
    env.ask(1, [1, 2]);
    env.ask(1, [1, 3]);
    env.ask(2, [1, 2]);
    expect(readyOf(env, 2)).toEqual([[2]]);
    await flush();
    expect(env.requests).toEqual([]);
    env.ask(3, [1, 3]);
    await flush();
    expect(env.requests.map((r) => r.party.map((m) => m.user))).toEqual([[1, 3]]);
  });
});
