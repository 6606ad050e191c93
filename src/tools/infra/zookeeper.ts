/**
 * ZooKeeper 3.8 (Debian package), standalone or a 3-node ensemble on 127.0.0.1.
 *
 * Layout: `<dir>/zk<id>/{zoo.cfg, data/, zookeeper.log, zookeeper.pid}`; each JVM runs with
 * its node directory as working directory (the launcher's ownership check relies on it).
 * Ready = every node answers the `srvr` four-letter word with a `Mode:` line, and an
 * ensemble has exactly one leader. tickTime 500 ms caps session timeouts at 10 s.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createConnection } from "node:net";
import { InfraComponentError } from "./errors.js";
import { allocatePorts } from "./ports.js";
import { describeExit, isAlive, spawnDaemon, stopPid, type Daemon } from "./proc.js";
import type { ZkNodeState, ZooKeeperState } from "./state.js";
import { FatalWaitError, WaitTimeoutError, errorText, since, waitFor } from "./wait.js";

export type { ZkNodeState, ZooKeeperState };

export const ZK_CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar";
export const ZK_TICK_MS = 500;

export interface ZooCfgInput {
  dataDir: string;
  clientPort: number;
  tickTime?: number;
  /** Ensemble members; omit (or give one) for standalone. */
  servers?: { id: number; peerPort: number; electionPort: number }[];
}

/** Renders zoo.cfg (pure). */
export function renderZooCfg(c: ZooCfgInput): string {
  const lines = [
    `tickTime=${c.tickTime ?? ZK_TICK_MS}`,
    "initLimit=10",
    "syncLimit=5",
    `dataDir=${c.dataDir}`,
    `clientPort=${c.clientPort}`,
    "clientPortAddress=127.0.0.1",
    "admin.enableServer=false",
    "4lw.commands.whitelist=srvr,mntr,stat,ruok",
    "maxClientCnxns=0",
    // Transaction log files are preallocated in blocks of this many KiB (default 64 MiB).
    "preAllocSize=4096",
  ];
  if (c.servers && c.servers.length > 1) {
    for (const s of c.servers) lines.push(`server.${s.id}=127.0.0.1:${s.peerPort}:${s.electionPort}`);
  }
  return lines.join("\n") + "\n";
}

export interface StartZooKeeperOptions {
  /** Directory to create the node directories in (created if missing). */
  dir: string;
  nodes: 1 | 3;
  log?: (line: string) => void;
  tickTime?: number;
  /** Deadline for the whole start (default 60 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Starts ZooKeeper and waits until it serves. On failure every node it spawned is stopped
 * before the error (an InfraComponentError naming the node and its log) is thrown.
 */
export async function startZooKeeper(opts: StartZooKeeperOptions): Promise<ZooKeeperState> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  const n = opts.nodes;
  const ports = await allocatePorts(n === 1 ? 1 : 3 * n);
  const nodes: ZkNodeState[] = [];
  for (let i = 0; i < n; i++) {
    const id = i + 1;
    const dir = join(opts.dir, `zk${id}`);
    nodes.push({
      id,
      clientPort: ports[i]!,
      ...(n > 1 ? { peerPort: ports[n + 2 * i]!, electionPort: ports[n + 2 * i + 1]! } : {}),
      pid: 0,
      dir,
      logFile: join(dir, "zookeeper.log"),
      configFile: join(dir, "zoo.cfg"),
    });
  }
  const servers = n > 1 ? nodes.map((x) => ({ id: x.id, peerPort: x.peerPort!, electionPort: x.electionPort! })) : undefined;
  for (const node of nodes) {
    mkdirSync(join(node.dir, "data"), { recursive: true, mode: 0o755 });
    if (servers) writeFileSync(join(node.dir, "data", "myid"), `${node.id}\n`);
    writeFileSync(node.configFile, renderZooCfg({ dataDir: join(node.dir, "data"), clientPort: node.clientPort, tickTime: opts.tickTime, servers }));
  }
  const state: ZooKeeperState = { connect: nodes.map((x) => `127.0.0.1:${x.clientPort}`).join(","), nodes };
  const daemons: Daemon[] = [];
  try {
    for (const node of nodes) daemons.push(await startZooKeeperNode(node));
    const modes = await waitFor(
      async () => {
        for (const d of daemons) {
          const e = d.exit();
          if (e || !isAlive(d.pid)) throw new FatalWaitError(`${d.name} ${e ? describeExit(e) : "died"}`);
        }
        const m = await Promise.all(nodes.map((x) => zkMode(x.clientPort)));
        if (n === 1) return m;
        return m.filter((x) => x === "leader").length === 1 && m.every((x) => x === "leader" || x === "follower") ? m : null;
      },
      { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 100, what: `ZooKeeper (${n} node${n > 1 ? "s" : ""}) to serve`, signal: opts.signal },
    );
    const leader = n > 1 ? ` leader zk${modes.indexOf("leader") + 1}` : "";
    log(`zookeeper ${n}/${n} ready (${since(t0)})${leader} ${state.connect}`);
    return state;
  } catch (e) {
    const bad = culprit(nodes, daemons);
    await stopZooKeeper(state);
    if (e instanceof FatalWaitError || e instanceof WaitTimeoutError) {
      throw new InfraComponentError(`zookeeper zk${bad.id}`, errorText(e), bad.logFile, { cause: e });
    }
    throw e;
  }
}

/** The node to blame: the first that died, else the first that is not serving. */
function culprit(nodes: ZkNodeState[], daemons: Daemon[]): ZkNodeState {
  const dead = daemons.findIndex((d) => d.exit() !== null || !isAlive(d.pid));
  return nodes[dead >= 0 ? dead : 0]!;
}

/** (Re)starts one node from its existing directory and config; updates `node.pid`. */
export async function startZooKeeperNode(node: ZkNodeState, heapMb = 256): Promise<Daemon> {
  const d = await spawnDaemon({
    name: `zk${node.id}`,
    cmd: "/usr/bin/java",
    args: [`-Xmx${heapMb}m`, "-XX:+UseSerialGC", "-cp", ZK_CLASSPATH, "org.apache.zookeeper.server.quorum.QuorumPeerMain", node.configFile],
    cwd: node.dir,
    logFile: node.logFile,
    pidFile: join(node.dir, "zookeeper.pid"),
    env: { PATH: "/usr/bin:/bin", HOME: node.dir, LANG: "C.UTF-8" },
  });
  node.pid = d.pid;
  return d;
}

/** Stops all nodes (SIGTERM, SIGKILL after 10 s); only PIDs still running in their node dir. */
export async function stopZooKeeper(state: ZooKeeperState): Promise<void> {
  await Promise.all(state.nodes.map((x) => (x.pid ? stopPid(x.pid, { signal: "SIGTERM", graceMs: 10_000, ownerDir: x.dir }) : null)));
}

/**
 * Sends a four-letter word and returns the whole reply (the server closes the connection
 * after answering). Rejects on connection errors or after `timeoutMs`.
 */
export function zkFourLetter(port: number, word: "srvr" | "mntr" | "stat" | "ruok", timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`no ${word} answer from 127.0.0.1:${port} within ${timeoutMs} ms`)));
    sock.on("connect", () => sock.end(word));
    sock.on("data", (b) => chunks.push(b));
    sock.on("error", reject);
    sock.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

/** Parses the `Mode:` line of a `srvr` reply ("standalone", "leader", "follower", ...), or null. */
export function parseMode(srvr: string): string | null {
  const m = /^Mode: (\S+)/m.exec(srvr);
  return m ? m[1]! : null;
}

/** The node's mode; throws (with the server's words) if it is not serving. */
export async function zkMode(port: number, timeoutMs = 1000): Promise<string> {
  const reply = await zkFourLetter(port, "srvr", timeoutMs);
  const mode = parseMode(reply);
  if (!mode) throw new Error(`127.0.0.1:${port} not serving: ${reply.trim().split("\n")[0] || "empty reply"}`);
  return mode;
}
