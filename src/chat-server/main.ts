/**
 * Chat role wiring (`rift --role chat`): ZooKeeper session → Redis (moderation feed, history)
 * → chat server (gateway links) → membership registration with `linkPorts`, so gateways
 * find it and spread channels over the live chat servers (docs/CHAT.md).
 * Shutdown hooks run in reverse: deregister (gateways move the channels away), stop the
 * server (last flush), close Redis, close the session.
 */
import { Redis } from "ioredis";
import { registerSelf } from "../core/cluster/wiring.js";
import { Zk } from "../core/cluster/zk.js";
import type { RoleMain } from "../core/runtime.js";
import { createChatMetrics } from "./metrics.js";
import { Moderation } from "./moderation.js";
import { loadModeration, RedisHistoryStore, subscribeModeration } from "./redis.js";
import { ChatServer } from "./server.js";
import { metricsSource, startMonitor } from "../core/ops/monitor.js";

export const chatMain: RoleMain = async (ctx) => {
  const { config, lifecycle } = ctx;
  const log = ctx.log.child({ component: "chat" });
  const zkConf = config.cluster.zookeeper;
  const zk = await Zk.connect({ connect: zkConf.connect, sessionTimeoutMs: zkConf.sessionTimeoutMs, log });
  lifecycle.onShutdown("zookeeper", () => zk.close());

  const { url, keyPrefix } = config.cluster.redis;
  const redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: true });
  redis.on("error", (err: Error) => log.debug({ err: err.message }, "chat: Redis error"));
  await redis.connect();
  lifecycle.onShutdown("redis", async () => void (await redis.quit().catch(() => redis.disconnect())));

  const moderation = new Moderation();
  const reload = async () => {
    const m = await loadModeration(redis, keyPrefix);
    moderation.load(m.mutes, m.bans);
  };
  await reload();
  const store = config.chat.persistHistory && config.chat.historySize > 0 ? new RedisHistoryStore(redis, keyPrefix, config.chat.historySize, config.chat.flushMs, log) : undefined;
  if (store) lifecycle.onShutdown("chat-history", () => store.close());

  const server = new ChatServer({ host: config.node.host, config: config.chat, log, metrics: createChatMetrics(ctx.metrics), moderation, ...(store ? { store } : {}) });
  const sub = await subscribeModeration(url, keyPrefix, log, (e) => server.moderate(e));
  lifecycle.onShutdown("chat-events", async () => void (await sub.quit().catch(() => sub.disconnect())));
  const reloadTimer = setInterval(() => reload().catch((err: unknown) => log.warn({ err }, "chat: moderation reload failed")), config.chat.moderationReloadMs);
  reloadTimer.unref();
  lifecycle.onShutdown("chat-reload", () => clearInterval(reloadTimer));

  const port = await server.start();
  lifecycle.onShutdown("chat-server", () => server.stop());
  ctx.ops.addHealthCheck("chat", () => ({ ok: !lifecycle.shuttingDown, detail: `${server.linkCount} gateway links` }));

  startMonitor(ctx, metricsSource(ctx.metrics, {}, () => server.service.memberTotal, () => `${server.linkCount} gateway links`));
  await registerSelf(ctx, zk, log, { facts: { linkPorts: [port] }, load: () => server.service.memberTotal });
  log.info({ linkPort: port, opsPort: ctx.opsPort }, "chat server listening");
};
