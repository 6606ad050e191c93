import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { allocatePorts, candidateRange, isPortFree } from "../../src/tools/infra/ports.js";

const dirs: string[] = [];
const servers: Server[] = [];
function reservationDir(): string {
  const d = mkdtempSync(join(tmpdir(), "rift-ports-test-"));
  dirs.push(d);
  return d;
}
function listen(port = 0): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    servers.push(s);
    s.once("error", rej);
    s.listen(port, "127.0.0.1", () => res((s.address() as { port: number }).port));
  });
}
/** A random source that yields the given ports first (for range [lo, hi)). */
function scripted(lo: number, hi: number, ports: number[]): () => number {
  const queue = [...ports];
  return () => {
    const p = queue.shift();
    return p === undefined ? Math.random() : (p - lo + 0.5) / (hi - lo);
  };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("port allocation", () => {
  test("candidate range avoids the kernel's ephemeral range", () => {
    expect(candidateRange([32768, 60999])).toEqual([20000, 32768]);
    expect(candidateRange([10000, 40000])).toEqual([40001, 65536]);
    expect(candidateRange([15000, 64000])).toEqual([20000, 30000]);
  });

  test("allocates distinct ports that can be bound, inside the range", async () => {
    const ports = await allocatePorts(8, { reservationDir: reservationDir(), range: [20000, 32768] });
    expect(new Set(ports).size).toBe(8);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(20000);
      expect(p).toBeLessThan(32768);
      expect(await isPortFree(p)).toBe(true);
    }
  });

  test("skips a port that is in use", async () => {
    const busy = await listen();
    expect(await isPortFree(busy)).toBe(false);
    const range: [number, number] = [busy - 100, busy + 100];
    // The busy port is checked for real; the next candidate is declared free, so another
    // process of a parallel run that happens to hold busy + 1 cannot make this test flaky.
    const isFree = (port: number) => (port === busy ? isPortFree(port) : Promise.resolve(true));
    const [p] = await allocatePorts(1, { reservationDir: reservationDir(), range, isFree, random: scripted(range[0], range[1], [busy, busy + 1]) });
    expect(p).toBe(busy + 1);
  });

  test("never hands out a port reserved by a live process, even if it is still unbound", async () => {
    const dir = reservationDir();
    const range: [number, number] = [24000, 24100];
    const [first] = await allocatePorts(1, { reservationDir: dir, range, random: scripted(24000, 24100, [24010]) });
    expect(first).toBe(24010);
    const [second] = await allocatePorts(1, { reservationDir: dir, range, random: scripted(24000, 24100, [24010, 24011]) });
    expect(second).toBe(24011);
  });

  test("reclaims a reservation whose owner process is gone", async () => {
    const dir = reservationDir();
    writeFileSync(join(dir, "24020"), "999999999\n");
    const [p] = await allocatePorts(1, { reservationDir: dir, range: [24000, 24100], random: scripted(24000, 24100, [24020]) });
    expect(p).toBe(24020);
  });

  test("gives up with a clear error when nothing is free", async () => {
    await expect(allocatePorts(1, { reservationDir: reservationDir(), range: [24000, 24010], isFree: async () => false })).rejects.toThrow(
      /no free port found in 24000-24009/,
    );
  });
});
