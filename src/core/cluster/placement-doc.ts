/**
 * The placement document: which game server hosts each zone. Stored as JSON in the znode
 * `<root>/placement`, written only by the coordinator leader, read (and watched) by gateways,
 * game servers and opsctl. Validated on read: a malformed document is treated as absent.
 *
 * - `generation` increases by one on every write (readers may ignore an older document).
 * - `leader` is the coordinator node id that wrote it; `updatedAt` is its wall clock (ms).
 * - `zones[zone].server` is the member id (role `field`) hosting the zone since `since`.
 * - `draining` lists servers being drained (they get no zones).
 * - Keys of `zones` are channel keys (channels.ts): `z1` is channel 1 of zone z1, `z1#2`
 *   channel 2. `channelCapacity` (0/absent = channels off) tells gateways when a channel is
 *   full: new arrivals go to the first channel below it.
 */
import { z } from "zod";
import { decodeJsonNode, encodeJsonNode } from "./json-node.js";

export const PlacementDocSchema = z.object({
  generation: z.number().int().min(0),
  leader: z.string().max(200),
  updatedAt: z.number().finite(),
  zones: z.record(
    z.string().min(1).max(64),
    z.object({
      server: z.string().min(1).max(200),
      since: z.number().finite(),
    }),
  ),
  draining: z.array(z.string().min(1).max(200)).max(10_000),
  channelCapacity: z.number().int().min(0).optional(),
});
export type PlacementDoc = z.infer<typeof PlacementDocSchema>;

export function emptyPlacement(): PlacementDoc {
  return { generation: 0, leader: "", updatedAt: 0, zones: {}, draining: [] };
}

export function encodePlacement(doc: PlacementDoc): Buffer {
  return encodeJsonNode(doc);
}

/** Parse znode data; undefined when absent or not a valid document. */
export function decodePlacement(data: Buffer | null | undefined): PlacementDoc | undefined {
  return decodeJsonNode(PlacementDocSchema, data);
}

/** Zones (channel keys) a document places on `serverId`, sorted. */
export function zonesOf(doc: PlacementDoc | undefined, serverId: string): string[] {
  if (!doc) return [];
  return Object.keys(doc.zones)
    .filter((z) => doc.zones[z]!.server === serverId)
    .sort();
}

/** The content of a drain request node `<root>/drain/<id>`. */
export const DrainRequestSchema = z.object({
  requestedAt: z.number().finite(),
  /** Who asked: "opsctl@host", "sigterm", … */
  by: z.string().max(200),
});
export type DrainRequest = z.infer<typeof DrainRequestSchema>;

export function encodeDrainRequest(req: DrainRequest): Buffer {
  return encodeJsonNode(req);
}

export function decodeDrainRequest(data: Buffer | null | undefined): DrainRequest | undefined {
  return decodeJsonNode(DrainRequestSchema, data);
}
