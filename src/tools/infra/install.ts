/**
 * Debian packages the infrastructure needs. `ensurePackages()` detects what is missing by
 * looking for a file each package installs (cheap, no dpkg query) and installs the missing
 * ones with `apt-get update && apt-get install -y …` (root only; otherwise it fails with the
 * command to run). Detection is pure given an `exists` function, for tests.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { RiftError } from "../../core/errors.js";

export interface Requirement {
  /** Debian package that provides it. */
  pkg: string;
  /** What is missing, for messages. */
  what: string;
  /** File whose presence proves the package is installed. */
  file?: string;
  /** Alternative probe (used for the kazoo Python module). */
  probe?: () => boolean;
}

export const REQUIREMENTS: readonly Requirement[] = [
  { pkg: "zookeeper", what: "ZooKeeper", file: "/usr/share/java/zookeeper.jar" },
  { pkg: "zookeeper", what: "slf4j-simple for ZooKeeper", file: "/usr/share/java/slf4j-simple.jar" },
  { pkg: "default-jre-headless", what: "Java runtime", file: "/usr/bin/java" },
  { pkg: "redis-server", what: "Redis", file: "/usr/bin/redis-server" },
  { pkg: "postgresql-15", what: "PostgreSQL 15", file: "/usr/lib/postgresql/15/bin/postgres" },
  { pkg: "patroni", what: "Patroni", file: "/usr/bin/patroni" },
  { pkg: "python3-kazoo", what: "kazoo for /usr/bin/python3", probe: () => pythonHasKazoo() },
];

/** What the dashboard's browser test needs (installed by that test, not by `infra up`). */
export const BROWSER_REQUIREMENTS: readonly Requirement[] = [{ pkg: "chromium", what: "Chromium (headless browser tests)", file: "/usr/bin/chromium" }];

/** Distinct packages whose requirement is not met. */
export function missingPackages(reqs: readonly Requirement[], exists: (file: string) => boolean): string[] {
  const out = new Set<string>();
  for (const r of reqs) {
    const ok = r.file !== undefined ? exists(r.file) : (r.probe?.() ?? true);
    if (!ok) out.add(r.pkg);
  }
  return [...out];
}

function pythonHasKazoo(): boolean {
  if (!existsSync("/usr/bin/python3")) return false;
  // Patroni runs under /usr/bin/python3 whatever python3 is first on PATH; probe that one (~30 ms).
  return spawnSync("/usr/bin/python3", ["-c", "import kazoo"], { stdio: "ignore", timeout: 10_000 }).status === 0;
}

/** Installs missing packages (logging progress); no-op when everything is present. */
export async function ensurePackages(log: (line: string) => void, reqs: readonly Requirement[] = REQUIREMENTS): Promise<void> {
  const missing = missingPackages(reqs, existsSync);
  if (missing.length === 0) return;
  const cmd = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  if (process.getuid?.() !== 0) {
    throw new RiftError("INFRA_INSTALL_FAILED", `missing packages ${missing.join(", ")}; run as root: ${cmd}`);
  }
  log(`installing missing packages: ${missing.join(" ")} (this takes 30-90 s)`);
  const t0 = Date.now();
  await run("sh", ["-c", cmd], log);
  const still = missingPackages(reqs, existsSync);
  if (still.length > 0) throw new RiftError("INFRA_INSTALL_FAILED", `still missing after install: ${still.join(", ")}`);
  log(`packages installed (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

function run(cmd: string, args: string[], log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    const tail: string[] = [];
    const onData = (b: Buffer) => {
      for (const line of b.toString("utf8").split("\n")) {
        if (!line) continue;
        tail.push(line);
        if (tail.length > 30) tail.shift();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", (e) => reject(new RiftError("INFRA_INSTALL_FAILED", `${cmd}: ${e.message}`)));
    child.once("close", (code) => {
      if (code === 0) return resolve();
      for (const l of tail) log(`  apt: ${l}`);
      reject(new RiftError("INFRA_INSTALL_FAILED", `${args.join(" ")} exited with code ${code}`));
    });
  });
}
