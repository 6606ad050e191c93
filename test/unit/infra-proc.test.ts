import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { traversalProblem } from "../../src/tools/infra/dirs.js";
import { missingPackages } from "../../src/tools/infra/install.js";
import { descendants, isAlive, isOwnedAlive, parsePasswd, parseProcStat, readPidFile, stopPid, tailFile } from "../../src/tools/infra/proc.js";
import { FatalWaitError, WaitTimeoutError, waitFor } from "../../src/tools/infra/wait.js";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "rift-proc-test-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("process helpers", () => {
  test("/proc/<pid>/stat parsing copes with spaces and parentheses in the command name", () => {
    expect(parseProcStat("4242 (postgres: walwriter (x)) S 4200 4242 4242 0 -1")).toEqual({ pid: 4242, state: "S", ppid: 4200 });
    expect(parseProcStat("garbage")).toBeNull();
  });

  test("passwd lookup", () => {
    const text = "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n";
    expect(parsePasswd(text, "postgres")).toEqual({ name: "postgres", uid: 101, gid: 104, home: "/var/lib/postgresql" });
    expect(parsePasswd(text, "nobody")).toBeNull();
  });

  test("PID files: first line, postmaster.pid format included", () => {
    const d = tmp();
    writeFileSync(join(d, "a.pid"), "1234\n");
    writeFileSync(join(d, "postmaster.pid"), "5678\n/data\n1700000000\n5432\n");
    writeFileSync(join(d, "bad.pid"), "nope\n");
    expect(readPidFile(join(d, "a.pid"))).toBe(1234);
    expect(readPidFile(join(d, "postmaster.pid"))).toBe(5678);
    expect(readPidFile(join(d, "bad.pid"))).toBeNull();
    expect(readPidFile(join(d, "missing.pid"))).toBeNull();
  });

  test("tailFile returns the last lines", () => {
    const f = join(tmp(), "log");
    writeFileSync(f, Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n") + "\n");
    expect(tailFile(f, 3)).toBe("line 97\nline 98\nline 99");
    expect(tailFile(join(tmp(), "none"))).toBe("");
  });

  test("ownership by working directory, descendants, and stop with SIGTERM", async () => {
    const d = tmp();
    const child = spawn("/bin/sh", ["-c", "sleep 30 & wait"], { cwd: d, stdio: "ignore" });
    const pid = child.pid!;
    expect(isAlive(pid)).toBe(true);
    expect(isOwnedAlive(pid, d)).toBe(true);
    expect(isOwnedAlive(pid, tmp())).toBe(false);
    const kids = await waitFor(() => (descendants(pid).length > 0 ? descendants(pid) : null), { timeoutMs: 5000, what: "sleep child" });
    expect(await stopPid(pid, { ownerDir: d, graceMs: 5000 })).toBe("stopped");
    expect(isAlive(pid)).toBe(false);
    for (const k of kids) if (isAlive(k)) process.kill(k, "SIGKILL");
  });

  test("stopPid escalates to SIGKILL when SIGTERM is ignored, and skips PIDs that are not ours", async () => {
    const d = tmp();
    const child = spawn("/bin/sh", ["-c", "trap '' TERM; while :; do sleep 0.05; done"], { cwd: d, stdio: "ignore" });
    const pid = child.pid!;
    // Wait until the shell has installed the trap (SIGTERM = signal 15 set in SigIgn).
    const ignoresTerm = () => {
      const m = /^SigIgn:\s+([0-9a-f]+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      return m !== null && (BigInt(`0x${m[1]}`) & (1n << 14n)) !== 0n;
    };
    await waitFor(ignoresTerm, { timeoutMs: 5000, intervalMs: 10, what: "the shell to ignore SIGTERM" });
    expect(await stopPid(pid, { ownerDir: tmp() })).toBe("gone"); // wrong owner dir: untouched
    expect(isAlive(pid)).toBe(true);
    expect(await stopPid(pid, { ownerDir: d, graceMs: 300 })).toBe("killed");
    expect(isAlive(pid)).toBe(false);
  });
});

describe("waitFor", () => {
  test("returns the first truthy result", async () => {
    let n = 0;
    expect(await waitFor(() => (++n >= 3 ? n : null), { timeoutMs: 2000, intervalMs: 1, what: "n" })).toBe(3);
  });

  test("the timeout names what it waited for and the last error", async () => {
    const err = await waitFor(
      () => {
        throw new Error("connection refused");
      },
      { timeoutMs: 50, intervalMs: 10, what: "shard0 primary" },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as Error).message).toMatch(/waiting for shard0 primary \(last error: connection refused\)/);
  });

  test("a FatalWaitError ends the wait at once", async () => {
    const t0 = Date.now();
    await expect(
      waitFor(
        () => {
          throw new FatalWaitError("patroni pg0 exited with code 1");
        },
        { timeoutMs: 10_000, what: "x" },
      ),
    ).rejects.toThrow("patroni pg0 exited with code 1");
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe("directories and packages", () => {
  const pg = { uid: 101, gid: 104, name: "postgres" };
  const stats: Record<string, { uid: number; gid: number; mode: number }> = {
    "/": { uid: 0, gid: 0, mode: 0o40755 },
    "/root": { uid: 0, gid: 0, mode: 0o40700 },
    "/root/rift": { uid: 0, gid: 0, mode: 0o40755 },
    "/tmp": { uid: 0, gid: 0, mode: 0o41777 },
    "/tmp/run": { uid: 0, gid: 0, mode: 0o40755 },
  };
  const stat = (p: string) => stats[p]!;

  test("a parent that postgres cannot enter is reported by name", () => {
    expect(traversalProblem("/root/rift", pg, stat)).toMatch(/postgres cannot enter \/root \(mode 0700/);
    expect(traversalProblem("/tmp/run", pg, stat)).toBeNull();
  });

  test("missing packages are detected per file, each package once", () => {
    const present = new Set(["/usr/bin/redis-server"]);
    const reqs = [
      { pkg: "zookeeper", what: "zk", file: "/usr/share/java/zookeeper.jar" },
      { pkg: "zookeeper", what: "slf4j", file: "/usr/share/java/slf4j-simple.jar" },
      { pkg: "redis-server", what: "redis", file: "/usr/bin/redis-server" },
      { pkg: "python3-kazoo", what: "kazoo", probe: () => false },
    ];
    expect(missingPackages(reqs, (f) => present.has(f))).toEqual(["zookeeper", "python3-kazoo"]);
  });
});

describe("waitFor deadline", () => {
  test("a check that never settles cannot stretch the deadline", async () => {
    const t0 = Date.now();
    const err = await waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 200, what: "a hung probe" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as Error).message).toMatch(/waiting for a hung probe \(last error: the last check did not finish in time\)/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  test("a WaitTimeoutError thrown by the check itself only counts as 'not yet'", async () => {
    let n = 0;
    const v = await waitFor(
      () => {
        if (++n < 3) throw new WaitTimeoutError("inner connect", 10, undefined);
        return "ok";
      },
      { timeoutMs: 2000, intervalMs: 1, what: "outer" },
    );
    expect(v).toBe("ok");
  });

  test("aborting ends the wait with the abort reason", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("interrupted")), 20);
    await expect(waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 10_000, what: "x", signal: ac.signal })).rejects.toThrow("interrupted");
  });
});
