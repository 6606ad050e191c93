/** Znode data as JSON validated by a zod schema: anything malformed reads as `undefined`, never throws. */
import type { z } from "zod";
import { parseJsonAs } from "../json.js";

export function encodeJsonNode(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}

export function decodeJsonNode<S extends z.ZodType>(schema: S, data: Buffer | null | undefined): z.infer<S> | undefined {
  if (!data || data.length === 0) return undefined;
  return parseJsonAs(schema, data.toString("utf8"));
}
