/**
 * `npm test [-- vitest args]`: runs the whole suite with vitest (default + JSON reporters)
 * and ends with the line `N passed, N failed[, N skipped]` read from the JSON report.
 * Exit status: vitest's, or 1 when the report is missing or counts a failure.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numFailedTestSuites: number;
  numTotalTests: number;
  success: boolean;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const report = resolve(root, "test-results/vitest.json");
const summaryFile = resolve(root, "test-results/summary.txt");
mkdirSync(dirname(report), { recursive: true });
rmSync(report, { force: true });
rmSync(summaryFile, { force: true });

function finish(line: string, ok: boolean): never {
  writeFileSync(summaryFile, line + "\n");
  process.stdout.write(`\n${line}\n`);
  process.exit(ok ? 0 : 1);
}

const vitest = resolve(root, "node_modules/vitest/vitest.mjs");
const args = [vitest, "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)];
const child = spawn(process.execPath, args, { cwd: root, stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => child.kill(sig));

child.on("exit", (code, signal) => {
  let r: VitestJson | undefined;
  try {
    r = JSON.parse(readFileSync(report, "utf8")) as VitestJson;
  } catch {
    r = undefined;
  }
  if (!r) {
    process.stdout.write(`\nno test report (vitest exited with ${signal ?? code})\n`);
    finish("0 passed, 1 failed", false);
  }
  // A suite that failed to load (import error, hook failure) has no failed *tests*; count it.
  const failed = r.numFailedTests + (r.numFailedTestSuites > 0 && r.numFailedTests === 0 ? r.numFailedTestSuites : 0);
  const skipped = r.numPendingTests + r.numTodoTests;
  finish(`${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`, code === 0 && failed === 0 && r.numPassedTests > 0);
});
