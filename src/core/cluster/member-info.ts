/**
 * MemberInfo on the wire (znode data): JSON, validated on read — a malformed node written by
 * a broken or foreign process is skipped (and logged by the reader), never trusted.
 */
import { z } from "zod";
import { ROLES } from "../config.js";
import { decodeJsonNode, encodeJsonNode } from "./json-node.js";
import type { MemberInfo } from "./types.js";

const port = z.number().int().min(0).max(65535);

export const MemberInfoSchema = z.object({
  role: z.enum(ROLES),
  id: z.string().min(1).max(200),
  host: z.string().min(1).max(255),
  opsPort: port,
  linkPorts: z.array(port).max(64).optional(),
  clientPort: port.optional(),
  zones: z.array(z.string().min(1).max(64)).max(10_000).optional(),
  zoneLoad: z.record(z.string().min(1).max(64), z.number().finite().min(0)).optional(),
  colour: z.string().max(64),
  version: z.string().max(64),
  load: z.number().finite(),
  startedAt: z.number().finite(),
});

export function encodeMemberInfo(info: MemberInfo): Buffer {
  return encodeJsonNode(info);
}

/** Parse znode data; undefined when it is not a valid MemberInfo. */
export function decodeMemberInfo(data: Buffer | null): MemberInfo | undefined {
  return decodeJsonNode(MemberInfoSchema, data) as MemberInfo | undefined;
}
