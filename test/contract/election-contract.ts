/**
 * ONE behavioural contract for `LeaderElection` (src/core/cluster/types.ts), run against the
 * in-memory double (test/unit/cluster-election-memory.test.ts) and the ZooKeeper
 * implementation on the shared test infra (test/contract/cluster-election.test.ts).
 *
 * Every test gets a fresh, isolated election (`harness.group()`): its own root / group.
 * Candidates are started one after the other, so the line order is the start order.
 * Every candidate's state changes are logged from before `start()`, so spurious
 * transitions (e.g. a follower briefly leading) show up in the logs the tests assert on.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ElectionState, LeaderElection } from "../../src/core/cluster/types.js";
import { waitFor } from "../../src/tools/infra/wait.js";

export interface ElectionCandidate {
  election: LeaderElection;
  /**
   * End the candidate's session without closing the election (expiry). Resolves once the
   * candidate has seen the expiry; a new session follows by itself.
   */
  expire(): Promise<void>;
  /** Lose the connection, the session survives. Resolves once the candidate noticed the loss. */
  suspend(): Promise<void>;
  /** Give the connection back (same session). */
  resume(): Promise<void>;
}

export interface ElectionGroup {
  /** A new candidate ("coordinator process") with its own session, not started. */
  candidate(id: string): Promise<ElectionCandidate>;
}

export interface ElectionHarness {
  /** A fresh election, isolated from every other test. */
  group(): Promise<ElectionGroup>;
  /** Release everything the harness made (sessions, proxies, znodes). */
  close?(): Promise<void>;
}

interface Joined extends ElectionCandidate {
  id: string;
  /** Every state change, in order. */
  log: ElectionState[];
}

const until = <T>(what: string, cond: () => T | undefined | null | false, timeoutMs = 10_000) =>
  waitFor(cond, { timeoutMs, intervalMs: 10, what });

/** Create, log and start candidates one after the other (line order = `ids` order). */
async function join(group: ElectionGroup, ids: string[]): Promise<Joined[]> {
  const out: Joined[] = [];
  for (const id of ids) {
    const c = await group.candidate(id);
    const log: ElectionState[] = [];
    c.election.onChange((s) => log.push(s));
    await c.election.start();
    out.push({ ...c, id, log });
  }
  return out;
}

function leaders(cs: Joined[]): string[] {
  return cs.filter((c) => c.election.state === "leader").map((c) => c.id);
}

export function describeElectionContract(name: string, make: () => Promise<ElectionHarness>, opts: { timeoutMs?: number } = {}): void {
  describe(`leader election contract: ${name}`, { timeout: opts.timeoutMs ?? 30_000 }, () => {
    let h: ElectionHarness;
    beforeAll(async () => {
      h = await make();
    });
    afterAll(async () => {
      await h?.close?.();
    });

    test("exactly one of three candidates leads, and all agree on its id", async () => {
      const [a, b, c] = await join(await h.group(), ["ca", "cb", "cc"]);
      // `start()` resolves once the state is known: no waiting needed.
      expect([a!.election.state, b!.election.state, c!.election.state]).toEqual(["leader", "follower", "follower"]);
      expect([a!.election.leaderId(), b!.election.leaderId(), c!.election.leaderId()]).toEqual(["ca", "ca", "ca"]);
      const paths = [a!, b!, c!].map((x) => x.election.nodePath());
      expect(paths.every((p) => typeof p === "string" && /\/n_\d+$/.test(p))).toBe(true);
      expect(new Set(paths).size).toBe(3);
      expect(a!.log).toEqual(["leader"]);
      expect(b!.log).toEqual([]);
      expect(c!.log).toEqual([]);
    });

    test("closing the leader hands over to the next in line; the others agree", async () => {
      const cs = await join(await h.group(), ["la", "lb", "lc"]);
      const [a, b, c] = cs as [Joined, Joined, Joined];
      await a.election.close();
      expect(a.election.state).toBe("follower");
      expect(a.election.nodePath()).toBeUndefined();
      expect(a.election.leaderId()).toBeUndefined();
      await until("lb leads", () => b.election.state === "leader");
      await until("lc follows lb", () => c.election.leaderId() === "lb");
      expect(leaders(cs)).toEqual(["lb"]);
      expect(b.election.leaderId()).toBe("lb");
      expect(a.log).toEqual(["leader", "follower"]);
      expect(b.log).toEqual(["leader"]);
      expect(c.log).toEqual([]);
      await a.election.close(); // idempotent
      expect(a.log).toEqual(["leader", "follower"]);
    });

    test("a middle candidate leaving changes nobody's leadership, and the line closes up", async () => {
      const cs = await join(await h.group(), ["ma", "mb", "mc"]);
      const [a, b, c] = cs as [Joined, Joined, Joined];
      await b.election.close();
      expect(a.election.state).toBe("leader");
      expect(c.election.state).toBe("follower");
      // mc now follows ma directly: when ma leaves, mc takes over (its watch moved on).
      await a.election.close();
      await until("mc leads", () => c.election.state === "leader");
      expect(c.election.leaderId()).toBe("mc");
      // No spurious transitions anywhere: the leader never wavered, mc led exactly once.
      expect(a.log).toEqual(["leader", "follower"]);
      expect(b.log).toEqual([]);
      expect(c.log).toEqual(["leader"]);
    });

    test("session expiry of the leader: follower at once, the next leads, the expired one re-joins at the back", async () => {
      const cs = await join(await h.group(), ["xa", "xb", "xc"]);
      const [a, b, c] = cs as [Joined, Joined, Joined];
      const oldPath = a.election.nodePath();
      await a.expire();
      expect(a.election.state).toBe("follower"); // at once, not after the renewal
      // (forcing an expiry with a twin client may first cost the connection and give it back
      // — suspended, leader again — before the session really ends: only what follows counts)
      const mark = a.log.length;
      expect(a.log.at(-1)).toBe("follower");
      await until("xb leads", () => b.election.state === "leader");
      await until("xc follows xb", () => c.election.leaderId() === "xb");
      await until("xa re-joined under xb", () => {
        const p = a.election.nodePath();
        return p !== undefined && p !== oldPath && a.election.leaderId() === "xb";
      });
      expect(a.election.state).toBe("follower");
      expect(leaders(cs)).toEqual(["xb"]);
      // xa: leader until the expiry, follower from then on — never leader again while xb lives.
      expect(a.log[0]).toBe("leader");
      expect(a.log.at(-1)).toBe("follower");
      expect(a.log.slice(mark).includes("leader")).toBe(false);
      expect(b.log).toEqual(["leader"]);
      expect(c.log).toEqual([]);
      // The re-joined candidate is at the back: xc leads next, then xa.
      await b.election.close();
      await until("xc leads", () => c.election.state === "leader");
      await until("xa follows xc", () => a.election.leaderId() === "xc");
      expect(a.election.state).toBe("follower");
      await c.election.close();
      await until("xa leads", () => a.election.state === "leader");
      expect(a.election.leaderId()).toBe("xa");
    });

    test("connection loss: the leader is suspended and leads again on reconnect; followers stay put", async () => {
      const cs = await join(await h.group(), ["sa", "sb"]);
      const [a, b] = cs as [Joined, Joined];
      await a.suspend();
      await until("sa suspended", () => a.election.state === "suspended");
      expect(b.election.state).toBe("follower");
      expect(b.election.leaderId()).toBe("sa");
      await a.resume();
      await until("sa leads again", () => a.election.state === "leader");
      expect(a.election.leaderId()).toBe("sa");
      expect(a.log).toEqual(["leader", "suspended", "leader"]);
      expect(b.log).toEqual([]);
      expect(b.election.state).toBe("follower");
    });

    test("a disconnected follower learns of a hand-over only after reconnecting", async () => {
      const cs = await join(await h.group(), ["da", "db"]);
      const [a, b] = cs as [Joined, Joined];
      await b.suspend();
      expect(b.election.state).toBe("follower"); // a follower is never `suspended`
      await a.election.close();
      expect(b.election.state).toBe("follower");
      await b.resume();
      await until("db leads", () => b.election.state === "leader");
      expect(b.election.leaderId()).toBe("db");
      expect(b.log).toEqual(["leader"]);
    });

    test("a lone candidate leads; unsubscribed listeners hear nothing; start twice is refused", async () => {
      const [a] = await join(await h.group(), ["solo"]);
      const x = a!;
      expect(x.election.state).toBe("leader");
      expect(x.election.leaderId()).toBe("solo");
      const heard: ElectionState[] = [];
      const off = x.election.onChange((s) => heard.push(s));
      off();
      await expect(x.election.start()).rejects.toThrow();
      await x.election.close();
      expect(x.election.state).toBe("follower");
      expect(x.election.leaderId()).toBeUndefined();
      expect(heard).toEqual([]);
      expect(x.log).toEqual(["leader", "follower"]);
    });
  });
}
