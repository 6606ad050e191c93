/**
 * The state file `<runDir>/state.json`: every endpoint, PID and path of a running infra.
 * It is the contract between `infra up` and its consumers (tests, `npm start`, `status`,
 * `down`). Written atomically (temp file + rename); validated with zod when read, so a
 * truncated or foreign file gives a clear error instead of undefined fields.
 *
 * The types of every persisted piece are defined here, once, as zod schemas.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

export const STATE_FILE = "state.json";
/** Marker file in every run dir we create; `down` refuses to delete a directory without it. */
export const MARKER_FILE = ".rift-infra";

const pid = z.number().int().nonnegative();
const port = z.number().int().min(1).max(65535);

export const ZkNodeStateSchema = z.object({
  id: z.number().int().positive(),
  clientPort: port,
  peerPort: port.optional(),
  electionPort: port.optional(),
  pid,
  dir: z.string(),
  logFile: z.string(),
  configFile: z.string(),
});

export const ZooKeeperStateSchema = z.object({
  /** "127.0.0.1:p1,127.0.0.1:p2,..." */
  connect: z.string(),
  nodes: z.array(ZkNodeStateSchema).min(1),
});

export const RedisStateSchema = z.object({
  url: z.string(),
  port,
  pid,
  dir: z.string(),
  logFile: z.string(),
});

export const PatroniMemberStateSchema = z.object({
  name: z.string(),
  pgPort: port,
  restPort: port,
  /** PID of the Patroni process (not of Postgres: see `data/postmaster.pid`). */
  pid,
  dir: z.string(),
  dataDir: z.string(),
  logFile: z.string(),
  configFile: z.string(),
});

export const PatroniClusterStateSchema = z.object({
  scope: z.string(),
  members: z.array(PatroniMemberStateSchema).min(1),
});

export const InfraStateSchema = z.object({
  runDir: z.string(),
  profile: z.enum(["test", "dev"]),
  startedAt: z.string(),
  zookeeper: ZooKeeperStateSchema,
  redis: RedisStateSchema,
  patroni: z.object({
    namespace: z.literal("/service"),
    /** First the global database's cluster (scope "global"), then shard0..N-1. */
    clusters: z.array(PatroniClusterStateSchema).min(1),
  }),
});

export type ZkNodeState = z.infer<typeof ZkNodeStateSchema>;
export type ZooKeeperState = z.infer<typeof ZooKeeperStateSchema>;
export type RedisState = z.infer<typeof RedisStateSchema>;
export type PatroniMemberState = z.infer<typeof PatroniMemberStateSchema>;
export type PatroniClusterState = z.infer<typeof PatroniClusterStateSchema>;
export type InfraState = z.infer<typeof InfraStateSchema>;

export function stateFile(runDir: string): string {
  return join(runDir, STATE_FILE);
}

/** Writes state.json atomically. */
export function writeState(runDir: string, state: InfraState): void {
  const file = stateFile(runDir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  renameSync(tmp, file);
}

/** Reads and validates state.json; null if there is none; throws if it is unreadable or invalid. */
export function readState(runDir: string): InfraState | null {
  const file = stateFile(runDir);
  if (!existsSync(file)) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = InfraStateSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`${file}: invalid state (${issue ? `${issue.path.join(".")}: ${issue.message}` : "unknown"})`);
  }
  return r.data;
}
