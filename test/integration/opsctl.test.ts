/**
 * `opsctl` as a child process against the real ZooKeeper of the test infra (own roots per
 * describe): fake members registered with ZkMembership, two election candidates (the one
 * created first leads, although its id sorts last), a placement document written directly.
 *
 * - cluster --json / human: every member, addresses, the LEADER marker, the summary line;
 * - placement --json / human: live vs MISSING servers; no document → exit 1, {placement:null};
 * - drain: unknown member → exit 2 and nothing created; bad args / unreachable ZooKeeper →
 *   exit 2; drain <id> creates the request, reports progress on placement/load changes and
 *   exits 0 once the member deregisters; --timeout 1 → exit 1 naming what is left;
 *   --no-wait is idempotent.
 */
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZkMembership } from "../../src/core/cluster/membership.js";
import { drainRequestPath, electionPath, placementPath } from "../../src/core/cluster/paths.js";
import { decodeDrainRequest, encodePlacement, type PlacementDoc } from "../../src/core/cluster/placement-doc.js";
import type { MemberInfo } from "../../src/core/cluster/types.js";
import { CreateMode, Zk, zkJoin } from "../../src/core/cluster/zk.js";
import { withTimeout } from "../../src/tools/infra/wait.js";
import type { ClusterJson } from "../../src/tools/opsctl/cluster.js";
import type { DrainJson } from "../../src/tools/opsctl/drain.js";
import type { PlacementJson } from "../../src/tools/opsctl/placement.js";
import { getInfra } from "../helpers/infra.js";
import { zkRoot, type ZkRoot } from "../helpers/isolation.js";
import { startProcess, stopAll, tsxCommand, waitFor, type ManagedProcess } from "../helpers/processes.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = "src/tools/opsctl/cli.ts";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run opsctl to completion (killed after `timeoutMs`), stdout and stderr kept apart. */
function run(args: string[], timeoutMs = 30_000): Promise<Run> {
  const [cmd, argv] = tsxCommand(CLI, args);
  const t0 = Date.now();
  return new Promise((res) => {
    execFile(cmd, argv, { cwd: REPO_ROOT, timeout: timeoutMs, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      res({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** The one JSON object of a --json run (stdout must hold exactly one line). */
function json<T>(r: Run): T {
  const lines = r.stdout.split("\n").filter((l) => l.length > 0);
  expect(lines, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toHaveLength(1);
  return JSON.parse(lines[0]!) as T;
}

const NOW = Date.now();

function info(role: MemberInfo["role"], id: string, over: Partial<MemberInfo> = {}): MemberInfo {
  return { role, id, host: "127.0.0.1", opsPort: 9100, colour: "blue", version: "0.1.0", load: 0, startedAt: NOW - 130_000, ...over };
}

const MEMBERS: MemberInfo[] = [
  info("gateway", "gw-1", { clientPort: 7000, load: 312 }),
  info("field", "field-1", { linkPorts: [7100, 7101], load: 140, zones: ["z1"] }),
  info("field", "field-2", { linkPorts: [7200], load: 12, colour: "green", version: "0.2.0" }),
  info("field", "field-3", { linkPorts: [7300], load: 0 }),
  info("coordinator", "coord-a"),
  info("coordinator", "coord-b"),
];

function placement(over: Partial<PlacementDoc> = {}): PlacementDoc {
  return {
    generation: 7,
    leader: "coord-b",
    updatedAt: NOW - 3_000,
    zones: {
      z1: { server: "field-1", since: NOW - 60_000 },
      z2: { server: "field-2", since: NOW - 30_000 },
      z3: { server: "field-gone", since: NOW - 10_000 },
    },
    draining: [],
    ...over,
  };
}

/** A fake cluster under its own root: one session holds every member and both candidates. */
class FakeCluster {
  zk!: Zk;
  root!: ZkRoot;
  readonly memberships = new Map<string, ZkMembership>();

  async start(withPlacement: boolean): Promise<void> {
    const infra = getInfra();
    this.root = await zkRoot(infra);
    this.zk = await Zk.connect({ connect: infra.zookeeper.connect, sessionTimeoutMs: 5000 });
    for (const m of MEMBERS) {
      const ms = new ZkMembership(this.zk, { root: this.root.path });
      await ms.register(m);
      this.memberships.set(m.id, ms);
    }
    // coord-b joins the election first: it leads although "coord-a" sorts before it
    await this.zk.mkdirp(electionPath(this.root.path));
    for (const id of ["coord-b", "coord-a"]) await this.zk.create(zkJoin(electionPath(this.root.path), "n_"), Buffer.from(id), CreateMode.EPHEMERAL_SEQUENTIAL);
    if (withPlacement) await this.zk.create(placementPath(this.root.path), encodePlacement(placement()), CreateMode.PERSISTENT);
  }

  args(): string[] {
    return ["--zk", getInfra().zookeeper.connect, "--root", this.root.path];
  }

  async stop(): Promise<void> {
    await this.zk?.close();
    await this.root?.dispose();
  }
}

afterAll(stopAll);

describe("opsctl cluster / placement", { timeout: 120_000 }, () => {
  const c = new FakeCluster();
  let empty: ZkRoot;

  beforeAll(async () => {
    await c.start(true);
    empty = await zkRoot(getInfra());
  });
  afterAll(async () => {
    await c.stop();
    await empty?.dispose();
  });

  it("cluster --json: every member with its address, the leader from the lowest election node", async () => {
    const r = await run(["cluster", "--json", ...c.args()]);
    expect(r.code, r.stderr).toBe(0);
    const j = json<ClusterJson>(r);
    expect(j.root).toBe(c.root.path);
    expect(j.members.map((m) => m.id)).toEqual(["gw-1", "field-1", "field-2", "field-3", "coord-a", "coord-b"]);
    expect(j.leader).toBe("coord-b");
    expect(j.candidates.map((x) => x.id)).toEqual(["coord-b", "coord-a"]);
    expect(j.members.filter((m) => m.leader).map((m) => m.id)).toEqual(["coord-b"]);
    expect(j.counts).toEqual({ gateway: 1, field: 3, coordinator: 2 });
    const byId = new Map(j.members.map((m) => [m.id, m]));
    expect(byId.get("gw-1")).toMatchObject({ role: "gateway", address: "127.0.0.1:7000", load: 312 });
    expect(byId.get("field-1")).toMatchObject({ role: "field", address: "127.0.0.1:7100,7101", load: 140, path: `${c.root.path}/members/field/field-1` });
    expect(byId.get("field-2")).toMatchObject({ colour: "green", version: "0.2.0" });
    expect(byId.get("coord-a")!.uptimeMs).toBeGreaterThanOrEqual(130_000);
    expect(j.invalid).toEqual([]);
  });

  it("cluster (human): aligned table, LEADER on the leading coordinator only, summary line", async () => {
    const r = await run(["cluster", ...c.args()]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^ROLE\s+ID\s+ADDRESS\s+OPS\s+LOAD\s+COLOUR\s+VERSION\s+UPTIME$/);
    expect(lines.filter((l) => l.includes("LEADER"))).toEqual([expect.stringMatching(/^coordinator\s+coord-b LEADER\s+127\.0\.0\.1\s/)]);
    expect(lines.find((l) => l.includes("gw-1"))).toMatch(/^gateway\s+gw-1\s+127\.0\.0\.1:7000\s+9100\s+312\s+blue\s+0\.1\.0\s+\d+m\d+s$/);
    expect(lines).toContain("6 members: 1 gateway, 3 field, 2 coordinator; leader coord-b");
  });

  it("placement --json and human: zones with live / MISSING servers, generation, leader", async () => {
    const [rj, rh] = await Promise.all([run(["placement", "--json", ...c.args()]), run(["placement", ...c.args()])]);
    expect(rj.code, rj.stderr).toBe(0);
    const j = json<PlacementJson>(rj);
    expect(j.placement).toEqual(placement());
    expect(j.currentLeader).toBe("coord-b");
    expect(j.zones!.map((z) => [z.zone, z.server, z.live])).toEqual([
      ["z1", "field-1", true],
      ["z2", "field-2", true],
      ["z3", "field-gone", false],
    ]);
    expect(rh.code, rh.stderr).toBe(0);
    const lines = rh.stdout.split("\n");
    expect(lines[0]).toMatch(/^generation 7, written by coord-b (\d+m)?\d+s ago$/);
    expect(lines).toContain("current leader: coord-b");
    expect(lines).toContain("draining: none");
    expect(lines.find((l) => l.startsWith("z1"))).toMatch(/^z1\s+field-1\s+live\s+\d+m\d+s$/);
    expect(lines.find((l) => l.startsWith("z3"))).toMatch(/^z3\s+field-gone\s+MISSING\s+(\d+m)?\d+s$/);
    expect(lines).toContain("3 zones, 1 on MISSING servers");
  });

  it("placement without a document: a clear message and exit 1; JSON {placement:null}", async () => {
    const args = ["--zk", getInfra().zookeeper.connect, "--root", empty.path];
    const [rh, rj] = await Promise.all([run(["placement", ...args]), run(["placement", "--json", ...args])]);
    expect(rh.code).toBe(1);
    expect(rh.stderr.trim()).toBe("no placement yet: is a coordinator running?");
    expect(rj.code).toBe(1);
    expect(json<PlacementJson>(rj)).toEqual({ root: empty.path, placement: null });
  });

  it("an empty root is an empty cluster (exit 0) and opsctl writes nothing there", async () => {
    const r = await run(["cluster", "--zk", getInfra().zookeeper.connect, "--root", empty.path]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("0 members; no leader");
    expect(await c.zk.getChildren(empty.path)).toEqual([]);
  });
});

describe("opsctl drain", { timeout: 120_000 }, () => {
  const c = new FakeCluster();

  beforeAll(() => c.start(true));
  afterAll(() => c.stop());

  it("an unknown member: exit 2 with one line, no request created", async () => {
    const r = await run(["drain", "nobody", ...c.args()]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^opsctl: RIFT_USAGE: .*no member 'nobody' is registered under \/.*\/members/)]);
    expect(await c.zk.exists(drainRequestPath(c.root.path, "nobody"))).toBeNull();
  });

  it("bad arguments exit 2 with one line before touching ZooKeeper", async () => {
    const rs = await Promise.all([
      run(["drain", "field-3", "--timeout", "-3", ...c.args()]),
      run(["drain", "field-3", "--timeout", "soon", ...c.args()]),
      run(["drain", ...c.args()]),
      run(["bogus", ...c.args()]),
      run(["cluster", "--zk", "no-port", "--root", c.root.path]),
      run(["cluster", "--zk", getInfra().zookeeper.connect, "--root", "relative"]),
    ]);
    for (const r of rs) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n"), r.stderr).toEqual([expect.stringMatching(/^opsctl: RIFT_USAGE: /)]);
    }
    expect(await c.zk.exists(drainRequestPath(c.root.path, "field-3"))).toBeNull();
  });

  it("ZooKeeper unreachable: exit 2 with a clear line at the connect deadline", async () => {
    const port = await new Promise<number>((res) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    const r = await run(["cluster", "--zk", `127.0.0.1:${port}`, "--connect-timeout", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(new RegExp(`^opsctl: RIFT_DEPENDENCY_UNAVAILABLE: .*cannot reach ZooKeeper at 127\\.0\\.0\\.1:${port} within 1s`));
    expect(r.ms).toBeLessThan(15_000);
  });

  it("drain <id>: creates the request, reports progress on changes, exits 0 once the member is gone", async () => {
    const [cmd, argv] = tsxCommand(CLI, ["drain", "field-2", "--timeout", "60", ...c.args()]);
    const p: ManagedProcess = await startProcess(cmd, argv, { name: "opsctl-drain" });
    await p.waitForLine((l) => l === `drain requested: field field-2 (${drainRequestPath(c.root.path, "field-2")})`, 30_000);
    const node = await c.zk.getData(drainRequestPath(c.root.path, "field-2"));
    const req = decodeDrainRequest(node.data);
    expect(req?.by).toMatch(/^opsctl@/);
    expect(Math.abs(req!.requestedAt - Date.now())).toBeLessThan(60_000);
    await p.waitForLine(/^field-2: 1 zone \(z2\), 12 users$/, 15_000);

    // the "coordinator" moves z2 away and marks field-2 draining; the server's load drops
    await c.zk.setData(placementPath(c.root.path), encodePlacement(placement({ generation: 8, zones: { ...placement().zones, z2: { server: "field-1", since: Date.now() } }, draining: ["field-2"] })));
    await p.waitForLine(/^field-2: 0 zones, 12 users, draining$/, 15_000);
    await c.memberships.get("field-2")!.update({ load: 0 });
    await p.waitForLine(/^field-2: 0 zones, 0 users, draining$/, 15_000);
    expect(p.exitInfo(), "still waiting while the member is registered").toBeNull();

    await c.memberships.get("field-2")!.deregister();
    const exit = await withTimeout(p.exited, 15_000, "opsctl drain to exit after the member left");
    expect(exit.code, p.lines.join("\n")).toBe(0);
    expect(p.lines.some((l) => /^field-2 is drained: its member node is gone after \d+\.\ds$/.test(l))).toBe(true);
    // one line per change, no repeats
    const progress = p.lines.filter((l) => l.startsWith("field-2: "));
    expect(progress).toEqual(["field-2: 1 zone (z2), 12 users", "field-2: 0 zones, 12 users, draining", "field-2: 0 zones, 0 users, draining"]);
  });

  it("drain --timeout 1 while the member stays: exit 1 naming what is left (human and --json)", async () => {
    await c.zk.setData(placementPath(c.root.path), encodePlacement(placement()));
    const [rh, rj] = await Promise.all([run(["drain", "field-3", "--timeout", "1", ...c.args()]), run(["drain", "field-1", "--timeout", "1", "--json", ...c.args()])]);
    expect(rh.code, rh.stdout + rh.stderr).toBe(1);
    expect(rh.stdout).toMatch(/^timed out after \d+\.\ds: field-3 is still registered \(0 zones, 0 users\); the drain request stays at \/.*\/drain\/field-3$/m);
    expect(await c.zk.exists(drainRequestPath(c.root.path, "field-3"))).not.toBeNull();

    expect(rj.code, rj.stdout + rj.stderr).toBe(1);
    const j = json<DrainJson>(rj);
    expect(j).toMatchObject({ id: "field-1", role: "field", result: "timeout", alreadyRequested: false, leader: "coord-b", remaining: { present: true, zones: ["z1"], load: 140, draining: false } });
    expect(j.elapsedMs).toBeGreaterThanOrEqual(1000);
    // progress went to stderr in --json mode
    expect(rj.stderr).toContain("field-1: 1 zone (z1), 140 users");
  });

  it("drain --no-wait: creates the request and returns; a second run leaves it as it is", async () => {
    const first = await run(["drain", "gw-1", "--no-wait", "--json", ...c.args()]);
    expect(first.code, first.stderr).toBe(0);
    const a = json<DrainJson>(first);
    expect(a).toMatchObject({ id: "gw-1", role: "gateway", result: "requested", alreadyRequested: false });
    const second = await run(["drain", "gw-1", "--no-wait", ...c.args()]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^drain of gateway gw-1 already requested (\d+m)?\d+s ago by opsctl@.*: left as it is$/m);
    const node = await c.zk.getData(drainRequestPath(c.root.path, "gw-1"));
    expect(decodeDrainRequest(node.data)?.requestedAt).toBe(a.requestedAt);
    // the member is untouched
    expect(await c.zk.exists(`${c.root.path}/members/gateway/gw-1`)).not.toBeNull();
  });
});
