// Container healthcheck for the Rift roles: GET /healthz on the per-process ops HTTP server
// (port RIFT__OPS__PORT). The ops server binds to `node.host`, so this asks RIFT__NODE__HOST
// first and falls back to 127.0.0.1. Exit 0 when one answers 2xx within the timeout, else 1.
// Plain Node, no dependencies: node:20-bookworm-slim has neither curl nor wget.
const port = Number(process.env.RIFT__OPS__PORT ?? "9100");
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS ?? "2000");

if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`healthcheck: RIFT__OPS__PORT must be a fixed port, got ${process.env.RIFT__OPS__PORT ?? "(unset)"}`);
  process.exit(1);
}

const hosts = [...new Set([process.env.RIFT__NODE__HOST, "127.0.0.1"].filter((h) => h))];
const errors = [];
for (const host of hosts) {
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.ok) process.exit(0);
    errors.push(`${url}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  } catch (e) {
    errors.push(`${url}: ${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)}`);
  }
}
console.error(`healthcheck failed: ${errors.join("; ")}`);
process.exit(1);
