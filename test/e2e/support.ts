/**
 * Shared pieces of the end-to-end tests (not a test file): walking SDK clients to target
 * points through the real movement rules, the AOI oracle (computed independently from the
 * product's grid code), and tick counters.
 */
import type { RiftClient } from "../../src/client/rift-client.js";
import { waitFor } from "../helpers/processes.js";

export interface Point {
  x: number;
  y: number;
}

/** Deterministic PRNG (mulberry32) so failures are reproducible. */
export { mulberry32 as prng } from "../../src/tools/loadbot/prng.js";

/** The world geometry a test configured (RIFT__FIELD__WORLDSIZE / AOICELLSIZE). */
export interface Geometry {
  worldSize: number;
  cellSize: number;
}

/** Column/row of a point: floor(v / cell), the far edge belonging to the last column. */
export function cellXY(p: Point, g: Geometry): [number, number] {
  const cols = Math.ceil(g.worldSize / g.cellSize);
  const idx = (v: number) => Math.min(cols - 1, Math.max(0, Math.floor(v / g.cellSize)));
  return [idx(p.x), idx(p.y)];
}

/** Whether b's cell is in the 3×3 neighbourhood of a's cell. */
export function inAoi(a: Point, b: Point, g: Geometry): boolean {
  const [ax, ay] = cellXY(a, g);
  const [bx, by] = cellXY(b, g);
  return Math.abs(ax - bx) <= 1 && Math.abs(ay - by) <= 1;
}

/** Server-confirmed own position of a client (throws before its first `enter`). */
export function selfOf(c: RiftClient): Point & { id: number } {
  const s = c.self;
  if (!s) throw new Error("client has no own entity yet");
  return { id: s.id, x: s.x, y: s.y };
}

/**
 * Walk every client to its target by sending `move` toward it every `periodMs` until its
 * server-confirmed position equals the target (targets must be f32-exact, e.g. integers).
 * The server clamps every step to maxSpeed and the distance budget; we just keep asking.
 */
export async function walkAll(
  clients: readonly RiftClient[],
  targets: readonly Point[],
  opts: { timeoutMs: number; periodMs?: number; /** Point to move toward instead of the target (e.g. beyond the world's edge). */ ask?: readonly (Point | undefined)[] },
): Promise<void> {
  const at = (i: number) => {
    const s = clients[i]!.self;
    const t = targets[i]!;
    return s !== undefined && s.x === Math.fround(t.x) && s.y === Math.fround(t.y);
  };
  const timer = setInterval(() => {
    clients.forEach((c, i) => {
      const p = opts.ask?.[i] ?? targets[i]!;
      if (!c.closed && !at(i)) c.move(p.x, p.y);
    });
  }, opts.periodMs ?? 100);
  try {
    await waitFor(() => clients.every((_, i) => at(i)), { timeoutMs: opts.timeoutMs, intervalMs: 50, what: `${clients.length} clients to reach their targets` });
  } catch (e) {
    // say who is stuck where (counted now, not when the wait began)
    const stuck = clients.map((c, i) => ({ c, i })).filter(({ i }) => !at(i));
    const sample = stuck.slice(0, 5).map(({ c, i }) => `#${i} at ${c.self ? `(${c.self.x}, ${c.self.y})` : "?"} → (${targets[i]!.x}, ${targets[i]!.y})${c.closed ? ` closed ${c.closed.code}` : ""}`);
    throw new Error(`${(e as Error).message}: ${stuck.length} still walking, e.g. ${sample.join("; ")}`, { cause: e });
  } finally {
    clearInterval(timer);
  }
}

export interface Observer {
  client: RiftClient;
  /** Zone the client is in (only clients of the same zone can see each other). */
  zone: string;
}

/**
 * Differences between each client's visible-entity set and the oracle: exactly the other
 * clients of its zone whose cell is in its 3×3 neighbourhood, at their server-confirmed
 * positions. Empty when every view is exact.
 */
export function aoiMismatches(observers: readonly Observer[], g: Geometry): string[] {
  const out: string[] = [];
  for (const o of observers) {
    const me = selfOf(o.client);
    const expected = new Map<number, Point>();
    for (const other of observers) {
      if (other === o || other.zone !== o.zone) continue;
      const p = selfOf(other.client);
      if (inAoi(me, p, g)) expected.set(p.id, p);
    }
    const actual = o.client.entities;
    const missing = [...expected.keys()].filter((id) => !actual.has(id));
    const extra = [...actual.keys()].filter((id) => !expected.has(id));
    const wrongPos = [...expected].filter(([id, p]) => {
      const e = actual.get(id);
      return e !== undefined && (e.x !== p.x || e.y !== p.y);
    });
    if (missing.length || extra.length || wrongPos.length) {
      out.push(
        `user ${me.id} at (${me.x},${me.y}) cell ${cellXY(me, g).join(",")}: missing [${missing.join(",")}] extra [${extra.join(",")}] wrong position [${wrongPos.map(([id]) => id).join(",")}]`,
      );
    }
  }
  return out;
}

/** Wait until `aoiMismatches` is empty; the timeout error quotes the remaining differences. */
export async function waitForExactViews(observers: readonly Observer[], g: Geometry, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    () => {
      const bad = aoiMismatches(observers, g);
      if (bad.length > 0) throw new Error(`${bad.length} views differ: ${bad.slice(0, 5).join("; ")}`);
      return true;
    },
    { timeoutMs, intervalMs: 100, what: "every client's view to equal its 3×3 AOI neighbourhood" },
  );
}

/** Counts the tick frames (`cell` messages) a client receives: frames and the last tick number. */
export class TickCounter {
  frames = 0;
  lastTick = -1;
  private readonly off: () => void;

  constructor(client: RiftClient) {
    let pendingTick = -1;
    this.off = client.on("message", (m) => {
      if (m.t !== "cell") return;
      if (m.b.tick !== pendingTick) {
        pendingTick = m.b.tick;
        this.frames++;
      }
      this.lastTick = Math.max(this.lastTick, m.b.tick);
    });
  }

  dispose(): void {
    this.off();
  }
}
