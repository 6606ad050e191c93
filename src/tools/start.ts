/**
 * `npm start`: the whole local cluster with a demo.
 *
 * 1. infra (`infraUp`: ZooKeeper, Redis, global + 2 shard Patroni clusters) in `.rift/infra`;
 * 2. every role that exists: two coordinators (one leads and places the zones), two field
 *    servers that can both host z1 and z2 (the leader puts one zone on each; kill one and
 *    its zone moves to the other), two chat servers (links :7200, :7210; channels spread over
 *    both, kill one and its channels move) and two gateways (ws://127.0.0.1:7000 and :7001),
 *    as child processes of this one;
 *    and two dungeon servers (links :7300, :7310; the leader places each instance on the less
 *    loaded one);
 * 3. a demo: a few SDK bots walking around z1, four of them going through the crypt dungeon
 *    together every few seconds (field → dungeon → field without reconnecting, a reward drop
 *    each), with a status line every few seconds.
 * Ctrl-C (or SIGTERM) stops the bots, then the roles (SIGTERM, by PID), then the infra.
 *
 * Options: `npm start -- --shards N --bots N --no-demo --keep-infra`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { RiftClient } from "../client/index.js";
import { infraDown, infraEnv, infraUp, type InfraState } from "./infra/infra.js";
import { waitFor } from "./infra/wait.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const say = (line: string) => process.stdout.write(`[start] ${line}\n`);

interface RoleSpec {
  name: string;
  role: "gateway" | "field" | "dungeon" | "coordinator" | "chat";
  env: Record<string, string>;
  /** Port whose /healthz proves readiness. */
  opsPort: number;
}

interface RunningRole extends RoleSpec {
  child: ChildProcess;
  exited: Promise<number | null>;
}

function startRole(spec: RoleSpec, infraVars: Record<string, string>, logDir: string): RunningRole {
  const log = createWriteStream(resolve(logDir, `${spec.name}.log`), { flags: "a" });
  const child = spawn(process.execPath, ["--import", "tsx", resolve(ROOT, "src/main.ts"), "--role", spec.role], {
    cwd: ROOT,
    env: { ...process.env, ...infraVars, ...spec.env, RIFT__NODE__ID: spec.name, RIFT__OPS__PORT: String(spec.opsPort) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { ...spec, child, exited };
}

async function healthy(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

async function stopRoles(roles: RunningRole[]): Promise<void> {
  // Gateways first (clients detach and their state is flushed), then game servers, then coordinators.
  for (const kind of ["gateway", "chat", "field", "dungeon", "coordinator"] as const) {
    const group = roles.filter((r) => r.role === kind && r.child.exitCode === null);
    for (const r of group) r.child.kill("SIGTERM");
    await Promise.all(
      group.map(async (r) => {
        const t = setTimeout(() => r.child.kill("SIGKILL"), 15_000);
        await r.exited;
        clearTimeout(t);
      }),
    );
  }
}

function startDemo(urls: string[], bots: number): { stop: () => Promise<void>; status: () => string } {
  const clients: RiftClient[] = [];
  let stopped = false;
  const tag = Math.random().toString(36).slice(2, 7);
  const walkers: ReturnType<typeof setInterval>[] = [];
  void (async () => {
    for (let i = 0; i < bots && !stopped; i++) {
      try {
        const c = await RiftClient.connect(urls[i % urls.length]!);
        await c.hello();
        const name = `demo_${tag}_${i}`;
        await c.register(name, "demo-password");
        await c.login(name, "demo-password");
        await c.waitForEnter();
        clients.push(c);
        let dir = (i / bots) * 2 * Math.PI;
        walkers.push(
          setInterval(() => {
            if (stopped || c.closed || !c.self || !c.lastEnter || c.lastEnter.zone.includes("@")) return; // not while in a dungeon
            const size = c.lastEnter.world.size;
            // Wander: drift the heading a little, bounce off the edges of the field.
            dir += (Math.random() - 0.5) * 0.3;
            let x = c.self.x + Math.cos(dir) * 4;
            let y = c.self.y + Math.sin(dir) * 4;
            if (x < 10 || x > size - 10) dir = Math.PI - dir;
            if (y < 10 || y > size - 10) dir = -dir;
            x = Math.min(size - 10, Math.max(10, x));
            y = Math.min(size - 10, Math.max(10, y));
            c.move(x, y);
          }, 100),
        );
      } catch (e) {
        say(`demo bot ${i} failed: ${(e as Error).message}`);
      }
    }
    if (clients.length >= 4) void partyLoop(clients.slice(0, 4));
  })();
  const dungeon = { runs: 0, last: "" };
  /** Four bots go through the crypt again and again: form the party, fight, take the drop, leave. */
  async function partyLoop(party: RiftClient[]): Promise<void> {
    const ids = party.map((c) => c.session!.userId);
    while (!stopped && party.every((c) => !c.closed)) {
      try {
        const entered = party.map((c) => c.waitForEvent("enter", (e) => e.zone.includes("@"), 15_000));
        for (const c of party) c.enterDungeon("crypt", ids);
        await Promise.all(entered);
        const rewards = party.map((c) => c.waitForEvent("reward", () => true, 30_000));
        const fight = setInterval(() => {
          for (const c of party) c.attack(1 + Math.floor(Math.random() * 3));
        }, 250);
        const got = await Promise.all(rewards).finally(() => clearInterval(fight));
        const home = party.map((c) => c.waitForEvent("enter", (e) => !e.zone.includes("@"), 15_000));
        for (const c of party) c.leaveDungeon();
        await Promise.all(home);
        dungeon.runs++;
        dungeon.last = got.map((r) => r.items.map((it) => it.kind).join("+")).join(", ");
      } catch (e) {
        if (!stopped) say(`demo party: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 8000));
    }
  }
  return {
    status: () => {
      const live = clients.filter((c) => !c.closed);
      const seen = live.map((c) => c.visibleCount);
      const avg = seen.length ? (seen.reduce((a, b) => a + b, 0) / seen.length).toFixed(1) : "0";
      const walker = live.length > 4 ? 4 : 0; // bots 0-3 are the dungeon party
      const s = live[walker]?.self;
      const runs = dungeon.runs ? `; party of 4: ${dungeon.runs} crypt runs, last drops ${dungeon.last}` : "";
      return `demo: ${live.length}/${bots} bots walking, each sees ${avg} others on average${s ? `; bot ${walker} at (${s.x.toFixed(0)}, ${s.y.toFixed(0)})` : ""}${runs}`;
    },
    stop: async () => {
      stopped = true;
      walkers.forEach(clearInterval);
      // bounded: when the whole process group got the signal, the gateways may already be gone
      // and a close handshake would never complete
      const closing = Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await Promise.race([closing, new Promise((r) => setTimeout(r, 3000).unref())]);
    },
  };
}

async function main(): Promise<void> {
  const opts = new Command()
    .name("npm start --")
    .option("--shards <n>", "player shards", (v) => Number.parseInt(v, 10), 2)
    .option("--bots <n>", "demo bots", (v) => Number.parseInt(v, 10), 12)
    .option("--no-demo", "start the cluster without demo bots")
    .option("--keep-infra", "leave the infrastructure running on exit (reused by the next start)")
    .parse(process.argv)
    .opts<{ shards: number; bots: number; demo: boolean; keepInfra?: boolean }>();

  const runDir = resolve(ROOT, ".rift/infra");
  const logDir = resolve(ROOT, ".rift/logs");
  mkdirSync(logDir, { recursive: true });
  const abort = new AbortController();
  let stopping: Promise<void> | undefined;
  let roles: RunningRole[] = [];
  let demo: ReturnType<typeof startDemo> | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;

  const shutdown = (why: string) => {
    stopping ??= (async () => {
      say(`${why}: stopping…`);
      abort.abort();
      if (ticker) clearInterval(ticker);
      await demo?.stop();
      await stopRoles(roles);
      say("roles stopped");
      if (!opts.keepInfra) await infraDown(runDir, { log: (l) => process.stdout.write(`${l}\n`) });
      say("bye");
    })();
    return stopping;
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => void shutdown(sig).then(() => process.exit(0)));

  try {
    const t0 = performance.now();
    const state: InfraState = await infraUp({ runDir, shards: opts.shards, zk: 1, profile: "dev", signal: abort.signal });
    say(`infra ready in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    const vars = infraEnv(state);

    const specs: RoleSpec[] = [
      { name: "coord-1", role: "coordinator", opsPort: 9301, env: {} },
      { name: "coord-2", role: "coordinator", opsPort: 9302, env: {} },
      { name: "field-1", role: "field", opsPort: 9201, env: { RIFT__FIELD__ZONES: "[z1,z2]", RIFT__FIELD__LINKPORT: "7100" } },
      { name: "field-2", role: "field", opsPort: 9202, env: { RIFT__FIELD__ZONES: "[z1,z2]", RIFT__FIELD__LINKPORT: "7110" } },
      { name: "dungeon-1", role: "dungeon", opsPort: 9501, env: { RIFT__DUNGEON__LINKPORT: "7300" } },
      { name: "dungeon-2", role: "dungeon", opsPort: 9502, env: { RIFT__DUNGEON__LINKPORT: "7310" } },
      { name: "chat-1", role: "chat", opsPort: 9401, env: { RIFT__CHAT__LINKPORT: "7200" } },
      { name: "chat-2", role: "chat", opsPort: 9402, env: { RIFT__CHAT__LINKPORT: "7210" } },
      { name: "gateway-1", role: "gateway", opsPort: 9101, env: { RIFT__GATEWAY__PORT: "7000" } },
      { name: "gateway-2", role: "gateway", opsPort: 9102, env: { RIFT__GATEWAY__PORT: "7001" } },
    ];
    roles = specs.map((s) => startRole(s, vars, logDir));
    for (const r of roles) {
      void r.exited.then((code) => {
        if (!stopping) say(`${r.name} exited with ${code}; see .rift/logs/${r.name}.log`);
      });
    }
    await waitFor(async () => (await Promise.all(roles.map((r) => healthy(r.opsPort)))).every(Boolean), {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: "every role healthy (/healthz); logs in .rift/logs/",
    });

    say(`cluster up in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    say("clients:    ws://127.0.0.1:7000  ws://127.0.0.1:7001");
    say("dashboard:  http://127.0.0.1:9301/dashboard/  (also :9302 — every coordinator serves it)");
    for (const r of roles) say(`${r.name.padEnd(10)} pid ${r.child.pid}  ops http://127.0.0.1:${r.opsPort}/metrics  log .rift/logs/${r.name}.log`);
    say(`zookeeper  ${state.zookeeper.connect}`);
    say(`redis      ${state.redis.url}`);
    for (const c of state.patroni.clusters) say(`postgres   ${c.scope}: ${c.members.map((m) => `${m.name} 127.0.0.1:${m.pgPort}`).join(", ")}`);
    say("Ctrl-C stops everything");
  } catch (e) {
    await shutdown("start-up failed");
    throw e;
  }

  if (opts.demo && opts.bots > 0) {
    demo = startDemo(["ws://127.0.0.1:7000", "ws://127.0.0.1:7001"], opts.bots);
    ticker = setInterval(() => say(demo!.status()), 5000);
  }
}

main().catch(async (e: unknown) => {
  process.stderr.write(`[start] failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
