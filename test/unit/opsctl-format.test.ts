/**
 * opsctl pure formatting: ages, aligned tables, member addresses, the cluster / placement /
 * drain texts, and the election line order (lowest sequence number leads).
 */
import { describe, expect, test } from "vitest";
import type { PlacementDoc } from "../../src/core/cluster/placement-doc.js";
import type { MemberInfo } from "../../src/core/cluster/types.js";
import {
  clusterSummary,
  clusterText,
  drainStateChanged,
  drainStateText,
  formatAge,
  formatElapsed,
  formatLoad,
  memberAddress,
  placementRows,
  placementText,
  table,
  zonesOf,
  type DrainState,
} from "../../src/tools/opsctl/format.js";
import { electionOrder, electionSeq } from "../../src/tools/opsctl/state.js";

const NOW = 1_700_000_000_000;

function member(role: MemberInfo["role"], id: string, over: Partial<MemberInfo> = {}): MemberInfo {
  return { role, id, host: "10.0.0.1", opsPort: 9100, colour: "blue", version: "1.0.0", load: 0, startedAt: NOW - 1000, ...over };
}

describe("ages", () => {
  test.each([
    [0, "0s"],
    [999, "0s"],
    [3_000, "3s"],
    [59_999, "59s"],
    [60_000, "1m0s"],
    [130_000, "2m10s"],
    [3_599_000, "59m59s"],
    [3_600_000, "1h0m"],
    [3_600_000 * 5 + 4 * 60_000 + 59_000, "5h4m"],
    [86_400_000 * 2 + 3_600_000 * 3, "2d3h"],
    [-5_000, "0s"],
    [Number.NaN, "-"],
  ])("formatAge(%d) = %s", (ms, s) => expect(formatAge(ms)).toBe(s));

  test.each([
    [0, "0.0s"],
    [449, "0.4s"],
    [12_345, "12.3s"],
    [59_999, "59.9s"],
    [61_000, "1m1s"],
  ])("formatElapsed(%d) = %s", (ms, s) => expect(formatElapsed(ms)).toBe(s));

  test("loads: integers as is, fractions to two decimals", () => {
    expect(formatLoad(140)).toBe("140");
    expect(formatLoad(12.5)).toBe("12.5");
    expect(formatLoad(1 / 3)).toBe("0.33");
  });
});

describe("table", () => {
  test("aligns columns with two spaces, right-aligns the chosen ones, trims line ends", () => {
    const lines = table(
      ["NAME", "N", "NOTE"],
      [
        ["a", "1", "x"],
        ["longer", "100", ""],
      ],
      { right: [1] },
    );
    expect(lines).toEqual(["NAME      N  NOTE", "a         1  x", "longer  100"]);
  });

  test("short rows and wide headers", () => {
    expect(table(["A", "BBBB"], [["xyz"]])).toEqual(["A    BBBB", "xyz"]);
  });

  test("every line starts each column at the same offset", () => {
    const lines = table(["ROLE", "ID", "LOAD"], [["gateway", "gw-1", "5"], ["coordinator", "c", "12345"]], { right: [2] });
    const idCol = lines[0]!.indexOf("ID");
    for (const l of lines.slice(1)) expect(l[idCol - 1]).toBe(" ");
    expect(lines.map((l) => l.length)).toEqual([lines[0]!.length, lines[0]!.length, lines[0]!.length]);
  });
});

describe("members", () => {
  test("address: gateway client port, game server link ports, else the host", () => {
    expect(memberAddress(member("gateway", "g", { clientPort: 7000 }))).toBe("10.0.0.1:7000");
    expect(memberAddress(member("field", "f", { linkPorts: [7100, 7101] }))).toBe("10.0.0.1:7100,7101");
    expect(memberAddress(member("coordinator", "c"))).toBe("10.0.0.1");
    expect(memberAddress(member("field", "f", { linkPorts: [] }))).toBe("10.0.0.1");
  });

  const members = [
    member("coordinator", "coord-b"),
    member("field", "field-2", { linkPorts: [7200], load: 12, startedAt: NOW - 130_000 }),
    member("gateway", "gw-1", { clientPort: 7000, load: 312 }),
    member("coordinator", "coord-a"),
    member("field", "field-1", { linkPorts: [7100], load: 140 }),
  ];

  test("summary counts per role in catalogue order and names the leader", () => {
    expect(clusterSummary({ members, leader: "coord-b", invalid: [] })).toBe("5 members: 1 gateway, 2 field, 2 coordinator; leader coord-b");
    expect(clusterSummary({ members, leader: undefined, invalid: [] })).toBe("5 members: 1 gateway, 2 field, 2 coordinator; no leader");
    expect(clusterSummary({ members, leader: "coord-z", invalid: [] })).toBe("5 members: 1 gateway, 2 field, 2 coordinator; leader coord-z (not a registered coordinator)");
    expect(clusterSummary({ members: [], leader: undefined, invalid: [] })).toBe("0 members; no leader");
    expect(clusterSummary({ members: [members[2]!], leader: undefined, invalid: [] })).toBe("1 member: 1 gateway; no leader");
  });

  test("cluster text: sorted rows, LEADER marker only on the leading coordinator, uptime, summary, warnings", () => {
    const lines = clusterText({ members, leader: "coord-b", invalid: ["/r/members/field/bad"] }, NOW);
    expect(lines[0]).toMatch(/^ROLE\s+ID\s+ADDRESS\s+OPS\s+LOAD\s+COLOUR\s+VERSION\s+UPTIME$/);
    const ids = lines.slice(1, 6).map((l) => l.split(/\s+/)[1]);
    expect(ids).toEqual(["gw-1", "field-1", "field-2", "coord-a", "coord-b"]);
    expect(lines.filter((l) => l.includes("LEADER"))).toHaveLength(1);
    expect(lines.find((l) => l.includes("LEADER"))).toMatch(/^coordinator\s+coord-b LEADER\s/);
    expect(lines.find((l) => l.includes("field-2"))).toMatch(/10\.0\.0\.1:7200\s+9100\s+12\s+blue\s+1\.0\.0\s+2m10s$/);
    expect(lines).toContain("5 members: 1 gateway, 2 field, 2 coordinator; leader coord-b");
    expect(lines.at(-1)).toBe("warning: /r/members/field/bad holds no valid member info (skipped)");
  });

  test("a coordinator id that leads but has another role is not marked", () => {
    const lines = clusterText({ members: [member("field", "x")], leader: "x", invalid: [] }, NOW);
    expect(lines.some((l) => l.includes("LEADER"))).toBe(false);
  });

  test("empty cluster", () => {
    expect(clusterText({ members: [], leader: undefined, invalid: [] }, NOW)).toEqual(["(no members registered)", "", "0 members; no leader"]);
  });
});

describe("placement", () => {
  const doc: PlacementDoc = {
    generation: 7,
    leader: "coord-b",
    updatedAt: NOW - 3_000,
    zones: {
      z2: { server: "field-2", since: NOW - 2_000 },
      z1: { server: "field-1", since: NOW - 130_000 },
      z3: { server: "field-9", since: NOW - 50_000 },
    },
    draining: ["field-2"],
  };
  const live = new Set(["field-1", "field-2", "coord-b"]);

  test("rows sorted by zone, marked live or not", () => {
    expect(placementRows(doc, live)).toEqual([
      { zone: "z1", server: "field-1", live: true, since: NOW - 130_000 },
      { zone: "z2", server: "field-2", live: true, since: NOW - 2_000 },
      { zone: "z3", server: "field-9", live: false, since: NOW - 50_000 },
    ]);
    expect(zonesOf(doc, "field-2")).toEqual(["z2"]);
    expect(zonesOf(doc, "nobody")).toEqual([]);
    expect(zonesOf(undefined, "field-1")).toEqual([]);
  });

  test("text: header, table with live/MISSING and ages, footer", () => {
    const lines = placementText(doc, live, "coord-b", NOW);
    expect(lines[0]).toBe("generation 7, written by coord-b 3s ago");
    expect(lines[1]).toBe("current leader: coord-b");
    expect(lines[2]).toBe("draining: field-2");
    expect(lines).toContain("ZONE  SERVER   STATUS   SINCE");
    expect(lines).toContain("z1    field-1  live     2m10s");
    expect(lines).toContain("z3    field-9  MISSING    50s");
    expect(lines.at(-1)).toBe("3 zones, 1 on MISSING servers");
  });

  test("text notes a leader that has not written yet, and no leader at all", () => {
    expect(placementText(doc, live, "coord-a", NOW)[1]).toMatch(/^current leader: coord-a \(differs from the writer/);
    expect(placementText(doc, live, undefined, NOW)[1]).toBe("current leader: none");
    const empty = placementText({ ...doc, zones: {}, draining: [] }, live, "coord-b", NOW);
    expect(empty).toContain("(no zones placed)");
    expect(empty).toContain("draining: none");
    expect(empty.at(-1)).toBe("0 zones, all on live servers");
  });
});

describe("drain progress", () => {
  const s: DrainState = { present: true, zones: ["z1", "z2"], load: 140, draining: false };

  test("lines", () => {
    expect(drainStateText("field-1", s)).toBe("field-1: 2 zones (z1, z2), 140 users");
    expect(drainStateText("field-1", { ...s, zones: ["z2"], load: 1, draining: true })).toBe("field-1: 1 zone (z2), 1 user, draining");
    expect(drainStateText("field-1", { ...s, zones: [], load: 0 })).toBe("field-1: 0 zones, 0 users");
    expect(drainStateText("field-1", { ...s, load: undefined })).toBe("field-1: 2 zones (z1, z2)");
    expect(drainStateText("f", { ...s, zones: ["a", "b", "c", "d", "e", "f", "g"] })).toBe("f: 7 zones (a, b, c, d, e, f, …), 140 users");
    expect(drainStateText("f", { ...s, present: false })).toBe("f: gone");
  });

  test("a line is due on the first state and on every change, not otherwise", () => {
    expect(drainStateChanged(undefined, s)).toBe(true);
    expect(drainStateChanged(s, { ...s, zones: ["z1", "z2"] })).toBe(false);
    expect(drainStateChanged(s, { ...s, zones: ["z1"] })).toBe(true);
    expect(drainStateChanged(s, { ...s, load: 139 })).toBe(true);
    expect(drainStateChanged(s, { ...s, draining: true })).toBe(true);
    expect(drainStateChanged(s, { ...s, present: false })).toBe(true);
  });
});

describe("election order", () => {
  test("by sequence number, not by name; names other than n_<seq> ignored", () => {
    expect(electionSeq("n_0000000012")).toBe(12);
    expect(Number.isNaN(electionSeq("junk"))).toBe(true);
    expect(electionOrder(["n_0000000010", "n_0000000002", "junk", "x_0000000005", "n_0000000007"])).toEqual(["n_0000000002", "n_0000000007", "n_0000000010"]);
    expect(electionOrder(["n_9999999999", "n_10000000000"])).toEqual(["n_9999999999", "n_10000000000"]);
    expect(electionOrder([])).toEqual([]);
  });
});
