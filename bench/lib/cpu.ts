/** CPU time of processes (Linux /proc), to show where the cores went during a window. */
import { readFileSync } from "node:fs";

const TICKS_PER_SEC = 100; // USER_HZ on Linux

/** User + system CPU seconds of `pid` (all threads); NaN when unreadable. */
export function cpuSeconds(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // fields after the command: state(3) ... utime(14) stime(15) → indexes 11 and 12 here
    return (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SEC;
  } catch {
    return NaN;
  }
}

/** CPU seconds of this process (all threads, workers included). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
