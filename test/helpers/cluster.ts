/**
 * A small real Rift cluster for end-to-end tests: C coordinators + N gateways + M field servers as child
 * processes (`rift --role …` through startRift), on the shared test infra, isolated per
 * cluster with its own ZooKeeper root, Redis key prefix and fresh databases.
 *
 *   const cluster = await TestCluster.start({ gateways: 2, fields: [{ zones: ["z1"] }, { zones: ["z2"] }] });
 *   afterAll(() => cluster?.stop());
 *   await cluster.seedAccounts(["alice", "bob"]);           // cheap scrypt, straight into the DB
 *   const a = await cluster.player("alice", { gateway: 0 }); // hello → login → enter (SDK)
 *   await cluster.restartField(0);                          // SIGTERM, wait for exit, start again
 *   const text = await cluster.metrics(cluster.gateways[0]!);
 *
 * Contract:
 * - `start()` migrates the fresh databases first (so processes do not race on it), then
 *   starts the coordinators, the field servers, then the gateways, each ready when it prints
 *   its "listening" line (ports parsed from that JSON log line), and finally waits until the
 *   coordinator leader placed every zone the field servers can host. A failed start stops
 *   what was started.
 * - Every process is stopped by PID (`ManagedProcess.stop()`: SIGTERM, SIGKILL after a
 *   grace period) in `stop()`, which also closes the clients made by `player()`, the test's
 *   own data layer and the isolation scope. `stop()` is idempotent and never throws for a
 *   part that is already gone.
 * - `data` is the test's own view of the cluster's databases (accounts, players, shard map,
 *   router) — the "server truth" tests compare clients against.
 */
import { RiftClient, type RiftClientOptions } from "../../src/client/rift-client.js";
import { loadConfig } from "../../src/core/config.js";
import { silentLogger } from "../../src/core/log.js";
import { createDataLayer, type PgDataLayer } from "../../src/shard/data-layer.js";
import { TEST_SCRYPT } from "../../src/shard/passwords.js";
import type { Account } from "../../src/shard/types.js";
import { infraEnv } from "../../src/tools/infra/infra.js";
import { getInfra } from "./infra.js";
import { isolated, uniqueId, type Isolated } from "./isolation.js";
import { startRift, waitFor, type ExitInfo, type ManagedProcess } from "./processes.js";
import type { PlacementDoc } from "../../src/core/cluster/placement-doc.js";

export const DEFAULT_PASSWORD = "password1";

export interface FieldSpec {
  zones: string[];
  /** Extra RIFT__* variables for this field server only. */
  env?: Record<string, string>;
}

export interface ClusterOptions {
  /** Number of coordinators (default 1). */
  coordinators?: number;
  /** Number of gateways (default 1). */
  gateways?: number;
  /** Field servers and their zones (default one field hosting z1). */
  fields?: FieldSpec[];
  /** Number of dungeon servers (default 0), started after the field servers. */
  dungeons?: number;
  dungeonEnv?: Record<string, string>;
  /** Number of chat servers (default 0), started before the gateways. */
  chats?: number;
  chatEnv?: Record<string, string>;
  /** Zone of new users (default: the first zone of the first field). */
  startZone?: string;
  /** RIFT__* variables for every process (e.g. RIFT__FIELD__WORLDSIZE). Keep RIFT__LOG__LEVEL at info or
   * below: readiness is the "listening" info line. */
  env?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
  fieldEnv?: Record<string, string>;
  coordinatorEnv?: Record<string, string>;
  /**
   * A private ZooKeeper (`host:port,…`) for membership, election and placement — fault tests
   * that kill or pause ZooKeeper. Patroni's DCS stays on the shared test ZooKeeper
   * (`db.dcsConnect`).
   */
  zookeeper?: string;
  /**
   * Patroni scopes of the player shards (RIFT__DB__SHARDSCOPES) for every process and for
   * `data`, instead of the shared infra's shards — e.g. a private Patroni cluster a fault test
   * kills. The global database stays on the shared `global` cluster.
   */
  shardScopes?: string[];
  /** Echo the processes' output to stderr (default: env RIFT_TEST_ECHO=1). */
  echo?: boolean;
  /** Deadline for one process to become ready (default 60 s: tsx start-up on a busy machine). */
  readyTimeoutMs?: number;
}

export interface GatewayNode {
  readonly index: number;
  readonly id: string;
  readonly proc: ManagedProcess;
  readonly port: number;
  readonly opsPort: number;
  /** ws://127.0.0.1:port */
  readonly url: string;
}

export interface CoordinatorNode {
  readonly index: number;
  readonly id: string;
  readonly proc: ManagedProcess;
  readonly opsPort: number;
}

export interface FieldNode {
  readonly index: number;
  readonly id: string;
  readonly proc: ManagedProcess;
  readonly zones: readonly string[];
  readonly linkPorts: number[];
  readonly opsPort: number;
}

export interface DungeonNode {
  readonly index: number;
  readonly id: string;
  readonly proc: ManagedProcess;
  readonly linkPorts: number[];
  readonly opsPort: number;
}

export interface ChatNode {
  readonly index: number;
  readonly id: string;
  readonly proc: ManagedProcess;
  readonly linkPort: number;
  readonly opsPort: number;
}

export interface PlayerOptions {
  /** Index of the gateway to connect to (default 0). */
  gateway?: number;
  password?: string;
  client?: RiftClientOptions;
}

/** The JSON object of a pino log line (undefined when the line is not JSON). */
function logObject(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** RIFT__DB__SHARDSCOPES for `opts.shardScopes` (empty when not set). */
function shardScopesEnv(opts: ClusterOptions): Record<string, string> {
  return opts.shardScopes ? { RIFT__DB__SHARDSCOPES: `[${opts.shardScopes.join(",")}]` } : {};
}

const isReadyLine = (msg: string) => (line: string) => logObject(line)?.msg === msg;

export class TestCluster {
  readonly coordinators: CoordinatorNode[] = [];
  readonly gateways: GatewayNode[] = [];
  readonly fields: FieldNode[] = [];
  readonly dungeons: DungeonNode[] = [];
  readonly chats: ChatNode[] = [];
  private readonly clients = new Set<RiftClient>();
  private readonly baseEnv: Record<string, string>;
  private stopped = false;

  private constructor(
    readonly scope: Isolated,
    readonly data: PgDataLayer,
    private readonly opts: ClusterOptions,
    /** Short unique id of this cluster (node ids, names). */
    readonly uid: string,
  ) {
    const fields = opts.fields ?? [{ zones: ["z1"] }];
    this.baseEnv = {
      ...infraEnv(getInfra()),
      RIFT__CLUSTER__ZOOKEEPER__ROOT: scope.zk.path,
      // env values are parsed as YAML: quote the prefix (it contains colons)
      RIFT__CLUSTER__REDIS__KEYPREFIX: JSON.stringify(scope.redis.prefix),
      RIFT__DB__DATABASE: scope.dbs.name,
      RIFT__DB__POOLSIZE: "4",
      RIFT__OPS__PORT: "0",
      RIFT__LOG__LEVEL: "info",
      RIFT__GATEWAY__PORT: "0",
      RIFT__GATEWAY__STARTZONE: opts.startZone ?? fields[0]?.zones[0] ?? "z1",
      RIFT__FIELD__LINKPORT: "0",
      RIFT__FIELD__IOWORKERS: "1",
      ...(opts.zookeeper ? { RIFT__CLUSTER__ZOOKEEPER__CONNECT: opts.zookeeper, RIFT__DB__DCSCONNECT: getInfra().zookeeper.connect } : {}),
      ...shardScopesEnv(opts),
      ...opts.env,
    };
  }

  /** Isolate, migrate, start the fields then the gateways. */
  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const infra = getInfra();
    const scope = await isolated(infra);
    const config = loadConfig({ env: { ...infraEnv(infra), ...shardScopesEnv(opts) } });
    const data = createDataLayer({ config, log: silentLogger(), database: scope.dbs.name, scrypt: TEST_SCRYPT });
    const cluster = new TestCluster(scope, data, opts, uniqueId().slice(-8));
    try {
      await data.migrate();
      const fields = opts.fields ?? [{ zones: ["z1"] }];
      await Promise.all(Array.from({ length: opts.coordinators ?? 1 }, (_, i) => cluster.startCoordinator(i)));
      await Promise.all(fields.map((_, i) => cluster.startField(i)));
      await Promise.all(Array.from({ length: opts.dungeons ?? 0 }, (_, i) => cluster.startDungeon(i)));
      await Promise.all(Array.from({ length: opts.chats ?? 0 }, (_, i) => cluster.startChat(i)));
      await Promise.all(Array.from({ length: opts.gateways ?? 1 }, (_, i) => cluster.startGateway(i)));
      const zones = [...new Set(fields.flatMap((f) => f.zones))];
      await waitFor(async () => {
        const p = await cluster.placement().catch(() => undefined);
        return p !== undefined && zones.every((z) => p.zones[z] !== undefined);
      }, { timeoutMs: 30_000, intervalMs: 100, what: `the coordinator to place ${zones.join(", ")}` });
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  /** The environment every process of this cluster gets (before per-role overrides). */
  get env(): Readonly<Record<string, string>> {
    return this.baseEnv;
  }

  private fieldSpec(i: number): FieldSpec {
    const spec = (this.opts.fields ?? [{ zones: ["z1"] }])[i];
    if (!spec) throw new Error(`no field server #${i} in this cluster`);
    return spec;
  }

  /** Start (or start again after a stop) field server #i with its configured zones and node id. */
  async startField(i: number): Promise<FieldNode> {
    const spec = this.fieldSpec(i);
    const id = `field${i}-${this.uid}`;
    const proc = await startRift(["--role", "field"], {
      name: `field${i}`,
      env: { ...this.baseEnv, ...this.opts.fieldEnv, ...spec.env, RIFT__NODE__ID: id, RIFT__FIELD__ZONES: `[${spec.zones.join(",")}]` },
      readyWhen: isReadyLine("field server listening"),
      timeoutMs: this.opts.readyTimeoutMs ?? 60_000,
      ...(this.opts.echo !== undefined ? { echo: this.opts.echo } : {}),
    });
    const ready = logObject(proc.lines.find(isReadyLine("field server listening"))!)!;
    const node: FieldNode = { index: i, id, proc, zones: spec.zones, linkPorts: ready.linkPorts as number[], opsPort: ready.opsPort as number };
    this.fields[i] = node;
    return node;
  }

  /** Start (or start again) dungeon server #i (node id `dungeon<i>-<uid>`, any free link ports). */
  async startDungeon(i: number): Promise<DungeonNode> {
    const id = `dungeon${i}-${this.uid}`;
    const proc = await startRift(["--role", "dungeon"], {
      name: `dungeon${i}`,
      env: { ...this.baseEnv, RIFT__DUNGEON__LINKPORT: "0", RIFT__DUNGEON__IOWORKERS: "1", ...this.opts.dungeonEnv, RIFT__NODE__ID: id },
      readyWhen: isReadyLine("dungeon server listening"),
      timeoutMs: this.opts.readyTimeoutMs ?? 60_000,
      ...(this.opts.echo !== undefined ? { echo: this.opts.echo } : {}),
    });
    const ready = logObject(proc.lines.find(isReadyLine("dungeon server listening"))!)!;
    const node: DungeonNode = { index: i, id, proc, linkPorts: ready.linkPorts as number[], opsPort: ready.opsPort as number };
    this.dungeons[i] = node;
    return node;
  }

  async startCoordinator(i: number): Promise<CoordinatorNode> {
    const id = `coord${i}-${this.uid}`;
    const proc = await startRift(["--role", "coordinator"], {
      name: `coord${i}`,
      env: { ...this.baseEnv, ...this.opts.coordinatorEnv, RIFT__NODE__ID: id },
      readyWhen: isReadyLine("coordinator listening"),
      timeoutMs: this.opts.readyTimeoutMs ?? 60_000,
      ...(this.opts.echo !== undefined ? { echo: this.opts.echo } : {}),
    });
    const ready = logObject(proc.lines.find(isReadyLine("coordinator listening"))!)!;
    const node: CoordinatorNode = { index: i, id, proc, opsPort: ready.opsPort as number };
    this.coordinators[i] = node;
    return node;
  }

  /** Start (or start again) chat server #i (node id `chat<i>-<uid>`, any free link port). */
  async startChat(i: number): Promise<ChatNode> {
    const id = `chat${i}-${this.uid}`;
    const proc = await startRift(["--role", "chat"], {
      name: `chat${i}`,
      env: { ...this.baseEnv, RIFT__CHAT__LINKPORT: "0", ...this.opts.chatEnv, RIFT__NODE__ID: id },
      readyWhen: isReadyLine("chat server listening"),
      timeoutMs: this.opts.readyTimeoutMs ?? 60_000,
      ...(this.opts.echo !== undefined ? { echo: this.opts.echo } : {}),
    });
    const ready = logObject(proc.lines.find(isReadyLine("chat server listening"))!)!;
    const node: ChatNode = { index: i, id, proc, linkPort: ready.linkPort as number, opsPort: ready.opsPort as number };
    this.chats[i] = node;
    return node;
  }

  /** The placement document as a live coordinator sees it (GET /placement). */
  async placement(): Promise<PlacementDoc | undefined> {
    for (const c of this.coordinators) {
      if (!c || c.proc.exitInfo() !== null) continue;
      try {
        const res = await fetch(`http://127.0.0.1:${c.opsPort}/placement`, { signal: AbortSignal.timeout(2000) });
        const body = (await res.json()) as { placement: PlacementDoc | null };
        if (body.placement) return body.placement;
      } catch {
        /* paused or stopping: ask the next one */
      }
    }
    return undefined;
  }

  /** Coordinator ops `/cluster` of coordinator #i: the leader it sees and its own election state. */
  async coordinatorState(i: number): Promise<{ leader: string | null; self: { id: string; state: string } }> {
    const c = this.coordinators[i];
    if (!c) throw new Error(`no coordinator #${i}`);
    const res = await fetch(`http://127.0.0.1:${c.opsPort}/cluster`, { signal: AbortSignal.timeout(2000) });
    return (await res.json()) as { leader: string | null; self: { id: string; state: string } };
  }

  async startGateway(i: number): Promise<GatewayNode> {
    const id = `gw${i}-${this.uid}`;
    const proc = await startRift(["--role", "gateway"], {
      name: `gw${i}`,
      env: { ...this.baseEnv, ...this.opts.gatewayEnv, RIFT__NODE__ID: id },
      readyWhen: isReadyLine("gateway listening"),
      timeoutMs: this.opts.readyTimeoutMs ?? 60_000,
      ...(this.opts.echo !== undefined ? { echo: this.opts.echo } : {}),
    });
    const ready = logObject(proc.lines.find(isReadyLine("gateway listening"))!)!;
    const port = ready.port as number;
    const node: GatewayNode = { index: i, id, proc, port, opsPort: ready.opsPort as number, url: `ws://127.0.0.1:${port}` };
    this.gateways[i] = node;
    return node;
  }

  /** Graceful stop of field #i (SIGTERM by PID); resolves with its exit status. */
  stopField(i: number): Promise<ExitInfo> {
    const node = this.fields[i];
    if (!node) throw new Error(`field server #${i} was never started`);
    return node.proc.stop();
  }

  /** SIGTERM field #i, wait for its exit, start it again (same node id and zones). */
  async restartField(i: number): Promise<{ exit: ExitInfo; node: FieldNode }> {
    const exit = await this.stopField(i);
    const node = await this.startField(i);
    return { exit, node };
  }

  // ---- players ----

  /** Create accounts directly in the global DB with cheap scrypt parameters (fast logins). */
  async seedAccounts(names: readonly string[], password = DEFAULT_PASSWORD): Promise<Account[]> {
    const out: Account[] = [];
    // a few at a time: the pool is small and the shards are shared with other test files
    for (let i = 0; i < names.length; i += 8) {
      out.push(...(await Promise.all(names.slice(i, i + 8).map((n) => this.data.accounts.register(n, password)))));
    }
    return out;
  }

  /** Connect an SDK client to a gateway (tracked: closed by `stop()`). */
  async connect(gateway = 0, opts: RiftClientOptions = {}): Promise<RiftClient> {
    const gw = this.gateways[gateway];
    if (!gw) throw new Error(`no gateway #${gateway}`);
    const c = await RiftClient.connect(gw.url, opts);
    this.clients.add(c);
    return c;
  }

  /** hello → login (name + password) → wait for `enter`. The account must exist. */
  async player(name: string, opts: PlayerOptions = {}): Promise<RiftClient> {
    const c = await this.connect(opts.gateway ?? 0, opts.client);
    await c.hello();
    await c.login(name, opts.password ?? DEFAULT_PASSWORD);
    await c.waitForEnter();
    return c;
  }

  // ---- ops endpoints ----

  async metrics(node: GatewayNode | FieldNode | CoordinatorNode | ChatNode | DungeonNode): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${node.opsPort}/metrics`);
    return res.text();
  }

  /** /healthz: HTTP status and body. */
  async health(node: GatewayNode | FieldNode | CoordinatorNode): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`http://127.0.0.1:${node.opsPort}/healthz`);
    return { status: res.status, body: (await res.json()) as unknown };
  }

  /** Every process of the cluster is alive and answers /healthz with 200. */
  async healthy(): Promise<boolean> {
    const nodes = [...this.coordinators, ...this.gateways, ...this.fields].filter((n): n is GatewayNode | FieldNode | CoordinatorNode => n !== undefined);
    const results = await Promise.all(nodes.map(async (n) => n.proc.exitInfo() === null && (await this.health(n).catch(() => ({ status: 0 }))).status === 200));
    return results.every(Boolean);
  }

  // ---- teardown ----

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.clients) if (!c.closed) void c.close().catch(() => undefined);
    this.clients.clear();
    // gateways first (no users left to hand over), then game servers, then coordinators
    const results: PromiseSettledResult<unknown>[] = [];
    for (const group of [this.gateways, [...this.fields, ...this.dungeons, ...this.chats], this.coordinators]) {
      const procs = group.filter((n) => n !== undefined).map((n) => n.proc);
      results.push(...(await Promise.allSettled(procs.map((p) => p.stop()))));
    }
    await this.data.close().catch(() => undefined);
    await this.scope.dispose();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }
}

/** Sum of a Prometheus counter/gauge's samples whose labels include all of `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const kv of (m[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have.set(kv[1]!, kv[2]!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[4]);
  }
  return sum;
}
