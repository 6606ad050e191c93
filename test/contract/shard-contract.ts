/**
 * ONE contract suite for the data layer, run against the in-memory double
 * (test/unit/shard-memory.test.ts) and the Postgres implementation on the shared test infra
 * (test/contract/shard-pg.test.ts). Both must behave the same for everything a caller can see.
 *
 * A harness is created once per suite (the Postgres one costs a database per cluster); tests
 * use disjoint user names and ids so they do not depend on each other.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRiftError, type ErrorKey } from "../../src/core/errors.js";
import type { DataLayer, PlayerState } from "../../src/shard/types.js";

export interface ContractClock {
  /** Current time in ms, as seen by the token service. */
  ms: number;
}

export interface ContractHarness {
  layer: DataLayer;
  /** At least two shard names the layer can place users on. */
  shardNames: string[];
  /** Change the STORED mapping of a user behind every cache (as another process would). */
  setMapping(userId: number, shard: string): Promise<void>;
  close(): Promise<void>;
}

export type MakeHarness = (clock: ContractClock) => Promise<ContractHarness>;

async function rejectsWith(p: Promise<unknown>, key: ErrorKey): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected RiftError ${key}`).toBeDefined();
  expect(isRiftError(err, key), `expected ${key}, got ${String(err)}`).toBe(true);
}

function throwsWith(fn: () => unknown, key: ErrorKey): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isRiftError(err, key), `expected ${key}, got ${String(err)}`).toBe(true);
}

/** Run `fn` over `items` with at most `n` in flight. */
async function inParallel<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export function describeShardContract(name: string, make: MakeHarness, opts: { timeoutMs?: number } = {}): void {
  describe(`data layer contract: ${name}`, { timeout: opts.timeoutMs ?? 20_000 }, () => {
    const clock: ContractClock = { ms: Date.now() };
    let h: ContractHarness;
    let layer: DataLayer;

    beforeAll(async () => {
      h = await make(clock);
      layer = h.layer;
      expect(h.shardNames.length).toBeGreaterThanOrEqual(2);
    }, 120_000);

    afterAll(async () => {
      await h?.close();
    });

    const player = (userId: number, over: Partial<PlayerState> = {}): PlayerState => ({
      userId,
      name: `p${userId}`,
      zone: "z1",
      x: 10.5,
      y: 20.25,
      hp: 100,
      ...over,
    });

    describe("accounts", () => {
      it("registers, then verifies the password", async () => {
        const a = await layer.accounts.register("alice", "correct horse");
        expect(a.name).toBe("alice");
        expect(Number.isSafeInteger(a.userId) && a.userId > 0).toBe(true);
        expect(await layer.accounts.verify("alice", "correct horse")).toEqual(a);
        const b = await layer.accounts.register("bob", "correct horse");
        expect(b.userId).not.toBe(a.userId);
      });

      it("assigns every new account a shard", async () => {
        const a = await layer.accounts.register("carol", "secret-1");
        expect(h.shardNames).toContain(await layer.shardMap.shardOf(a.userId));
      });

      it("rejects a duplicate name with USER_EXISTS, keeping the first password", async () => {
        const first = await layer.accounts.register("dave", "first-pass");
        await rejectsWith(layer.accounts.register("dave", "second-pass"), "USER_EXISTS");
        expect((await layer.accounts.verify("dave", "first-pass")).userId).toBe(first.userId);
        await rejectsWith(layer.accounts.verify("dave", "second-pass"), "AUTH_FAILED");
      });

      it("rejects a wrong password, an unknown user and absurd input with AUTH_FAILED", async () => {
        await layer.accounts.register("erin", "right-pass");
        await rejectsWith(layer.accounts.verify("erin", "wrong-pass"), "AUTH_FAILED");
        await rejectsWith(layer.accounts.verify("erin", "Right-pass"), "AUTH_FAILED");
        await rejectsWith(layer.accounts.verify("nobody-here", "right-pass"), "AUTH_FAILED");
        await rejectsWith(layer.accounts.verify("erin", "x".repeat(5000)), "AUTH_FAILED");
        await rejectsWith(layer.accounts.verify("", "right-pass"), "AUTH_FAILED");
      });
    });

    describe("tokens", () => {
      it("issues a token that verifies to the account", () => {
        const acct = { userId: 42, name: "frank.the.tank" };
        expect(layer.tokens.verify(layer.tokens.issue(acct))).toEqual(acct);
      });

      it("rejects an expired token", () => {
        const t = layer.tokens.issue({ userId: 43, name: "gina" });
        const saved = clock.ms;
        try {
          clock.ms += 1000 * 60 * 60 * 24 * 400; // far past any configured TTL
          throwsWith(() => layer.tokens.verify(t), "AUTH_TOKEN_INVALID");
        } finally {
          clock.ms = saved;
        }
        expect(layer.tokens.verify(t).userId).toBe(43);
      });

      it("rejects tampered and malformed tokens", () => {
        const t = layer.tokens.issue({ userId: 44, name: "hank" });
        const parts = t.split(".");
        expect(parts.length).toBe(4);
        const forged = [
          [`45`, parts[1], parts[2], parts[3]].join("."), // other user id
          [parts[0], Buffer.from("root").toString("base64url"), parts[2], parts[3]].join("."), // other name
          [parts[0], parts[1], String(Number(parts[2]) + 3600), parts[3]].join("."), // longer expiry
          t.slice(0, -1) + (t.endsWith("A") ? "B" : "A"), // signature bit flip
        ];
        for (const f of forged) throwsWith(() => layer.tokens.verify(f), "AUTH_TOKEN_INVALID");
        for (const junk of ["", "abc", "1.2.3", `${t}.x`, "x".repeat(5000), t + " "]) {
          throwsWith(() => layer.tokens.verify(junk), "AUTH_TOKEN_INVALID");
        }
      });
    });

    describe("shard map", () => {
      it("lists the shards and knows nothing of unknown users", async () => {
        const names = await layer.shardMap.shards();
        for (const s of h.shardNames) expect(names).toContain(s);
        expect(await layer.shardMap.shardOf(9_000_000_001)).toBeUndefined();
      });

      it("assigns new users by weight (3:1), deterministically and idempotently", async () => {
        const [a, b] = h.shardNames as [string, string];
        const before = await layer.shardMap.listShards();
        try {
          for (const s of before) await layer.shardMap.setShard({ ...s, weight: s.name === a ? 3 : s.name === b ? 1 : 0 });
          const ids = Array.from({ length: 2000 }, (_, i) => 1_000_000 + i);
          const got = await inParallel(ids, 16, (id) => layer.shardMap.assign(id));
          const na = got.filter((s) => s === a).length;
          const nb = got.filter((s) => s === b).length;
          expect(na + nb).toBe(ids.length);
          expect(na / nb).toBeGreaterThan(2.5);
          expect(na / nb).toBeLessThan(3.6);
          // Stable: assigning again (even after weights change) returns the stored shard.
          await layer.shardMap.setShard({ name: a, weight: 0, state: "active" });
          await layer.shardMap.setShard({ name: b, weight: 1, state: "active" });
          for (const i of [0, 1, 2, 3, 500, 1999]) {
            expect(await layer.shardMap.assign(ids[i]!)).toBe(got[i]);
            layer.shardMap.invalidate(ids[i]!);
            expect(await layer.shardMap.shardOf(ids[i]!)).toBe(got[i]);
          }
        } finally {
          for (const s of before) await layer.shardMap.setShard(s);
        }
      });

      it("never places new users on a shard that is not active or has weight 0", async () => {
        const [a, b] = h.shardNames as [string, string];
        const before = await layer.shardMap.listShards();
        try {
          for (const s of before) await layer.shardMap.setShard({ ...s, weight: 1, state: s.name === a ? "active" : "draining" });
          const got = await inParallel(Array.from({ length: 50 }, (_, i) => 3_000_000 + i), 8, (id) => layer.shardMap.assign(id));
          expect(new Set(got)).toEqual(new Set([a]));
          for (const s of before) await layer.shardMap.setShard({ ...s, weight: s.name === b ? 1 : 0, state: "active" });
          const got2 = await inParallel(Array.from({ length: 50 }, (_, i) => 3_100_000 + i), 8, (id) => layer.shardMap.assign(id));
          expect(new Set(got2)).toEqual(new Set([b]));
        } finally {
          for (const s of before) await layer.shardMap.setShard(s);
        }
      });

      it("serves the mapping from its cache until invalidated", async () => {
        const [a, b] = h.shardNames as [string, string];
        const id = 4_000_001;
        await h.setMapping(id, a);
        expect(await layer.shardMap.shardOf(id)).toBe(a);
        await h.setMapping(id, b); // changed behind the cache
        expect(await layer.shardMap.shardOf(id)).toBe(a);
        layer.shardMap.invalidate(id);
        expect(await layer.shardMap.shardOf(id)).toBe(b);
        expect(await layer.shardMap.assign(id)).toBe(b);
      });
    });

    describe("players and owner-epoch fencing", () => {
      it("ensure creates the row once (epoch 0, no owner) and never overwrites it", async () => {
        const id = 5_000_001;
        await layer.players.ensure(player(id));
        await layer.players.ensure(player(id, { x: 99, hp: 1 }));
        expect(await layer.players.load(id)).toEqual({ state: player(id), epoch: 0, owner: null });
        expect(h.shardNames).toContain(await layer.shardMap.shardOf(id));
      });

      it("takeOwnership increments the epoch and records the owner", async () => {
        const id = 5_000_002;
        await layer.players.ensure(player(id));
        const t1 = await layer.players.takeOwnership(id, "field-a");
        expect(t1).toEqual({ state: player(id), epoch: 1 });
        const t2 = await layer.players.takeOwnership(id, "field-b");
        expect(t2?.epoch).toBe(2);
        expect((await layer.players.load(id))?.owner).toBe("field-b");
        expect(await layer.players.takeOwnership(9_000_000_002, "field-a")).toBeUndefined();
        expect(await layer.players.load(9_000_000_002)).toBeUndefined();
      });

      it("save succeeds with the current epoch; a stale epoch returns false and changes nothing", async () => {
        const id = 5_000_003;
        await layer.players.ensure(player(id));
        const old = (await layer.players.takeOwnership(id, "field-a"))!;
        expect(await layer.players.save(player(id, { x: 11.5, hp: 90 }), old.epoch)).toBe(true);
        expect((await layer.players.load(id))?.state).toEqual(player(id, { x: 11.5, hp: 90 }));
        const now = (await layer.players.takeOwnership(id, "field-b"))!;
        expect(now.epoch).toBe(old.epoch + 1);
        expect(now.state).toEqual(player(id, { x: 11.5, hp: 90 }));
        expect(await layer.players.save(player(id, { x: 500, hp: 1, zone: "z9" }), old.epoch)).toBe(false);
        expect(await layer.players.load(id)).toEqual({ state: player(id, { x: 11.5, hp: 90 }), epoch: now.epoch, owner: "field-b" });
        expect(await layer.players.save(player(id, { x: 12 }), now.epoch)).toBe(true);
        expect(await layer.players.save(player(9_000_000_003), 1)).toBe(false);
      });

      it("stores x and y as float4 (real), read back as Postgres prints them", async () => {
        const cases: [number, number][] = [
          [1.1, 1.1],
          [-7.3, -7.3],
          [1.23456789, 1.2345679],
          [16777217, 16777216],
          [0.1 + 0.2, 0.3],
        ];
        for (const [i, [input, expected]] of cases.entries()) {
          const id = 5_000_010 + i;
          await layer.players.ensure(player(id, { x: input, y: -input }));
          const got = (await layer.players.load(id))!.state;
          expect(got.x).toBe(expected);
          expect(got.y).toBe(-expected);
        }
      });

      it("saveMany writes current owners and reports exactly the fenced ids, across shards", async () => {
        const ids = [5_100_001, 5_100_002, 5_100_003, 5_100_004, 5_100_005, 5_100_006];
        const epochs = new Map<number, number>();
        for (const [i, id] of ids.entries()) {
          await h.setMapping(id, h.shardNames[i % 2]!);
          await layer.players.ensure(player(id));
          epochs.set(id, (await layer.players.takeOwnership(id, "field-a"))!.epoch);
        }
        // Another server takes over two users (one per shard): field-a's epochs go stale.
        const stolen = [ids[1]!, ids[4]!];
        for (const id of stolen) await layer.players.takeOwnership(id, "field-b");
        const unknown = 9_000_000_004;
        const items = ids.map((id) => ({ state: player(id, { x: 33.5, hp: 7 }), epoch: epochs.get(id)! }));
        items.push({ state: player(unknown), epoch: 1 });
        const rejected = await layer.players.saveMany(items);
        expect([...rejected].sort()).toEqual([...stolen, unknown].sort());
        for (const id of ids) {
          const row = (await layer.players.load(id))!;
          if (stolen.includes(id)) expect(row.state).toEqual(player(id));
          else expect(row.state).toEqual(player(id, { x: 33.5, hp: 7 }));
        }
        expect(await layer.players.saveMany([])).toEqual([]);
      });

      it("saveMany keeps the last item when a user appears twice", async () => {
        const id = 5_200_001;
        await layer.players.ensure(player(id));
        const { epoch } = (await layer.players.takeOwnership(id, "field-a"))!;
        const rejected = await layer.players.saveMany([
          { state: player(id, { x: 1 }), epoch },
          { state: player(id, { x: 2 }), epoch },
        ]);
        expect(rejected).toEqual([]);
        expect((await layer.players.load(id))?.state.x).toBe(2);
      });

      it("refuses invalid state instead of storing it", async () => {
        const id = 5_300_001;
        await layer.players.ensure(player(id));
        const { epoch } = (await layer.players.takeOwnership(id, "field-a"))!;
        for (const bad of [{ x: Number.NaN }, { y: Number.POSITIVE_INFINITY }, { hp: 1.5 }, { zone: "" }]) {
          await rejectsWith(layer.players.save(player(id, bad), epoch), "INTERNAL");
          await rejectsWith(layer.players.saveMany([{ state: player(id, bad), epoch }]), "INTERNAL");
        }
        expect((await layer.players.load(id))?.state).toEqual(player(id));
      });
    });
  });
}
