/**
 * `npm run loadbot` end to end: a real field server and gateway (child processes on the
 * shared test infra, isolated ZooKeeper root / Redis prefix / databases), then the load-bot
 * CLI as a child process with 20 bots for 4 s: every bot logs in with a pre-seeded account
 * (`--accounts`, cheap scrypt hashes so 20 logins fit a busy 2-core machine), enters the
 * world and walks; the JSON summary shows CCU 20, latency samples and no errors. One more
 * run with 3 bots covers the default path where each bot registers a new user.
 * And the CLI refuses a non-loopback gateway URL without running anything.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/core/config.js";
import { silentLogger } from "../../src/core/log.js";
import { createDataLayer } from "../../src/shard/data-layer.js";
import { TEST_SCRYPT } from "../../src/shard/passwords.js";
import { infraEnv } from "../../src/tools/infra/infra.js";
import { withTimeout } from "../../src/tools/infra/wait.js";
import type { Summary } from "../../src/tools/loadbot/stats.js";
import { getInfra } from "../helpers/infra.js";
import { isolated, uniqueId, type Isolated } from "../helpers/isolation.js";
import { startCoordinator, waitForPlacement } from "../helpers/coordinator.js";
import { startProcess, startRift, stopAll, tsxCommand, type ManagedProcess } from "../helpers/processes.js";

function readyJson(p: ManagedProcess, msg: string): Record<string, unknown> {
  const line = p.lines.find((l) => l.includes(`"msg":"${msg}"`));
  if (!line) throw new Error(`${p.name}: no "${msg}" line`);
  return JSON.parse(line) as Record<string, unknown>;
}

async function runLoadbot(args: string[], timeoutMs: number): Promise<{ code: number | null; lines: string[] }> {
  const [cmd, argv] = tsxCommand("src/tools/loadbot/cli.ts", args);
  const p = await startProcess(cmd, argv, { name: "loadbot" });
  const exit = await withTimeout(p.exited, timeoutMs, "loadbot to exit by itself");
  return { code: exit.code, lines: p.lines };
}

describe("loadbot against a real gateway + field server", { timeout: 120_000 }, () => {
  let scope: Isolated;
  let gatewayUrl: string;
  let accountsDir: string;
  let accountsFile: string;

  beforeAll(async () => {
    const infra = getInfra();
    scope = await isolated(infra);
    const env = {
      ...infraEnv(infra),
      RIFT__CLUSTER__ZOOKEEPER__ROOT: scope.zk.path,
      RIFT__CLUSTER__REDIS__KEYPREFIX: JSON.stringify(scope.redis.prefix),
      RIFT__DB__DATABASE: scope.dbs.name,
      RIFT__OPS__PORT: "0",
      RIFT__FIELD__LINKPORT: "0",
      RIFT__FIELD__IOWORKERS: "1",
      RIFT__FIELD__ZONES: "[z1]",
      RIFT__GATEWAY__PORT: "0",
      RIFT__LOG__LEVEL: "info",
    };
    const id = uniqueId();
    await startCoordinator(env);
    await startRift(["--role", "field"], { env: { ...env, RIFT__NODE__ID: `field-lb-${id}` }, readyWhen: /field server listening/, timeoutMs: 60_000 });
    await waitForPlacement(infra.zookeeper.connect, scope.zk.path, ["z1"]);
    const gw = await startRift(["--role", "gateway"], { env: { ...env, RIFT__NODE__ID: `gw-lb-${id}` }, readyWhen: /gateway listening/, timeoutMs: 60_000 });
    gatewayUrl = `ws://127.0.0.1:${Number(readyJson(gw, "gateway listening").port)}`;
    const data = createDataLayer({ config: loadConfig({ env: infraEnv(infra) }), log: silentLogger(), database: scope.dbs.name, scrypt: TEST_SCRYPT });
    try {
      const names = Array.from({ length: 20 }, (_, i) => `lbs${i}_${id.slice(-6)}`);
      for (const n of names) await data.accounts.register(n, "password1");
      accountsDir = mkdtempSync(join(tmpdir(), "rift-loadbot-"));
      accountsFile = join(accountsDir, "accounts.txt");
      writeFileSync(accountsFile, names.map((n) => `${n} password1`).join("\n") + "\n");
    } finally {
      await data.close();
    }
  });

  afterAll(async () => {
    await stopAll();
    await scope?.dispose();
    if (accountsDir) rmSync(accountsDir, { recursive: true, force: true });
  });

  it("3 bots registering new users: all enter, no errors", async () => {
    const { code, lines } = await runLoadbot(["--bots", "3", "--duration", "3", "--json", "--gateway", gatewayUrl, "--seed", "3"], 60_000);
    const jsonLine = lines.find((l) => l.startsWith("{") && l.includes('"ccu"'));
    expect(jsonLine, lines.slice(-20).join("\n")).toBeDefined();
    const s = JSON.parse(jsonLine!) as Summary;
    expect(code, lines.slice(-30).join("\n")).toBe(0);
    expect(s.entered, jsonLine).toBe(3);
    expect(s.errorCount).toBe(0);
  });

  it("20 bots for 4 s: all enter, latency measured, no errors", async () => {
    const { code, lines } = await runLoadbot(["--bots", "20", "--duration", "4", "--json", "--gateway", gatewayUrl, "--seed", "7", "--accounts", accountsFile], 60_000);
    const jsonLine = lines.find((l) => l.startsWith("{") && l.includes('"ccu"'));
    expect(jsonLine, lines.slice(-20).join("\n")).toBeDefined();
    const s = JSON.parse(jsonLine!) as Summary;
    expect(code, lines.slice(-30).join("\n")).toBe(0);
    expect(s.ccu, jsonLine).toBe(20);
    expect(s.entered).toBe(20);
    expect(s.errorCount).toBe(0);
    expect(s.errors).toEqual({});
    expect(s.sent).toBeGreaterThan(0);
    expect(s.framesIn).toBeGreaterThan(0);
    expect(s.latencyMs.samples).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeGreaterThan(0);
    // progress lines went to stderr in the documented format
    expect(lines.some((l) => /^\[loadbot\] t=\d+s bots=\d+\/20 msgs\/s=\d+ .*p99=\d+ms errors=\d+$/.test(l))).toBe(true);
  });

  it("refuses a non-loopback gateway URL (usage error, nothing runs)", async () => {
    const { code, lines } = await runLoadbot(["--bots", "1", "--duration", "1", "--gateway", "ws://10.20.30.40:7000"], 30_000);
    expect(code).toBe(2);
    expect(lines.join("\n")).toMatch(/RIFT_USAGE.*refusing gateway URL "ws:\/\/10\.20\.30\.40:7000".*loopback/);
    expect(lines.some((l) => l.includes('"ccu"'))).toBe(false);
  });
});
