import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { DEFAULT_CONFIG_FILE, deepMerge, envOverrides, loadConfig, validateConfig } from "../../src/core/config.js";
import { RiftError } from "../../src/core/errors.js";

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function tmpFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), "rift-cfg-"));
  tmpDirs.push(dir);
  const f = join(dir, "c.yaml");
  writeFileSync(f, content);
  return f;
}

function errorOf(fn: () => unknown): RiftError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RiftError) return e;
    throw e;
  }
  throw new Error("expected a RiftError");
}

describe("config", () => {
  it("loads the defaults", () => {
    const c = loadConfig({ env: {} });
    expect(c.gateway.maxPayloadBytes).toBeLessThanOrEqual(65536);
    expect(c.field.tickHz).toBe(20);
  });

  it("merges an override file and environment overrides, env last", () => {
    const f = tmpFile("gateway:\n  port: 7100\nfield:\n  zones: [a, b]\n");
    const c = loadConfig({ file: f, env: { RIFT__GATEWAY__PORT: "7200", RIFT__CLUSTER__ZOOKEEPER__SESSIONTIMEOUTMS: "8000" } });
    expect(c.gateway.port).toBe(7200);
    expect(c.field.zones).toEqual(["a", "b"]);
    expect(c.cluster.zookeeper.sessionTimeoutMs).toBe(8000);
  });

  it("rejects an unknown key naming it", () => {
    const e = errorOf(() => loadConfig({ file: tmpFile("gateway:\n  prot: 1\n"), env: {} }));
    expect(e.key).toBe("CONFIG_INVALID");
    expect(e.message).toContain("gateway.prot");
  });

  it("rejects an invalid value naming the key", () => {
    const e = errorOf(() => loadConfig({ env: { RIFT__GATEWAY__MAXPAYLOADBYTES: "100000000" } }));
    expect(e.key).toBe("CONFIG_INVALID");
    expect(e.message).toContain("gateway.maxPayloadBytes");
  });

  it("rejects an unknown environment key", () => {
    const e = errorOf(() => loadConfig({ env: { RIFT__NOPE__X: "1" } }));
    expect(e.message).toContain("nope");
  });

  it("reports a missing override file as CONFIG_FILE", () => {
    expect(errorOf(() => loadConfig({ file: "/nonexistent/x.yaml", env: {} })).key).toBe("CONFIG_FILE");
  });

  it("reports a missing key when the merged tree lacks one", () => {
    const tree = parseYaml(readFileSync(DEFAULT_CONFIG_FILE, "utf8")) as { node: Record<string, unknown> };
    delete tree.node.version;
    const e = errorOf(() => validateConfig(tree));
    expect(e.message).toContain("missing key node.version");
  });

  it("deepMerge replaces arrays and merges objects", () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } })).toEqual({ a: { b: 1, c: [3] } });
    expect(envOverrides({ OTHER: "x" }, { a: 1 })).toEqual({});
  });
});

describe("docs/CONFIG.md", () => {
  it("documents every key of config/default.yaml", () => {
    const doc = readFileSync(new URL("../../docs/CONFIG.md", import.meta.url), "utf8");
    const keys: string[] = [];
    const walk = (tree: Record<string, unknown>, prefix: string) => {
      for (const [k, v] of Object.entries(tree)) {
        const path = prefix ? `${prefix}.${k}` : k;
        if (v !== null && typeof v === "object" && !Array.isArray(v)) walk(v as Record<string, unknown>, path);
        else keys.push(path);
      }
    };
    walk(parseYaml(readFileSync(DEFAULT_CONFIG_FILE, "utf8")) as Record<string, unknown>, "");
    expect(keys.length).toBeGreaterThan(30);
    expect(keys.filter((k) => !doc.includes(`\`${k}\``))).toEqual([]);
  });
});
