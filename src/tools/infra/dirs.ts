/**
 * Directories the launcher creates. As root, Postgres runs as `postgres`, so every directory
 * on the way to a member directory must be traversable (x bit) by that account; the
 * directories we create ourselves are made 0755 explicitly (independent of the umask), and
 * a parent we did not create that blocks `postgres` is reported, never chmod'ed.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";

/** Creates `dir` and its missing parents, each with exactly `mode`. Existing levels are left alone. */
export function makeDirs(dir: string, mode = 0o755): void {
  const abs = resolve(dir);
  const missing: string[] = [];
  for (let p = abs; !existsSync(p); p = dirname(p)) {
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing) {
    mkdirSync(p, { mode });
    chmodSync(p, mode);
  }
}

/** Creates (or fixes) a directory owned by `account` with `mode` (no chown when account is null). */
export function makeOwnedDir(dir: string, account: { uid: number; gid: number } | null, mode = 0o700): void {
  mkdirSync(dir, { recursive: true, mode });
  chmodSync(dir, mode);
  if (account) chownSync(dir, account.uid, account.gid);
}

/**
 * Why `account` cannot reach `dir` (the first ancestor lacking the x bit for it), or null.
 * Supplementary groups are ignored (conservative).
 */
export function traversalProblem(
  dir: string,
  account: { uid: number; gid: number; name?: string },
  stat: (p: string) => Pick<Stats, "uid" | "gid" | "mode"> = statSync,
): string | null {
  if (account.uid === 0) return null;
  const chain: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of chain) {
    const st = stat(p);
    const bit = st.uid === account.uid ? 0o100 : st.gid === account.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) {
      const who = account.name ?? `uid ${account.uid}`;
      return `${who} cannot enter ${p} (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}, owner uid ${st.uid}); use a run dir under /tmp or make ${p} traversable (chmod o+x)`;
    }
  }
  return null;
}
