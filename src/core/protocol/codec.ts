/**
 * Wire codec: msgpack envelopes `[version, type, body]`, validated against a zod schema per
 * type before anything else sees them.
 *
 * Contract: `decodeFrame` on ANY bytes either returns validated messages or throws a
 * `ProtocolError` (a RiftError with a PROTO_* key) — never another exception. A frame may
 * hold several concatenated envelopes (server→client frames do: one per AOI cell change
 * list plus direct messages); `maxMessages` bounds how many one frame may carry.
 */
import { Packr, Unpackr } from "msgpackr";
import type { z } from "zod";
import { RiftError, type ErrorKey } from "../errors.js";

export const PROTOCOL_VERSION = 1;

export type ProtoErrorKey = Extract<
  ErrorKey,
  "PROTO_MALFORMED" | "PROTO_VERSION" | "PROTO_UNKNOWN_TYPE" | "PROTO_SCHEMA" | "PROTO_TOO_LARGE" | "PROTO_NOT_BINARY"
>;

export class ProtocolError extends RiftError {
  constructor(key: ProtoErrorKey, details?: string) {
    super(key, details);
    this.name = "ProtocolError";
  }
}

/** A schema table: message type name → zod schema of its body. */
export type SchemaTable = Record<string, z.ZodType>;

/** The decoded message union of a schema table: `{ t: "move", b: {...} }`. */
export type MessageOf<T extends SchemaTable> = {
  [K in keyof T & string]: { t: K; b: z.infer<T[K]> };
}[keyof T & string];

// Plain maps decode to objects; no records/structures on the wire, so third parties can
// use any msgpack library. `int64AsType: "number"` keeps ints as JS numbers.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });
const packr = new Packr({ useRecords: false, variableMapSize: true });

/** Encode one envelope. Bodies are NOT validated on encode (trusted, typed by TS). */
export function encodeEnvelope(type: string, body: unknown): Buffer {
  return packr.pack([PROTOCOL_VERSION, type, body]);
}

export interface DecodeOptions {
  /** Reject frames larger than this many bytes. */
  maxBytes: number;
  /** Reject frames holding more envelopes than this. Default 1 (client→server). */
  maxMessages?: number;
}

function decodeValues(bytes: Uint8Array, maxMessages: number): unknown[] {
  const values: unknown[] = [];
  try {
    unpackr.unpackMultiple(bytes as Buffer, (v: unknown) => {
      values.push(v);
      if (values.length > maxMessages) throw new ProtocolError("PROTO_MALFORMED", `more than ${maxMessages} messages in one frame`);
      return true;
    });
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError("PROTO_MALFORMED", e instanceof Error ? e.message.slice(0, 120) : "undecodable");
  }
  return values;
}

/** Validate one decoded envelope against a schema table. */
export function validateEnvelope<T extends SchemaTable>(table: T, v: unknown): MessageOf<T> {
  if (!Array.isArray(v) || v.length !== 3) throw new ProtocolError("PROTO_MALFORMED", "envelope must be [version, type, body]");
  const [ver, type, body] = v as [unknown, unknown, unknown];
  if (ver !== PROTOCOL_VERSION) throw new ProtocolError("PROTO_VERSION", `got ${String(ver).slice(0, 20)}, want ${PROTOCOL_VERSION}`);
  if (typeof type !== "string" || !Object.prototype.hasOwnProperty.call(table, type)) {
    throw new ProtocolError("PROTO_UNKNOWN_TYPE", typeof type === "string" ? type.slice(0, 40) : typeof type);
  }
  const r = table[type]!.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ProtocolError("PROTO_SCHEMA", `${type}.${issue.path.join(".")}: ${issue.message}`);
  }
  return { t: type, b: r.data } as MessageOf<T>;
}

/** Decode and validate a frame. Throws only ProtocolError. */
export function decodeFrame<T extends SchemaTable>(table: T, bytes: Uint8Array, opts: DecodeOptions): MessageOf<T>[] {
  try {
    if (!(bytes instanceof Uint8Array)) throw new ProtocolError("PROTO_NOT_BINARY");
    if (bytes.byteLength > opts.maxBytes) throw new ProtocolError("PROTO_TOO_LARGE", `${bytes.byteLength} > ${opts.maxBytes} bytes`);
    if (bytes.byteLength === 0) throw new ProtocolError("PROTO_MALFORMED", "empty frame");
    return decodeValues(bytes, opts.maxMessages ?? 1).map((v) => validateEnvelope(table, v));
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    // Defensive: anything unexpected from a library is still a protocol error, never a crash.
    throw new ProtocolError("PROTO_MALFORMED", e instanceof Error ? e.message.slice(0, 120) : "undecodable");
  }
}

/** Decode a frame holding exactly one message. */
export function decodeOne<T extends SchemaTable>(table: T, bytes: Uint8Array, maxBytes: number): MessageOf<T> {
  return decodeFrame(table, bytes, { maxBytes, maxMessages: 1 })[0]!;
}

/** Result-style decode for hot paths that prefer not to throw. */
export function tryDecodeOne<T extends SchemaTable>(
  table: T,
  bytes: Uint8Array,
  maxBytes: number,
): { ok: true; msg: MessageOf<T> } | { ok: false; error: ProtocolError } {
  try {
    return { ok: true, msg: decodeOne(table, bytes, maxBytes) };
  } catch (e) {
    return { ok: false, error: e as ProtocolError };
  }
}

/** Decode a raw msgpack stream without validation (server→client frames in the SDK). */
export function unpackStream(bytes: Uint8Array): unknown[] {
  return decodeValues(bytes, Number.MAX_SAFE_INTEGER);
}

export function pack(v: unknown): Buffer {
  return packr.pack(v);
}

export function unpack(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes as Buffer);
}
