/**
 * Frame generators and expected-outcome models for the fuzz test (not a test file).
 *
 * Generators (fast-check) produce hostile and well-formed WebSocket frames for the client
 * protocol (docs/PROTOCOL.md) and for the gateway → field-server link protocol: random
 * bytes, valid envelopes with mutated bytes, wrong types and shapes, unknown types, several
 * messages in one frame, oversized frames, text frames, valid messages in the wrong state.
 *
 * Models decide, frame by frame, what the server must do with a connection: keep it ("ok"),
 * or close it with one exact code. Decoding and schema checks use the protocol's codec (the
 * unit-tested definition of "malformed"); the connection state rules are modelled here from
 * the protocol document. "skip" marks frames the test does not send because they would be
 * legitimate expensive work rather than hostile input (a real login / register, which
 * costs a production scrypt hash, or a link `attach`, which takes DB ownership).
 */
import fc from "fast-check";
import { ErrorCatalog, type ErrorDef } from "../../src/core/errors.js";
import { decodeOne, encodeEnvelope, pack, ProtocolError } from "../../src/core/protocol/codec.js";
import { ClientSchemas } from "../../src/core/protocol/messages.js";
import { decodeLinkFrame } from "../../src/core/transport/link-server.js";
import { SYNTHETIC_USER_BASE } from "./fake-link.js";

export interface Frame {
  /** What the generator meant to produce (for failure messages). */
  kind: string;
  data: Uint8Array;
  /** Send as a text frame. */
  text?: boolean;
}

export type Verdict = "ok" | "skip" | number;

/** A frame that prints itself compactly in fast-check counterexamples. */
export function frame(kind: string, data: Uint8Array, text = false): Frame {
  const f: Frame = text ? { kind, data, text } : { kind, data };
  Object.defineProperty(f, fc.toStringMethod, { value: () => describeFrame(f), enumerable: false });
  return f;
}

export function describeFrame(f: Frame): string {
  const hex = Buffer.from(f.data.subarray(0, 48)).toString("hex");
  return `${f.kind}${f.text ? "(text)" : ""}[${f.data.byteLength}B ${hex}${f.data.byteLength > 48 ? "…" : ""}]`;
}

function closeOf(e: unknown): number {
  if (e instanceof ProtocolError) return (ErrorCatalog[e.key] as ErrorDef).close ?? 1011;
  throw e;
}

// ------------------------------------------------------------------ shared generators

const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.uint8Array({ maxLength: 24 }),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }),
  fc.double(),
);

/** Apply 1–4 byte-level mutations (flip, insert, delete, truncate, append). */
function mutate(base: Uint8Array, muts: { op: string; pos: number; byte: number }[]): Uint8Array {
  let b = Array.from(base);
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.pos % (b.length + (m.op === "insert" ? 1 : 0));
    switch (m.op) {
      case "flip":
        if (b.length) b[at] = (b[at]! ^ (m.byte || 1)) & 0xff;
        break;
      case "set":
        if (b.length) b[at] = m.byte;
        break;
      case "insert":
        b.splice(at, 0, m.byte);
        break;
      case "delete":
        b.splice(at, 1);
        break;
      case "truncate":
        b = b.slice(0, at);
        break;
      case "append":
        b.push(m.byte);
        break;
    }
  }
  return Uint8Array.from(b);
}

const mutations = fc.array(
  fc.record({ op: fc.constantFrom("flip", "set", "insert", "delete", "truncate", "append"), pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  { minLength: 1, maxLength: 4 },
);

function mutated(valid: fc.Arbitrary<Frame>): fc.Arbitrary<Frame> {
  return fc.tuple(valid, mutations).map(([f, m]) => frame(`mutated(${f.kind})`, mutate(f.data, m)));
}

const randomBytes: fc.Arbitrary<Frame> = fc.uint8Array({ maxLength: 200 }).map((data) => frame("random-bytes", data));
const textFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.string({ maxLength: 60 }).map((s) => frame("text", Buffer.from(s, "utf8"), true)),
  fc.uint8Array({ maxLength: 60 }).map((data) => frame("text-binary-garbage", data, true)),
);

/** A frame of exactly `size` bytes that is a well-formed msgpack bin (only its size is wrong). */
function bigFrame(kind: string, min: number, max: number): fc.Arbitrary<Frame> {
  return fc.integer({ min, max }).map((size) => {
    const data = Buffer.alloc(size, 0x61);
    data[0] = 0xc6; // bin32 header
    data.writeUInt32BE(size - 5, 1);
    return frame(kind, data);
  });
}

// ------------------------------------------------------------------ client protocol (gateway)

const coord = fc.double({ min: -1e6, max: 1e6, noNaN: true });
const validName = fc.stringMatching(/^[A-Za-z0-9_]{3,24}$/);
const clientBodies = {
  hello: fc.record({ proto: fc.constant(1), client: fc.string({ maxLength: 64 }) }),
  ping: fc.record({ t: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
  move: fc.record({ seq: fc.nat({ max: 0xffffffff }), x: coord, y: coord }),
  travel: fc.record({ zone: fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/) }),
  register: fc.record({ name: validName, password: fc.string({ minLength: 6, maxLength: 30 }) }),
  login: fc.oneof(fc.record({ name: validName, password: fc.string({ minLength: 6, maxLength: 30 }) }), fc.record({ token: fc.string({ minLength: 10, maxLength: 80 }) })),
} as const;
type ClientType = keyof typeof clientBodies;
const clientTypes = Object.keys(clientBodies) as ClientType[];

/** A schema-valid client message (type + body). */
const validClientMsg: fc.Arbitrary<{ t: ClientType; b: unknown }> = fc.oneof(...clientTypes.map((t) => (clientBodies[t] as fc.Arbitrary<unknown>).map((b) => ({ t, b }))));
const validClient: fc.Arbitrary<Frame> = validClientMsg.map((m) => frame(`valid-${m.t}`, encodeEnvelope(m.t, m.b)));
const validPing: fc.Arbitrary<Frame> = clientBodies.ping.map((b) => frame("valid-ping", encodeEnvelope("ping", b)));
export const validHello: fc.Arbitrary<Frame> = clientBodies.hello.map((b) => frame("valid-hello", encodeEnvelope("hello", b)));

/** Envelopes of the right outer shape with wrong parts: version, type, body types, arity. */
const wrongShapes: fc.Arbitrary<Frame> = fc.oneof(
  fc.tuple(fc.constantFrom(...clientTypes), anyValue).map(([t, body]) => frame(`wrong-body(${t})`, pack([1, t, body]))),
  fc.tuple(fc.constantFrom(...clientTypes), fc.dictionary(fc.string({ maxLength: 8 }), anyValue, { maxKeys: 4 })).map(([t, body]) => frame(`wrong-fields(${t})`, pack([1, t, body]))),
  fc.tuple(fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null)), validClientMsg).map(([v, m]) => frame("wrong-version", pack([v, m.t, m.b]))),
  fc.tuple(fc.integer({ min: 2, max: 1000 }), fc.constantFrom(...clientTypes)).map(([v, t]) => frame("future-version", pack([v, t, {}]))),
  fc.tuple(fc.string({ maxLength: 20 }), anyValue).map(([t, body]) => frame("unknown-type", pack([1, t, body]))),
  fc.tuple(anyValue, anyValue, anyValue).map((v) => frame("three-anything", pack(v))),
  fc.array(anyValue, { maxLength: 5 }).map((v) => frame("wrong-arity", pack(v))),
  anyValue.map((v) => frame("not-an-envelope", pack(v))),
  fc.integer({ min: -5, max: 5 }).map((p) => frame("hello-wrong-proto", encodeEnvelope("hello", { proto: p === 1 ? 2 : p, client: "fuzz" }))),
);

const twoMessages: fc.Arbitrary<Frame> = fc.tuple(validClient, validClient).map(([a, b]) => frame("two-messages", Buffer.concat([a.data, b.data])));

/** Any frame a hostile or buggy client might send to a gateway. */
export function clientFrame(maxPayload: number): fc.Arbitrary<Frame> {
  return fc.oneof(
    { arbitrary: validPing, weight: 30 },
    { arbitrary: validClient, weight: 10 },
    { arbitrary: mutated(validClient), weight: 15 },
    { arbitrary: randomBytes, weight: 8 },
    { arbitrary: wrongShapes, weight: 15 },
    { arbitrary: twoMessages, weight: 3 },
    { arbitrary: textFrame, weight: 4 },
    { arbitrary: bigFrame("oversized", maxPayload + 1, maxPayload + 4096), weight: 1 },
    { arbitrary: fc.constant(frame("empty", new Uint8Array(0))), weight: 1 },
  );
}

/** Extra frames for logged-in connections: moves (in and out of order) and travels. */
export const playingFrame: fc.Arbitrary<Frame> = fc.oneof(
  clientBodies.move.map((b) => frame("valid-move", encodeEnvelope("move", b))),
  fc.nat({ max: 40 }).map((seq) => frame("valid-move-small-seq", encodeEnvelope("move", { seq, x: 500 + (seq % 7), y: 500 }))),
  clientBodies.travel.map((b) => frame("valid-travel", encodeEnvelope("travel", b))),
);

export interface ClientConnModel {
  state: "hello" | "auth" | "playing";
  /** Last accepted move seq on this connection (-1 before the first). */
  lastSeq: number;
}

/**
 * What the gateway must do with `f` (PROTOCOL.md §4, §7, §8): the close code, "ok", or
 * "skip" (not sent). Advances the model on "ok".
 */
export function clientVerdict(f: Frame, m: ClientConnModel, maxPayload: number): Verdict {
  if (f.text) return ErrorCatalog.PROTO_NOT_BINARY.close;
  if (f.data.byteLength > maxPayload) return 1009; // refused by the WebSocket layer while reading
  let msg;
  try {
    msg = decodeOne(ClientSchemas, f.data, maxPayload);
  } catch (e) {
    return closeOf(e);
  }
  const unexpected = ErrorCatalog.PROTO_UNEXPECTED.close;
  switch (m.state) {
    case "hello":
      if (msg.t !== "hello") return unexpected;
      if (msg.b.proto !== 1) return ErrorCatalog.PROTO_VERSION.close;
      m.state = "auth";
      return "ok";
    case "auth":
      if (msg.t === "ping") return "ok";
      if (msg.t === "login" || msg.t === "register") return "skip";
      return unexpected;
    case "playing":
      switch (msg.t) {
        case "ping":
        case "travel": // unknown zone or the current one: an `error` reply, the connection stays
          return "ok";
        case "move":
          if (msg.b.seq <= m.lastSeq) return ErrorCatalog.PROTO_REPLAY.close;
          m.lastSeq = msg.b.seq;
          return "ok";
        default:
          return unexpected;
      }
  }
}

// ------------------------------------------------------------------ link protocol (field server)

const synthUser = fc.integer({ min: SYNTHETIC_USER_BASE, max: SYNTHETIC_USER_BASE + 10_000 });
const linkOp = fc.oneof(
  { arbitrary: fc.tuple(synthUser, validClientMsg).map(([u, m]) => ["in", u, m.t, m.b]), weight: 6 },
  { arbitrary: fc.tuple(synthUser, fc.constantFrom(...clientTypes, "bogus"), anyValue).map(([u, t, b]) => ["in", u, t, b]), weight: 4 },
  { arbitrary: fc.tuple(fc.nat({ max: 0xffffffff }), fc.string({ maxLength: 30 })).map(([user, reason]) => ["detach", { user, reason }]), weight: 3 },
  { arbitrary: fc.string({ minLength: 1, maxLength: 20 }).map((gateway) => ["hello", { gateway }]), weight: 1 },
  { arbitrary: fc.tuple(fc.constantFrom("hello", "attach", "detach"), anyValue).map(([n, b]) => [n, b]), weight: 2 },
  { arbitrary: fc.record({ user: synthUser, name: fc.string({ maxLength: 10 }), zone: fc.string({ maxLength: 6 }) }, { requiredKeys: [] }).map((b) => ["attach", b]), weight: 1 },
  { arbitrary: fc.tuple(fc.string({ maxLength: 10 }), anyValue).map(([n, b]) => [n, b]), weight: 1 },
  { arbitrary: anyValue, weight: 1 },
);

const validLinkBatch: fc.Arbitrary<Frame> = fc
  .array(
    fc.oneof(
      fc.tuple(synthUser, validClientMsg).map(([u, m]) => ["in", u, m.t, m.b]),
      fc.tuple(synthUser, fc.string({ maxLength: 30 })).map(([user, reason]) => ["detach", { user, reason }]),
    ),
    { maxLength: 20 },
  )
  .map((ops) => frame("valid-batch", pack(ops)));

/** Any frame a hostile or broken gateway might send on a link. */
export function linkFrame(maxFrameBytes: number): fc.Arbitrary<Frame> {
  return fc.oneof(
    { arbitrary: validLinkBatch, weight: 25 },
    { arbitrary: fc.array(linkOp, { maxLength: 12 }).map((ops) => frame("op-batch", pack(ops))), weight: 30 },
    { arbitrary: mutated(validLinkBatch), weight: 15 },
    { arbitrary: randomBytes, weight: 8 },
    { arbitrary: anyValue.map((v) => frame("not-a-batch", pack(v))), weight: 5 },
    { arbitrary: textFrame, weight: 3 },
    { arbitrary: fc.constant(frame("too-many-ops", pack(Array.from({ length: 4097 }, () => ["detach", { user: SYNTHETIC_USER_BASE, reason: "" }])))), weight: 1 },
    { arbitrary: bigFrame("oversized", maxFrameBytes + 1, maxFrameBytes * 2), weight: 1 },
    { arbitrary: bigFrame("way-oversized", maxFrameBytes * 2 + 1, maxFrameBytes * 2 + 8192), weight: 1 },
  );
}

export const linkHello = (gateway: string): Frame => frame("link-hello", pack([["hello", { gateway }]]));

export interface LinkConnModel {
  helloSeen: boolean;
}

/** What the field server's link port must do with `f` (link-server.ts contract). */
export function linkVerdict(f: Frame, m: LinkConnModel, maxFrameBytes: number, maxOps: number): Verdict {
  if (f.text) return ErrorCatalog.PROTO_NOT_BINARY.close;
  if (f.data.byteLength > maxFrameBytes * 2) return 1009;
  let ops;
  try {
    ops = decodeLinkFrame(f.data, maxFrameBytes, maxOps).ops;
  } catch (e) {
    return closeOf(e);
  }
  const unexpected = ErrorCatalog.PROTO_UNEXPECTED.close;
  let rest = ops;
  if (!m.helloSeen) {
    if (ops[0]?.[0] !== "hello") return unexpected;
    rest = ops.slice(1);
  }
  if (rest.some((op) => op[0] === "hello")) return unexpected;
  if (rest.some((op) => op[0] === "attach")) return "skip";
  m.helloSeen = true;
  return "ok";
}
