import { afterAll, describe, expect, test } from "vitest";
import { isAlive } from "../../src/tools/infra/proc.js";
import { startProcess, stopAll, waitFor } from "../helpers/processes.js";

const node = (script: string, opts: Parameters<typeof startProcess>[2] = {}) => startProcess(process.execPath, ["-e", script], { name: "child", ...opts });

afterAll(stopAll);

describe("test process helper", () => {
  test("resolves once a line matches, keeps the output, stops by PID with SIGTERM", async () => {
    const p = await node(`console.log("booting"); setTimeout(() => console.error("listening on 1234"), 50); setInterval(() => {}, 1000);`, {
      readyWhen: /listening on \d+/,
      timeoutMs: 10_000,
    });
    expect(p.lines).toEqual(["booting", "listening on 1234"]);
    expect(await p.waitForLine((l) => l.startsWith("boot"))).toBe("booting");
    const exit = await p.stop();
    expect(exit.signal).toBe("SIGTERM");
    expect(isAlive(p.pid)).toBe(false);
  });

  test("a process that exits before it is ready fails with its last lines", async () => {
    await expect(node(`console.error("config error: no zookeeper"); process.exit(3)`, { readyWhen: /ready/, timeoutMs: 10_000 })).rejects.toThrow(
      /child exited with code 3 before printing a line matching \/ready\/[\s\S]*config error: no zookeeper/,
    );
  });

  test("readiness deadline: the process is stopped and the error names what was awaited", async () => {
    const err = await startProcess("/bin/sh", ["-c", "echo pid $$; exec sleep 30"], { name: "child", readyWhen: /never/, timeoutMs: 1500 }).catch(
      (e: Error) => e,
    );
    expect(String(err)).toMatch(/timed out after 1\.5s waiting for child to print a line matching \/never\//);
    const pid = Number(/pid (\d+)/.exec(String(err))?.[1]);
    expect(pid).toBeGreaterThan(0);
    await waitFor(() => !isAlive(pid), { timeoutMs: 5000, what: "the unready child to be gone" });
  });

  test("SIGKILL after the grace period when SIGTERM is ignored", async () => {
    const p = await node(`process.on("SIGTERM", () => console.log("ignoring TERM")); console.log("up"); setInterval(() => {}, 1000)`, {
      readyWhen: /^up$/,
      stopGraceMs: 300,
    });
    const exit = await p.stop();
    expect(exit.signal).toBe("SIGKILL");
    expect(p.lines).toContain("ignoring TERM");
  });
});
