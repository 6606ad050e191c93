import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { applyOpsEvent, MemoryOpsHub, MemoryOpsStore, parseOpsEvent, type OpsEvent } from "../../src/core/ops/events.js";
import { bucketOf, emptySnapshot, evaluateFlag, featuresFor, flagBasisPoints, parseFlagValue } from "../../src/core/ops/flags.js";
import { quantileFromBuckets } from "../../src/core/ops/monitor.js";
import { OpsState } from "../../src/core/ops/state.js";
import { parseEvent } from "../../src/tools/opsctl/event.js";
import { flagRmEvent, flagSetEvent } from "../../src/tools/opsctl/flag.js";
import { topText } from "../../src/tools/opsctl/top.js";

const pctValue = fc.integer({ min: 0, max: 10_000 }).map((bp) => `${bp / 100}%`);

describe("flag evaluation (pure)", () => {
  test("stable: the same (flag, user, role) always gives the same answer", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/), fc.integer({ min: 1, max: 2 ** 40 }), pctValue, (name, user, v) => {
        const rules = { "*": v };
        const a = evaluateFlag(name, rules, user, "gateway");
        expect(evaluateFlag(name, { ...rules }, user, "gateway")).toBe(a);
        expect(bucketOf(name, user)).toBe(bucketOf(name, user));
      }),
    );
  });

  test("monotone: raising the percentage never disables a user that had the feature", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), fc.integer({ min: 1, max: 1e9 }), fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }), (name, user, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        if (evaluateFlag(name, { "*": `${lo / 100}%` }, user, "field")) expect(evaluateFlag(name, { "*": `${hi / 100}%` }, user, "field")).toBe(true);
      }),
    );
  });

  test("~pct% of user ids: any percentage, flag name and id range, within 5 binomial σ over 1,000 ids", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 1e6 }), (name, pct, start) => {
        let n = 0;
        for (let u = start; u < start + 1000; u++) if (evaluateFlag(name, { "*": `${pct}%` }, u, "gateway")) n++;
        const sigmaPts = Math.sqrt((pct / 100) * (1 - pct / 100) / 1000) * 100;
        expect(Math.abs(n / 10 - pct)).toBeLessThanOrEqual(Math.max(0.1, 5 * sigmaPts));
      }),
      { numRuns: 60, seed: 9 },
    );
  });

  test("the acceptance case: 10% of user ids 1..1000 is 10% ± 3 points for typical flag names, the same ids each time", () => {
    for (const name of ["beta", "shop", "newui", "chat", "fast_travel"]) {
      const pick = () => Array.from({ length: 1000 }, (_, i) => i + 1).filter((u) => evaluateFlag(name, { "*": "10%" }, u, "gateway"));
      const a = pick();
      expect(Math.abs(a.length / 10 - 10), name).toBeLessThanOrEqual(3);
      expect(pick()).toEqual(a);
    }
  });

  test("on/off, role rule over `*`, no rule = off, no user = only `on`", () => {
    expect(evaluateFlag("x", { "*": "on" }, 1, "gateway")).toBe(true);
    expect(evaluateFlag("x", { "*": "off" }, 1, "gateway")).toBe(false);
    expect(evaluateFlag("x", { "*": "on", field: "off" }, 1, "field")).toBe(false);
    expect(evaluateFlag("x", { "*": "on", field: "off" }, 1, "gateway")).toBe(true);
    expect(evaluateFlag("x", { field: "on" }, 1, "gateway")).toBe(false);
    expect(evaluateFlag("x", { "*": "99.99%" }, undefined, "gateway")).toBe(false);
    expect(evaluateFlag("x", { "*": "100%" }, undefined, "gateway")).toBe(true);
  });

  test("parseFlagValue normalises operator input", () => {
    expect(parseFlagValue("ON")).toBe("on");
    expect(parseFlagValue("10")).toBe("10%");
    expect(parseFlagValue(" 12.5 % ")).toBe("12.5%");
    expect(parseFlagValue("0%")).toBe("off");
    expect(parseFlagValue("100%")).toBe("on");
    expect(parseFlagValue("101%")).toBeUndefined();
    expect(parseFlagValue("1.234%")).toBeUndefined();
    expect(parseFlagValue("abc")).toBeUndefined();
    expect(flagBasisPoints("12.5%")).toBe(1250);
    expect(flagBasisPoints("0.05%")).toBe(5);
  });

  test("features: built-ins minus switched-off, plus flagged ones that evaluate true", () => {
    const s = emptySnapshot();
    s.switches.shop = false;
    s.flags.newui = { "*": "on" };
    s.flags.chat = { "*": "off" };
    s.flags.beta = { field: "on" };
    expect(featuresFor(s, ["move", "chat", "shop"], 7, "gateway")).toEqual(["move", "newui"]);
    expect(featuresFor(emptySnapshot(), ["move", "shop"], undefined, "gateway")).toEqual(["move", "shop"]);
  });
});

describe("ops events", () => {
  test("applyOpsEvent: switch, flag set / rule removal / removal; transient events change nothing", () => {
    let s = emptySnapshot();
    s = applyOpsEvent(s, { kind: "switch", name: "shop", enabled: false });
    s = applyOpsEvent(s, { kind: "flag", name: "f", scope: "*", value: "10%" });
    s = applyOpsEvent(s, { kind: "flag", name: "f", scope: "gateway", value: "on" });
    expect(s).toEqual({ switches: { shop: false }, flags: { f: { "*": "10%", gateway: "on" } } });
    s = applyOpsEvent(s, { kind: "flag", name: "f", scope: "gateway", value: null });
    expect(s.flags).toEqual({ f: { "*": "10%" } });
    expect(applyOpsEvent(s, { kind: "announce", text: "hi" })).toBe(s);
    expect(applyOpsEvent(s, { kind: "flagRemoved", name: "f" }).flags).toEqual({});
  });

  test("parseOpsEvent validates; parseEvent builds events from opsctl arguments", () => {
    expect(parseOpsEvent(JSON.stringify({ kind: "kick", userId: 5 }))).toEqual({ kind: "kick", userId: 5 });
    expect(parseOpsEvent(JSON.stringify({ kind: "kick", userId: -1 }))).toBeUndefined();
    expect(parseOpsEvent(JSON.stringify({ kind: "flag", name: "x", scope: "*", value: "200%" }))).toBeUndefined();
    expect(parseOpsEvent("{")).toBeUndefined();
    expect(parseEvent("shop", ["off"])).toEqual({ kind: "switch", name: "shop", enabled: false });
    expect(parseEvent("announce", ["hello", "all"])).toEqual({ kind: "announce", text: "hello all" });
    expect(parseEvent("kick", ["42", "cheating"])).toEqual({ kind: "kick", userId: 42, reason: "cheating" });
    expect(() => parseEvent("kick", ["bob"])).toThrow(/RIFT|user id/);
    expect(() => parseEvent("shop", ["maybe"])).toThrow(/on or off/);
    expect(() => parseEvent("nope", [])).toThrow(/unknown event/);
    expect(flagSetEvent("beta", "10", "gateway")).toEqual({ kind: "flag", name: "beta", scope: "gateway", value: "10%" });
    expect(flagRmEvent("beta")).toEqual({ kind: "flagRemoved", name: "beta" });
    expect(() => flagSetEvent("Beta", "on")).toThrow(/flag name/);
    expect(() => flagSetEvent("beta", "on", "nosuchrole")).toThrow(/--role/);
  });

  test("OpsState: loads on start, applies bus events at once, reloads on resync, never lets a stale load win", async () => {
    const hub = new MemoryOpsHub();
    const store = new MemoryOpsStore();
    store.state.switches.shop = false;
    const st = new OpsState({ store, bus: hub.bus(), role: "gateway", log: silentLogger(), reconcileMs: 0 });
    const seen: string[] = [];
    st.on((e) => seen.push(e.kind));
    await st.start();
    expect(st.enabled("shop", ["shop"], 1)).toBe(false);
    const on: OpsEvent = { kind: "switch", name: "shop", enabled: true };
    await hub.bus().publish(on); // not stored: the bus alone carries it
    expect(st.enabled("shop", ["shop"], 1)).toBe(true);
    // a reconnect reloads the durable truth (the store still says off)
    hub.resync();
    await st.reload();
    expect(st.enabled("shop", ["shop"], 1)).toBe(false);
    // an event during a slow load: the load is repeated
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const origLoad = store.load.bind(store);
    let calls = 0;
    store.load = async () => {
      calls++;
      const s = await origLoad();
      if (calls === 1) await slow;
      return s;
    };
    const p = st.reload();
    await store.apply(on);
    await hub.bus().publish(on);
    release();
    await p;
    expect(calls).toBe(2);
    expect(st.enabled("shop", ["shop"], 1)).toBe(true);
    expect(seen).toContain("reloaded");
    expect(seen).toContain("switch");
    await st.close();
  });
});

describe("monitor (pure)", () => {
  test("quantileFromBuckets: upper bound of the bucket reaching q·total", () => {
    const b = [0.001, 0.01, 0.1, Infinity];
    expect(quantileFromBuckets(b, [0, 0, 0, 0], 0.99)).toBeUndefined();
    expect(quantileFromBuckets(b, [99, 100, 100, 100], 0.99)).toBe(0.001);
    expect(quantileFromBuckets(b, [50, 98, 100, 100], 0.99)).toBe(0.1);
    expect(quantileFromBuckets(b, [0, 0, 0, 10], 0.99)).toBe(0.1);
  });

  test("topText: one row per process, sorted by role, with a summary", () => {
    const base = { version: "1", colour: "blue", pid: 1, host: "127.0.0.1", opsPort: 1, ts: 10_000, uptimeSec: 65, rssBytes: 50 * 1024 * 1024 };
    const lines = topText(
      [
        { ...base, role: "field", node: "f1", ccu: 12, tickP99Ms: 2.5, queueLength: 0, queueConsumeP99Ms: 0.5, flushLagMs: 0, sendQueueP99Bytes: 1024 },
        { ...base, role: "gateway", node: "g1", ccu: 12, sendQueueP99Bytes: 0 },
      ],
      11_000,
    );
    expect(lines[0]).toMatch(/^ROLE\s+NODE\s+VERSION\s+CCU\s+TICK99ms/);
    expect(lines[1]).toMatch(/^gateway\s+g1\s+1\/blue\s+12/);
    expect(lines[2]).toMatch(/^field\s+f1\s+1\/blue\s+12\s+2\.50/);
    expect(lines[3]).toBe("2 processes: 1 gateway (12 clients), 1 field (12 users)");
    expect(topText([], 0).at(-1)).toMatch(/no live processes/);
  });
});
