import { describe, expect, it } from "vitest";
import { SessionTable, type Session } from "../../src/core/scene/sessions.js";

const session = (user: number, zone: string, link = 1): Session => ({ user, name: `u${user}`, zone, link, hp: 100, cells: [] });

describe("SessionTable", () => {
  it("indexes sessions by user, link and channel key; remove and moveLink keep every index right", () => {
    const t = new SessionTable();
    const a = session(1, "z1");
    const b = session(2, "d0000000001@z1");
    const c = session(3, "z1", 2);
    [a, b, c].forEach((s) => t.add(s));
    expect(t.inZone("z1").map((s) => s.user)).toEqual([1, 3]);
    expect(t.inZone("d0000000001@z1")).toEqual([b]);
    expect(t.inZone("z2")).toEqual([]);
    expect(t.usersOf(1).sort()).toEqual([1, 2]);

    t.moveLink(c, 1);
    expect(t.usersOf(1).sort()).toEqual([1, 2, 3]);
    expect(t.usersOf(2)).toEqual([]);
    expect(t.inZone("z1").map((s) => s.user)).toEqual([1, 3]);

    t.remove(1);
    t.remove(2);
    expect(t.inZone("z1")).toEqual([c]);
    expect(t.inZone("d0000000001@z1")).toEqual([]);
    expect(() => t.add(session(3, "z2"))).toThrow();
    expect(t.size).toBe(1);
  });
});
