/** Pure parts of the game log and analytics pipeline: partition names/bounds/plan, --since parsing, the writer's bounded buffer, stream entry codec. */
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { decodeEntry, encodeEntry } from "../../src/core/ops/analytics.js";
import { GameLogWriter, parseSince, partitionBounds, partitionDay, partitionName, partitionPlan } from "../../src/core/ops/game-log.js";

const T = Date.UTC(2026, 10, 23, 16, 20, 5); // 2026-11-23T16:20:05Z
const DAY = 86_400_000;

describe("game log partitions (pure)", () => {
  it("names and bounds are UTC days", () => {
    expect(partitionName(T)).toBe("game_log_20261123");
    expect(partitionName(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toBe("game_log_20261231");
    expect(partitionName(Date.UTC(2027, 0, 1))).toBe("game_log_20270101");
    expect(partitionBounds(T)).toEqual({ from: "2026-11-23T00:00:00.000Z", to: "2026-11-24T00:00:00.000Z" });
    expect(partitionDay("game_log_20261123")).toBe(Date.UTC(2026, 10, 23));
    expect(partitionDay("game_log_20261332")).toBeUndefined();
    expect(partitionDay("game_log_default")).toBeUndefined();
  });

  it("plan: creates today..today+ahead, drops days older than the retention, ignores foreign names", () => {
    const existing = ["game_log_20261101", "game_log_20261115", "game_log_20261116", "game_log_20261123", "game_log_other"];
    const p = partitionPlan(T, existing, 7, 2);
    expect(p.create).toEqual(["game_log_20261124", "game_log_20261125"]);
    expect(p.drop).toEqual(["game_log_20261101", "game_log_20261115"]); // 16th = today-7 is kept
    expect(partitionPlan(T, [...existing, ...p.create], 7, 2).create).toEqual([]);
  });

  it("parseSince: durations and ISO times; rejects junk", () => {
    expect(parseSince("1h", T)).toBe(T - 3_600_000);
    expect(parseSince("90s", T)).toBe(T - 90_000);
    expect(parseSince("15m", T)).toBe(T - 900_000);
    expect(parseSince("7d", T)).toBe(T - 7 * DAY);
    expect(parseSince("2026-11-20T00:00:00Z", T)).toBe(Date.UTC(2026, 10, 20));
    for (const bad of ["", "1w", "h", "-1h", "yesterday"]) expect(() => parseSince(bad, T)).toThrow(/expected a duration/);
  });
});

describe("GameLogWriter (in-memory runner)", () => {
  it("batches into one INSERT per flush; a full buffer drops the oldest and counts it; a failed flush keeps rows", async () => {
    const calls: unknown[][] = [];
    let fail = false;
    const w = new GameLogWriter({
      node: "n1",
      run: async (_sql, params) => {
        if (fail) throw new Error("db down");
        calls.push(params);
        return { rows: [] };
      },
      ensurePartitions: async () => undefined,
      maxBuffer: 5,
      flushMs: 1000,
      log: silentLogger(),
      now: () => T,
    });
    for (let i = 1; i <= 8; i++) w.log("login", i, { i });
    expect(w.queued).toBe(5);
    expect(w.dropped).toBe(3);
    await w.flush();
    expect(calls.length).toBe(1);
    expect(calls[0]![2]).toEqual([4, 5, 6, 7, 8]); // oldest (1-3) dropped
    fail = true;
    w.log("error", 0, { msg: "x" });
    await w.flush();
    expect(w.queued).toBe(1);
    fail = false;
    await w.close();
    expect(w.queued).toBe(0);
    expect(w.written).toBe(6);
  });
});

describe("analytics stream entries", () => {
  it("round-trips and rejects malformed entries", () => {
    const e = { userId: 7, name: "tutorial_done", props: { step: 3, ok: true }, receivedAt: T, clientAt: T - 5 };
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
    const { clientAt: _c, ...noClient } = e;
    expect(decodeEntry(encodeEntry(noClient))).toEqual(noClient);
    expect(decodeEntry(["u", "x", "n", "a", "r", "1"])).toBeUndefined();
    expect(decodeEntry(["u", "1", "n", "a", "r", "1", "p", "{bad"])).toBeUndefined();
  });
});
