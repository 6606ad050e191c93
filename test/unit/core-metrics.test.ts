import { afterEach, describe, expect, it } from "vitest";
import { createRegistry, counter, OpsServer } from "../../src/core/metrics.js";
import { RiftError } from "../../src/core/errors.js";

const servers: OpsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function ops(port = 0): OpsServer {
  const registry = createRegistry({ role: "test", node: "n1" });
  counter(registry, "rift_test_total", "a test counter").inc(3);
  const s = new OpsServer({ host: "127.0.0.1", port, registry, info: { role: "test", node: "n1" } });
  servers.push(s);
  return s;
}

describe("ops HTTP server", () => {
  it("serves /metrics with our metrics and default labels, and /healthz", async () => {
    const s = ops();
    const port = await s.listen();
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/rift_test_total\{role="test",node="n1"\} 3/);
    expect(text).toContain("rift_process_");
    let healthy = true;
    s.addHealthCheck("dep", () => ({ ok: healthy, detail: healthy ? "up" : "down" }));
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, role: "test", checks: { dep: { ok: true } } });
    healthy = false;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(503);
  });

  it("turns a taken port into PORT_IN_USE", async () => {
    const port = await ops().listen();
    await expect(ops(port).listen()).rejects.toSatisfy((e: unknown) => e instanceof RiftError && e.key === "PORT_IN_USE");
  });
});
