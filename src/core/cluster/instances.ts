/**
 * Dungeon instances (issue #7): created on demand for a party, placed by the coordinator
 * leader on a dungeon server, destroyed when empty or idle.
 *
 *   <root>/instances/d<seq>   persistent sequential, JSON InstanceRequest — created by the field
 *                             server whose party asked for it; removed by the dungeon server
 *                             that destroys the instance, or by the leader when its server is
 *                             gone (a crashed dungeon's parties are already back in the field)
 *
 * An instance is placed like a zone: the placement document's `zones` map holds it under its
 * key `<name>@<home>` (`d0000000017@z1`), where `home` is the field zone the party came from
 * and returns to. Zone names are `[A-Za-z0-9_-]`, so `@` makes instance keys unambiguous, and
 * every process can tell an instance's home zone from its key alone (a gateway that lost the
 * dungeon, a field server loading a row whose zone is a dead instance).
 */
import { z } from "zod";
import { decodeJsonNode, encodeJsonNode } from "./json-node.js";
import type { ZonePlacement } from "./types.js";
import { CreateMode, isZkError, zkJoin, type Zk } from "./zk.js";

export const INSTANCE_SEP = "@";
/** Party size bounds of one instance. */
export const MAX_PARTY = 4;

export function instanceKey(name: string, home: string): string {
  return `${name}${INSTANCE_SEP}${home}`;
}

/** `d0000000017@z1` → {name: "d0000000017", home: "z1"}; undefined for zone / channel keys. */
export function parseInstance(key: string): { name: string; home: string } | undefined {
  const i = key.indexOf(INSTANCE_SEP);
  if (i <= 0 || i === key.length - 1) return undefined;
  return { name: key.slice(0, i), home: key.slice(i + 1) };
}

export function isInstanceKey(key: string): boolean {
  return parseInstance(key) !== undefined;
}

/** Where a party member stood in the field when the party entered (they return there). */
export const PartyMemberSchema = z.strictObject({ user: z.number().int().positive(), x: z.number().finite(), y: z.number().finite() });

export const InstanceRequestSchema = z.strictObject({
  /** Dungeon kind (game rules: src/game/dungeon.ts). */
  kind: z.string().min(1).max(32),
  /** Base field zone the party returns to. */
  home: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  party: z.array(PartyMemberSchema).min(1).max(MAX_PARTY),
  /** Node id of the field server that asked. */
  requestedBy: z.string().max(200),
  requestedAt: z.number().finite(),
});
export type InstanceRequest = z.infer<typeof InstanceRequestSchema>;

export function instancesPath(root: string): string {
  return zkJoin(root, "instances");
}

/** Whether a child of `<root>/instances` is a request node name (`d<seq>`). */
export function isRequestName(name: string): boolean {
  return /^d\d+$/.test(name);
}

function requestPath(root: string, key: string): string {
  const p = parseInstance(key);
  if (!p || !isRequestName(p.name)) throw new Error(`'${key}' is not an instance key`);
  return zkJoin(instancesPath(root), p.name);
}

/** Create the request node; resolves with the new instance's key. */
export async function requestInstance(zk: Zk, root: string, req: InstanceRequest): Promise<string> {
  const dir = instancesPath(root);
  await zk.mkdirp(dir);
  const path = await zk.create(zkJoin(dir, "d"), encodeJsonNode(InstanceRequestSchema.parse(req)), CreateMode.PERSISTENT_SEQUENTIAL);
  return instanceKey(path.slice(path.lastIndexOf("/") + 1), req.home);
}

/** The request of an instance; undefined when it is gone (destroyed) or malformed. */
export async function readInstanceRequest(zk: Zk, root: string, key: string): Promise<InstanceRequest | undefined> {
  try {
    const { data } = await zk.getData(requestPath(root, key));
    return decodeJsonNode(InstanceRequestSchema, data);
  } catch (e) {
    if (isZkError(e, "NO_NODE")) return undefined;
    throw e;
  }
}

/** Remove an instance's request node (idempotent). */
export async function removeInstance(zk: Zk, root: string, key: string): Promise<void> {
  try {
    await zk.remove(requestPath(root, key));
  } catch (e) {
    if (!isZkError(e, "NO_NODE")) throw e;
  }
}

/** Waits for the placement to show an instance on a live server (or gives up after `timeoutMs`). */
export function waitPlaced(placement: Pick<ZonePlacement, "serverForZone" | "onChange">, key: string, timeoutMs: number): Promise<boolean> {
  if (placement.serverForZone(key)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      off();
      resolve(ok);
    };
    const off = placement.onChange(() => {
      if (placement.serverForZone(key)) done(true);
    });
    const timer = setTimeout(() => done(false), timeoutMs);
  });
}
