/**
 * docker-compose.yml, the two Dockerfiles and the Patroni entrypoint, checked without a Docker
 * engine: structure of the topology (every role, ≥2 of the stateless ones, ZooKeeper, Redis,
 * three 2-member Patroni clusters), wiring (depends_on targets, hostnames, ZooKeeper/Redis
 * addresses), the roles' RIFT__* environment validated by the real config loader, and the
 * Patroni configuration rendered by the real entrypoint script. `docker compose config -q` runs
 * only where the compose plugin is installed.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../../src/core/config.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const COMPOSE_FILE = join(ROOT, "docker-compose.yml");
const ROLES = ["gateway", "field", "dungeon", "chat", "coordinator"] as const;
const SCOPES = ["global", "shard0", "shard1"] as const;

type Obj = Record<string, unknown>;
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  hostname?: string;
  ports?: (string | Obj)[];
  volumes?: (string | Obj)[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

function loadCompose(): Compose {
  // Compose files use YAML 1.1 merge keys (`<<: *anchor`), which Docker Compose supports.
  const doc = parseYaml(readFileSync(COMPOSE_FILE, "utf8"), { merge: true }) as Compose;
  if (!doc || typeof doc !== "object" || !doc.services) throw new Error("docker-compose.yml has no services");
  return doc;
}

let cached: Compose | undefined;
function compose(): Compose {
  cached ??= loadCompose();
  return cached;
}

/** Compose-style interpolation with an empty environment: `${X:-d}` / `${X-d}` → d, `${X}` → "", `$$` → `$`. */
function interpolate(s: string): string {
  return s.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?]([^}]*))?\}/g, (m, _name, dflt: string | undefined) =>
    m === "$$" ? "$" : (dflt ?? ""),
  );
}

function envOf(svc: Service): Record<string, string> {
  const out: Record<string, string> = {};
  const env = svc.environment ?? {};
  if (Array.isArray(env)) {
    for (const entry of env) {
      const i = entry.indexOf("=");
      if (i > 0) out[entry.slice(0, i)] = interpolate(entry.slice(i + 1));
    }
  } else {
    for (const [k, v] of Object.entries(env)) if (v !== null && v !== undefined) out[k] = interpolate(String(v));
  }
  return out;
}

function argv(v: string[] | string | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v.map(String) : v.split(/\s+/).filter(Boolean);
}

/** Role of a Rift service (`--role X` in its command), or undefined for infrastructure. */
function roleOf(svc: Service): string | undefined {
  const args = argv(svc.command);
  const i = args.indexOf("--role");
  if (i >= 0) return args[i + 1];
  return args.find((a) => a.startsWith("--role="))?.slice("--role=".length);
}

function roleServices(): [string, Service, string][] {
  return Object.entries(compose().services).flatMap(([name, svc]) => {
    const role = roleOf(svc);
    return role ? [[name, svc, role] as [string, Service, string]] : [];
  });
}

function patroniMembers(): [string, Service, Record<string, string>][] {
  return Object.entries(compose().services).flatMap(([name, svc]) => {
    const env = envOf(svc);
    return env.SCOPE ? [[name, svc, env] as [string, Service, Record<string, string>]] : [];
  });
}

const servicesWithImage = (prefix: string): string[] =>
  Object.entries(compose().services)
    .filter(([, s]) => (s.image ?? "").startsWith(prefix))
    .map(([n]) => n);

function dependsOn(svc: Service): [string, string | undefined][] {
  const d = svc.depends_on;
  if (!d) return [];
  return Array.isArray(d) ? d.map((n) => [n, undefined]) : Object.entries(d).map(([n, v]) => [n, v?.condition]);
}

function hostPorts(list: string): { host: string; port: string }[] {
  return list.split(",").map((hp) => {
    const i = hp.lastIndexOf(":");
    return { host: hp.slice(0, i), port: hp.slice(i + 1) };
  });
}

/** Container port published for a short-syntax `ports` entry "HOST:CONTAINER" (or [IP:]HOST:CONTAINER). */
function published(svc: Service): { host: number; container: number }[] {
  return (svc.ports ?? []).map((p) => {
    if (typeof p === "string") {
      const parts = p.split("/")[0]!.split(":");
      return { host: Number(parts[parts.length - 2]), container: Number(parts[parts.length - 1]) };
    }
    return { host: Number(p.published), container: Number(p.target) };
  });
}

/** Dockerfile instructions, continuation lines joined and comments dropped. */
function dockerfileInstructions(file: string): { op: string; args: string }[] {
  const out: { op: string; args: string }[] = [];
  let cur = "";
  for (const raw of readFileSync(file, "utf8").split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#")) continue;
    if (line.endsWith("\\")) {
      cur += line.slice(0, -1) + " ";
      continue;
    }
    cur += line;
    if (cur.trim()) {
      const m = /^(\S+)\s*(.*)$/s.exec(cur.trim())!;
      out.push({ op: m[1]!.toUpperCase(), args: m[2]! });
    }
    cur = "";
  }
  return out;
}

function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed)) throw new Error(`not an exec-form array: ${args}`);
  return parsed.map(String);
}

describe("docker-compose.yml: topology", () => {
  it("parses as YAML with a services mapping", () => {
    const c = compose();
    expect(Object.keys(c.services).length).toBeGreaterThan(10);
  });

  it("runs every role, all from the one image built by the root Dockerfile", () => {
    const roles = roleServices();
    for (const role of ROLES) expect(roles.map(([, , r]) => r), `role ${role}`).toContain(role);
    for (const [name, , role] of roles) expect(ROLES as readonly string[], `${name}: unknown role`).toContain(role);

    const [, first] = roles[0]!;
    expect(first.image, "role image").toBeTruthy();
    for (const [name, svc] of roles) {
      expect(svc.image, `${name}.image`).toBe(first.image);
      expect(svc.build, `${name}.build`).toEqual(first.build);
      expect(svc.entrypoint, `${name} must use the image's entrypoint`).toBeUndefined();
    }
    const build = typeof first.build === "string" ? { context: first.build } : (first.build ?? {});
    expect(build.context === "." || build.context === "./").toBe(true);
    expect(existsSync(join(ROOT, build.context ?? ".", build.dockerfile ?? "Dockerfile"))).toBe(true);
  });

  it("has at least two gateways, fields and coordinators (no single point of failure)", () => {
    const count = (role: string) => roleServices().filter(([, , r]) => r === role).length;
    expect(count("gateway")).toBeGreaterThanOrEqual(2);
    expect(count("field")).toBeGreaterThanOrEqual(2);
    expect(count("coordinator")).toBeGreaterThanOrEqual(2);
    expect(count("dungeon")).toBeGreaterThanOrEqual(1);
    expect(count("chat")).toBeGreaterThanOrEqual(1);
  });

  it("has ZooKeeper 3.8 and Redis 7 without persistence", () => {
    const zk = servicesWithImage("zookeeper:");
    expect(zk.length).toBeGreaterThanOrEqual(1);
    for (const n of zk) expect(compose().services[n]!.image).toBe("zookeeper:3.8");

    const redis = servicesWithImage("redis:");
    expect(redis).toHaveLength(1);
    const svc = compose().services[redis[0]!]!;
    expect(svc.image).toBe("redis:7");
    const cmd = argv(svc.command);
    expect(cmd[cmd.indexOf("--save") + 1]).toBe("");
    expect(cmd[cmd.indexOf("--appendonly") + 1]).toBe("no");
  });

  it("has a two-member Patroni cluster for global, shard0 and shard1, from docker/patroni", () => {
    const members = patroniMembers();
    for (const scope of SCOPES) {
      expect(members.filter(([, , env]) => env.SCOPE === scope).length, `members of ${scope}`).toBe(2);
    }
    const names = members.map(([, , env]) => env.MEMBER_NAME);
    expect(new Set(names).size, "member names unique").toBe(names.length);
    for (const [name, svc, env] of members) {
      const build = typeof svc.build === "string" ? { context: svc.build } : svc.build;
      expect(build?.context?.replace(/^\.\//, "").replace(/\/$/, ""), `${name}.build`).toBe("docker/patroni");
      expect(env.MEMBER_NAME, `${name}: member name = service name`).toBe(name);
      // Patroni advertises MEMBER_HOST (default: the container hostname) to the other member and
      // to the Rift roles through ZooKeeper: it must be this service's resolvable name.
      expect(env.MEMBER_HOST ?? svc.hostname, `${name}: advertised host`).toBe(name);
      if (svc.hostname !== undefined) expect(svc.hostname).toBe(name);
    }
  });

  it("keeps each Patroni member's data in its own named volume", () => {
    const declared = Object.keys(compose().volumes ?? {});
    const used = new Set<string>();
    for (const [name, svc] of patroniMembers()) {
      const vols = (svc.volumes ?? []).map((v) => (typeof v === "string" ? v.split(":") : [String(v.source), String(v.target)]));
      const data = vols.find(([, target]) => target === "/var/lib/postgresql/data");
      expect(data, `${name}: volume at /var/lib/postgresql/data`).toBeDefined();
      const source = data![0]!;
      expect(declared, `${name}: named volume ${source} declared`).toContain(source);
      expect(used.has(source), `${name}: volume ${source} shared with another member`).toBe(false);
      used.add(source);
    }
  });

  it("only depends on services that exist, with valid conditions", () => {
    const services = compose().services;
    for (const [name, svc] of Object.entries(services)) {
      for (const [target, condition] of dependsOn(svc)) {
        expect(Object.keys(services), `${name} depends on ${target}`).toContain(target);
        expect(target, `${name} depends on itself`).not.toBe(name);
        if (condition !== undefined) {
          expect(["service_started", "service_healthy", "service_completed_successfully"]).toContain(condition);
          if (condition === "service_healthy") expect(services[target]!.healthcheck?.test, `${target} has no healthcheck`).toBeDefined();
        }
      }
    }
  });

  it("starts the roles only after ZooKeeper, Redis and every Patroni member are healthy", () => {
    const needed = [...servicesWithImage("zookeeper:"), ...servicesWithImage("redis:"), ...patroniMembers().map(([n]) => n)];
    for (const [name, svc] of roleServices()) {
      const deps = new Map(dependsOn(svc));
      for (const n of needed) expect(deps.get(n), `${name} → ${n}`).toBe("service_healthy");
    }
    for (const [name, svc] of patroniMembers()) {
      for (const zk of servicesWithImage("zookeeper:")) expect(new Map(dependsOn(svc)).get(zk), `${name} → ${zk}`).toBe("service_healthy");
    }
  });

  it("gives every service a healthcheck of the right kind", () => {
    for (const [name, svc] of Object.entries(compose().services)) {
      expect(svc.healthcheck?.test, `${name}.healthcheck`).toBeDefined();
      expect(svc.healthcheck?.disable, `${name}.healthcheck.disable`).not.toBe(true);
    }
    const testOf = (svc: Service) => argv(svc.healthcheck?.test).join(" ");
    for (const [name, svc] of roleServices()) {
      expect(testOf(svc), name).toMatch(/docker\/healthcheck\.mjs|\/healthz/);
    }
    expect(existsSync(join(ROOT, "docker/healthcheck.mjs"))).toBe(true);
    expect(readFileSync(join(ROOT, "docker/healthcheck.mjs"), "utf8")).toContain("/healthz");
    for (const n of servicesWithImage("zookeeper:")) expect(testOf(compose().services[n]!)).toMatch(/srvr.*nc/);
    for (const n of servicesWithImage("redis:")) expect(testOf(compose().services[n]!)).toMatch(/redis-cli ping/);
    for (const [name, svc] of patroniMembers()) expect(testOf(svc), name).toMatch(/pg_isready|:8008\//);
  });

  it("points every Patroni member at the ZooKeeper service", () => {
    const zk = servicesWithImage("zookeeper:");
    for (const [name, , env] of patroniMembers()) {
      expect(env.ZOOKEEPER_HOSTS, `${name}.ZOOKEEPER_HOSTS`).toBeTruthy();
      for (const { host, port } of hostPorts(env.ZOOKEEPER_HOSTS!)) {
        expect(zk, `${name}: ZooKeeper host ${host}`).toContain(host);
        expect(port).toBe("2181");
      }
      expect(env.DCS_NAMESPACE ?? "/service/", `${name}: Patroni namespace`).toBe("/service/");
    }
  });

  it("points every role at the ZooKeeper and Redis services and advertises its own hostname", () => {
    const zk = servicesWithImage("zookeeper:");
    const redis = servicesWithImage("redis:");
    for (const [name, svc] of roleServices()) {
      const env = envOf(svc);
      for (const { host, port } of hostPorts(env.RIFT__CLUSTER__ZOOKEEPER__CONNECT ?? "")) {
        expect(zk, `${name}: ZooKeeper host ${host}`).toContain(host);
        expect(port).toBe("2181");
      }
      const url = new URL(env.RIFT__CLUSTER__REDIS__URL ?? "redis://missing");
      expect(redis, `${name}: Redis host`).toContain(url.hostname);
      expect(env.RIFT__NODE__HOST, `${name}: node.host`).toBe(name);
      expect(svc.hostname ?? name).toBe(name);
    }
  });
});

describe("docker-compose.yml: Rift configuration of the roles", () => {
  it("every role's RIFT__* environment is accepted by the config loader and matches the topology", () => {
    const scopes = patroniMembers().map(([, , env]) => env.SCOPE!);
    const namespaces = new Set(patroniMembers().map(([, , env]) => (env.DCS_NAMESPACE ?? "/service/").replace(/\/+$/, "")));
    expect(namespaces.size).toBe(1);
    for (const [name, svc] of roleServices()) {
      const env = envOf(svc);
      for (const key of Object.keys(env)) expect(key, `${name}: ${key} is not a Rift override`).toMatch(/^RIFT__[A-Z0-9_]+$/);
      const cfg = loadConfig({ env });
      expect(cfg.node.host).toBe(name);
      expect(cfg.ops.port, `${name}: fixed ops port for the healthcheck`).toBeGreaterThan(0);
      expect(new Set([cfg.db.globalScope, ...cfg.db.shardScopes]), `${name}: DB scopes`).toEqual(new Set(scopes));
      expect(cfg.db.shardScopes).toEqual(["shard0", "shard1"]);
      expect(cfg.db.patroniNamespace.replace(/\/+$/, "")).toBe([...namespaces][0]);
      for (const p of published(svc)) {
        const target = roleOf(svc) === "gateway" ? cfg.gateway.port : cfg.ops.port;
        expect(p.container, `${name}: published port`).toBe(target);
      }
    }
  });

  it("publishes the two gateways' client ports (7000, 7001) and the coordinators' HTTP", () => {
    const all = Object.values(compose().services).flatMap((s) => published(s).map((p) => p.host));
    expect(new Set(all).size, "host ports unique").toBe(all.length);
    const gatewayHostPorts = roleServices()
      .filter(([, , r]) => r === "gateway")
      .flatMap(([, s]) => published(s).map((p) => p.host));
    expect(gatewayHostPorts).toEqual(expect.arrayContaining([7000, 7001]));
    for (const [name, svc] of roleServices().filter(([, , r]) => r === "coordinator")) {
      expect(published(svc).length, `${name} publishes its HTTP port`).toBeGreaterThan(0);
    }
  });
});

describe("Dockerfiles", () => {
  it("root Dockerfile: node:20-bookworm-slim, npm ci, sources and config copied, entrypoint runs src/main.ts", () => {
    const ins = dockerfileInstructions(join(ROOT, "Dockerfile"));
    expect(ins.find((i) => i.op === "FROM")?.args).toBe("node:20-bookworm-slim");
    expect(ins.some((i) => i.op === "RUN" && /\bnpm ci\b/.test(i.args))).toBe(true);
    const copies = ins.filter((i) => i.op === "COPY").map((i) => i.args);
    expect(copies.some((a) => /package-lock\.json/.test(a))).toBe(true);
    expect(copies.some((a) => /^src\s/.test(a))).toBe(true);
    expect(copies.some((a) => /^config\s/.test(a))).toBe(true);
    const entry = execForm(ins.filter((i) => i.op === "ENTRYPOINT").at(-1)!.args);
    expect(entry).toContain("tsx");
    expect(entry.at(-1)).toBe("src/main.ts");
    expect(existsSync(join(ROOT, "package-lock.json"))).toBe(true);
  });

  it("Patroni image: debian:bookworm-slim with patroni, python3-kazoo and postgresql-15, runs as postgres", () => {
    const dir = join(ROOT, "docker/patroni");
    const ins = dockerfileInstructions(join(dir, "Dockerfile"));
    expect(ins.find((i) => i.op === "FROM")?.args).toBe("debian:bookworm-slim");
    const install = ins.filter((i) => i.op === "RUN").map((i) => i.args).join(" ");
    for (const pkg of ["patroni", "python3-kazoo", "postgresql-15"]) expect(install).toMatch(new RegExp(`apt-get install -y [^;&]*\\b${pkg}\\b`));
    expect(ins.filter((i) => i.op === "USER").at(-1)?.args).toBe("postgres");
    for (const i of ins.filter((x) => x.op === "COPY")) {
      const src = i.args.split(/\s+/).filter((a) => !a.startsWith("--"))[0]!;
      expect(existsSync(join(dir, src)), `COPY source ${src}`).toBe(true);
    }
    expect(ins.some((i) => i.op === "ENTRYPOINT")).toBe(true);
  });

  it(".dockerignore keeps node_modules, .rift and .git out of the build context", () => {
    const lines = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim().replace(/^\/+|\/+$/g, ""));
    for (const p of ["node_modules", ".rift", ".git"]) expect(lines, p).toContain(p);
    // what the root Dockerfile copies must not be ignored
    for (const p of ["src", "config", "docker", "docker/healthcheck.mjs", "package.json", "package-lock.json"]) expect(lines).not.toContain(p);
  });
});

// The entrypoint renders the template with /usr/bin/python3 (Patroni's interpreter in the image).
const HAS_PYTHON = existsSync("/usr/bin/python3");
const ENTRYPOINT = join(ROOT, "docker/patroni/entrypoint.sh");
const TEMPLATE = join(ROOT, "docker/patroni/patroni.yml.tmpl");

function render(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("sh", [ENTRYPOINT, "print-config"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CONFIG_TEMPLATE: TEMPLATE, ...env },
    encoding: "utf8",
    timeout: 15_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("docker/patroni/entrypoint.sh", () => {
  it.skipIf(!HAS_PYTHON)(
    `renders each member's Patroni config from its compose environment${HAS_PYTHON ? "" : " (skipped: /usr/bin/python3 missing)"}`,
    () => {
      for (const [name, , env] of patroniMembers()) {
        const r = render(env);
        expect(r.stderr, name).toBe("");
        expect(r.status, name).toBe(0);
        const cfg = parseYaml(r.stdout) as Obj & {
          bootstrap: { dcs: Obj & { postgresql: { parameters: Obj } }; pg_hba: string[] };
          postgresql: Obj & { authentication: Obj };
          restapi: Obj;
          zookeeper: { hosts: string[] };
        };
        expect(cfg.scope).toBe(env.SCOPE);
        expect(cfg.name).toBe(env.MEMBER_NAME);
        expect(cfg.namespace).toBe("/service/");
        expect(cfg.zookeeper.hosts).toEqual(env.ZOOKEEPER_HOSTS!.split(","));
        expect(cfg.restapi.connect_address).toBe(`${name}:8008`);
        expect(cfg.postgresql.connect_address).toBe(`${name}:5432`);
        expect(cfg.postgresql.bin_dir).toBe("/usr/lib/postgresql/15/bin");
        const dcs = cfg.bootstrap.dcs;
        expect(dcs.synchronous_mode).toBe(true);
        expect(dcs.postgresql.parameters.max_prepared_transactions).toBe(64);
        expect(Number(dcs.ttl)).toBeLessThanOrEqual(20); // ≤ 20 × ZOO_TICK_TIME (1 s)
        expect(cfg.bootstrap.pg_hba.some((l) => /^host\s+replication\s/.test(l))).toBe(true);
        expect(r.stdout).not.toMatch(/\$\{/);
      }
    },
  );

  it.skipIf(!HAS_PYTHON)(`rejects a missing scope and a malformed ZooKeeper address${HAS_PYTHON ? "" : " (skipped: /usr/bin/python3 missing)"}`, () => {
    const ok = { SCOPE: "shard0", MEMBER_NAME: "pg-shard0-a", ZOOKEEPER_HOSTS: "zookeeper:2181" };
    expect(render(ok).status).toBe(0);
    const { SCOPE: _s, ...noScope } = ok;
    const r1 = render(noScope);
    expect(r1.status).not.toBe(0);
    expect(r1.stderr).toMatch(/SCOPE/);
    const r2 = render({ ...ok, ZOOKEEPER_HOSTS: "zookeeper" });
    expect(r2.status).not.toBe(0);
    expect(r2.stderr).toMatch(/not host:port/);
    const r3 = render({ ...ok, DCS_TTL: "ten" });
    expect(r3.status).not.toBe(0);
  });
});

/** Whether `docker compose` exists here. Only a missing client or plugin counts as "cannot run". */
function probeCompose(): { available: boolean; reason: string } {
  const r = spawnSync("docker", ["compose", "version"], { encoding: "utf8", timeout: 20_000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") return { available: false, reason: "the docker client is not installed" };
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.status !== 0 && /unknown command|is not a docker command/i.test(out)) {
    return { available: false, reason: "the docker compose plugin is not installed (`docker compose` is an unknown command)" };
  }
  // Anything else (including a failing `docker compose version`) lets the test run and report.
  return { available: true, reason: "" };
}
const COMPOSE = probeCompose();

describe("docker compose", () => {
  it.skipIf(!COMPOSE.available)(
    `docker compose config -q accepts the file${COMPOSE.available ? "" : ` (skipped: ${COMPOSE.reason})`}`,
    () => {
      // `config` only parses, interpolates and validates: it needs no Docker engine.
      const r = spawnSync("docker", ["compose", "-f", COMPOSE_FILE, "config", "-q"], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(r.error, String(r.error)).toBeUndefined();
      expect(r.status, `docker compose config failed:\n${r.stderr}`).toBe(0);
    },
    90_000,
  );
});
