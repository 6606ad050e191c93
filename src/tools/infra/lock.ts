/**
 * A per-run-dir lock (`<runDir>.lock`, created with O_EXCL, holding the owner's PID) so that
 * two launchers never start or stop the same infra at once — e.g. `npm start` while
 * `npm run infra -- up` is still starting. The second one waits (with a deadline) and then
 * finds a running infra to reuse. A lock whose owner process is gone is taken over.
 */
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { makeDirs } from "./dirs.js";
import { isAlive, readPidFile } from "./proc.js";
import { waitFor } from "./wait.js";

export async function withRunDirLock<T>(runDir: string, log: (l: string) => void, fn: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  const file = `${runDir}.lock`;
  makeDirs(dirname(file), 0o755);
  let announced = false;
  await waitFor(
    () => {
      if (tryLock(file)) return true;
      const owner = readPidFile(file);
      if (owner !== null && !announced) {
        log(`waiting for process ${owner}, which is starting or stopping this infra (${file})`);
        announced = true;
      }
      return false;
    },
    { timeoutMs, intervalMs: 200, what: `the lock ${file}` },
  );
  try {
    return await fn();
  } finally {
    if (readPidFile(file) === process.pid) unlinkSync(file);
  }
}

function tryLock(file: string): boolean {
  try {
    writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const owner = readPidFile(file);
  if (owner === process.pid) throw new Error(`${file} is already held by this process (nested start/stop)`);
  if (owner !== null && isAlive(owner)) return false;
  // Stale (owner gone) or half-written: take it over if it is still the same file content.
  try {
    if (readPidFile(file) === owner || readFileSync(file, "utf8") === "") unlinkSync(file);
  } catch {
    /* removed by someone else meanwhile */
  }
  return false;
}
