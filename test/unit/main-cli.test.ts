/**
 * The one binary's user errors: exit status 2 and exactly one clear line, no stack trace.
 * These start real `src/main.ts` processes (no infrastructure needed: they fail before it).
 */
import { createServer, type Server } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { startRift, stopAll } from "../helpers/processes.js";

afterAll(stopAll);

async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; lines: string[] }> {
  const p = await startRift(args, { env: { ...env, RIFT__LOG__LEVEL: "silent" } });
  const exit = await p.exited;
  return { code: exit.code, lines: p.lines.filter((l) => l.trim() !== "") };
}

describe("rift binary user errors", () => {
  it("unknown role → exit 2, one line naming the role", async () => {
    const r = await run(["--role", "bogus"]);
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^rift: RIFT_UNKNOWN_ROLE: .*'bogus'/);
  });

  it("missing --role → exit 2, one usage line", async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^rift: RIFT_USAGE: .*--role/);
  });

  it("invalid config key → exit 2, one line naming the key", async () => {
    const r = await run(["--role", "field"], { RIFT__FIELD__TICKHZ: "0" });
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^rift: RIFT_CONFIG_INVALID: .*field\.tickHz/);
  });

  it("missing config file → exit 2", async () => {
    const r = await run(["--role", "field", "--config", "/nonexistent/rift.yaml"]);
    expect(r.code).toBe(2);
    expect(r.lines).toEqual([expect.stringMatching(/^rift: RIFT_CONFIG_FILE: .*\/nonexistent\/rift\.yaml/)]);
  });

  it("port already in use → exit 2, one line naming host:port and the key", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await run(["--role", "field"], { RIFT__OPS__PORT: String(port) });
      expect(r.code).toBe(2);
      expect(r.lines).toEqual([`rift: RIFT_PORT_IN_USE: port already in use: 127.0.0.1:${port} (ops.port)`]);
    } finally {
      blocker.close();
    }
  });
});
