/**
 * What every opsctl command needs: the cluster's ZooKeeper connect string and root (from the
 * configuration — `--config FILE` over config/default.yaml, RIFT__* environment overrides —
 * then `--zk` / `--root` on top), a connected `Zk`, and where to print. With none of `--zk`,
 * `--config` or RIFT__CLUSTER__ZOOKEEPER__CONNECT given, the local cluster of `npm start`
 * (`.rift/infra/state.json` in the current directory) is used when it exists.
 *
 * Errors are RiftErrors with one clear line: USAGE / CONFIG_* for bad input,
 * DEPENDENCY_UNAVAILABLE when no ZooKeeper session is established within the connect
 * deadline (cli.ts turns both into exit status 2).
 */
import { ConfigSchema, loadConfig, type Config } from "../../core/config.js";
import { isRiftError, RiftError } from "../../core/errors.js";
import { Zk } from "../../core/cluster/zk.js";
import { readState } from "../infra/state.js";
import { infraEnv } from "../infra/infra.js";

/** Where `npm start` keeps its infra (relative to the repository root = npm's cwd). */
export const LOCAL_INFRA_DIR = ".rift/infra";

export interface GlobalOptions {
  config?: string;
  zk?: string;
  root?: string;
  /** Seconds to wait for a ZooKeeper session. */
  connectTimeout: number;
}

export interface Target {
  connect: string;
  root: string;
  sessionTimeoutMs: number;
  connectTimeoutMs: number;
}

/** Where commands print. stdout: results; stderr: progress in --json mode, warnings. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export const processOutput: Output = {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
};

export interface OpsContext {
  zk: Zk;
  target: Target;
  io: Output;
  now(): number;
}

const zkShape = ConfigSchema.shape.cluster.shape.zookeeper.shape;

/** Resolve the target from config + overrides (validated like the config keys they override). */
export function resolveTarget(o: GlobalOptions, env: NodeJS.ProcessEnv = process.env, localInfraDir: string | undefined = LOCAL_INFRA_DIR): Target {
  if (o.zk !== undefined && !zkShape.connect.safeParse(o.zk).success) throw new RiftError("USAGE", `--zk ${JSON.stringify(o.zk)}: expected host:port[,host:port...]`);
  if (o.root !== undefined && !zkShape.root.safeParse(o.root).success) throw new RiftError("USAGE", `--root ${JSON.stringify(o.root)}: expected an absolute znode path such as /rift`);
  if (!Number.isFinite(o.connectTimeout) || o.connectTimeout <= 0 || o.connectTimeout > 600) throw new RiftError("USAGE", `--connect-timeout must be a number of seconds in (0, 600] (got ${String(o.connectTimeout)})`);
  const config = loadConfig({ ...(o.config ? { file: o.config } : {}), env });
  const explicit = o.zk !== undefined || o.config !== undefined || env.RIFT__CLUSTER__ZOOKEEPER__CONNECT !== undefined;
  const local = !explicit && localInfraDir ? readLocalZk(localInfraDir) : undefined;
  return {
    connect: o.zk ?? local ?? config.cluster.zookeeper.connect,
    root: o.root ?? config.cluster.zookeeper.root,
    sessionTimeoutMs: config.cluster.zookeeper.sessionTimeoutMs,
    connectTimeoutMs: Math.round(o.connectTimeout * 1000),
  };
}

/**
 * The whole configuration for commands that also need the databases and Redis (`shard …`):
 * like `resolveTarget`, but when the local cluster of `npm start` is used, ALL its endpoints
 * (ZooKeeper, Redis, Patroni scopes) come from `.rift/infra/state.json`.
 */
export function resolveConfig(o: GlobalOptions, env: NodeJS.ProcessEnv = process.env, localInfraDir: string | undefined = LOCAL_INFRA_DIR): Config {
  const target = resolveTarget(o, env, localInfraDir);
  const explicit = o.zk !== undefined || o.config !== undefined || env.RIFT__CLUSTER__ZOOKEEPER__CONNECT !== undefined;
  let local: Record<string, string> = {};
  if (!explicit && localInfraDir) {
    try {
      const state = readState(localInfraDir);
      if (state) local = infraEnv(state);
    } catch {
      // unreadable: configuration only
    }
  }
  const config = loadConfig({ ...(o.config ? { file: o.config } : {}), env: { ...local, ...env } });
  config.cluster.zookeeper.connect = target.connect;
  config.cluster.zookeeper.root = target.root;
  return config;
}

function readLocalZk(dir: string): string | undefined {
  try {
    return readState(dir)?.zookeeper.connect;
  } catch {
    return undefined; // unreadable or foreign file: fall back to the configuration
  }
}

/** Connect, or throw RiftError(DEPENDENCY_UNAVAILABLE) naming the address and what to check. */
export async function connectTarget(t: Target): Promise<Zk> {
  try {
    // Session renewal stays on: opsctl owns no ephemeral nodes, so a long `drain` wait simply
    // carries on under the new session.
    return await Zk.connect({ connect: t.connect, sessionTimeoutMs: t.sessionTimeoutMs, connectTimeoutMs: t.connectTimeoutMs });
  } catch (e) {
    if (isRiftError(e, "DEPENDENCY_UNAVAILABLE")) {
      throw new RiftError("DEPENDENCY_UNAVAILABLE", `cannot reach ZooKeeper at ${t.connect} within ${t.connectTimeoutMs / 1000}s (is it running? check --zk or cluster.zookeeper.connect)`);
    }
    throw e;
  }
}
