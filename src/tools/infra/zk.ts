/**
 * Minimal promise wrappers over node-zookeeper-client for the launcher and the tests
 * (connect with a deadline, get/children that map NO_NODE to null, recursive remove).
 * The game servers have their own cluster layer in src/core; this is tooling only.
 */
import zookeeper from "node-zookeeper-client";
import { WaitTimeoutError } from "./wait.js";

export type ZkClient = zookeeper.Client;
export const CreateMode = zookeeper.CreateMode;

export interface ZkConnectOptions {
  /** Deadline for the first connection (default 5 s). */
  timeoutMs?: number;
  /** Session timeout requested from the server (default 5 s; the server clamps it to [2, 20] × tickTime). */
  sessionTimeoutMs?: number;
}

/** Connects, or rejects after `timeoutMs` (the half-open client is closed). */
export function connectZk(connect: string, opts: ZkConnectOptions = {}): Promise<ZkClient> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const client = zookeeper.createClient(connect, { sessionTimeout: opts.sessionTimeoutMs ?? 5000, spinDelay: 100, retries: 0 });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new WaitTimeoutError(`a ZooKeeper session with ${connect}`, timeoutMs, undefined));
    }, timeoutMs);
    client.once("connected", () => {
      clearTimeout(timer);
      resolve(client);
    });
    client.connect();
  });
}

/** Runs `fn` with a fresh client and always closes it. */
export async function withZk<T>(connect: string, fn: (c: ZkClient) => Promise<T>, opts: ZkConnectOptions = {}): Promise<T> {
  const c = await connectZk(connect, opts);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

export function isNoNode(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === zookeeper.Exception.NO_NODE;
}

/** Data of a znode, or null if it does not exist. */
export function zkGet(c: ZkClient, path: string, watcher?: (e: zookeeper.Event) => void): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const cb = (err: unknown, data: Buffer) => (err ? (isNoNode(err) ? resolve(null) : reject(err)) : resolve(data ?? Buffer.alloc(0)));
    if (watcher) c.getData(path, watcher, cb);
    else c.getData(path, cb);
  });
}

/** Children of a znode, or null if it does not exist. */
export function zkChildren(c: ZkClient, path: string): Promise<string[] | null> {
  return new Promise((resolve, reject) => {
    c.getChildren(path, (err, children) => (err ? (isNoNode(err) ? resolve(null) : reject(err)) : resolve(children)));
  });
}

/** Whether a znode exists; with a watcher, the watch fires on its creation/deletion/change. */
export function zkExists(c: ZkClient, path: string, watcher?: (e: zookeeper.Event) => void): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const cb = (err: unknown, stat: unknown) => (err ? reject(err) : resolve(stat !== null && stat !== undefined));
    if (watcher) c.exists(path, watcher, cb);
    else c.exists(path, cb);
  });
}

export function zkCreate(c: ZkClient, path: string, data: Buffer | string, mode: number = CreateMode.PERSISTENT): Promise<string> {
  const buf = typeof data === "string" ? Buffer.from(data) : data;
  return new Promise((resolve, reject) => c.create(path, buf, mode, (err, p) => (err ? reject(err) : resolve(p))));
}

export function zkMkdirp(c: ZkClient, path: string): Promise<void> {
  return new Promise((resolve, reject) => c.mkdirp(path, (err) => (err ? reject(err) : resolve())));
}

/** Removes a znode and everything under it; a missing node is not an error. */
export async function zkRemoveTree(c: ZkClient, path: string): Promise<void> {
  if (path === "/" || path === "/zookeeper") throw new Error(`refusing to remove ${path}`);
  const children = await zkChildren(c, path);
  if (children === null) return;
  for (const child of children) await zkRemoveTree(c, `${path}/${child}`);
  await new Promise<void>((resolve, reject) =>
    c.remove(path, -1, (err) => (err && !isNoNode(err) ? reject(err) : resolve())),
  );
}
