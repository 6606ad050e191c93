/**
 * The gateway ↔ chat-server link protocol (internal; docs/CHAT.md §Link, docs/PROTOCOL.md).
 *
 * One WebSocket per (gateway, chat server) pair; binary msgpack frames, each an ARRAY of ops
 * (batched: gateway → chat every few ms, chat → gateway once per `chat.flushMs`). The gateway
 * has authenticated the users and authorised the channels; the chat server trusts the user
 * ids and names a gateway sends but checks every op's shape.
 */
import { pack, unpack } from "../core/protocol/codec.js";

/** Gateway → chat server. */
export type ChatGatewayOp =
  /** First op on a link: who the gateway is. */
  | ["hello", { gateway: string }]
  /** Add the user to the channel; `quiet` = no history (a re-join after the channel moved). */
  | ["join", { user: number; name: string; ch: string; quiet?: boolean }]
  | ["leave", { user: number; ch: string }]
  /** Post `text` to `ch` as `user`; `to` = the display name of a whisper's recipient (ch is its inbox). */
  | ["say", { user: number; name: string; ch: string; text: string; to?: string }];

/**
 * Chat server → gateway: ONE op per (channel, gateway, flush) in grouped mode — `msgs` are
 * pre-encoded client envelopes (chat, chatHistory, chatError, chatNotice), `to` the users of
 * this gateway who get them. The gateway concatenates `msgs` once and sends that one frame to
 * every user in `to` through the user's bounded send queue.
 */
export type ChatServerOp = ["deliver", { msgs: Uint8Array[]; to: number[] }];

const isUser = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max: number): v is string => typeof v === "string" && v.length > 0 && v.length <= max;

/** Channel ids on the link (wider than what clients may name: also `zone:` and `w:`). */
export const LINK_CHANNEL = /^(world|zone:[A-Za-z0-9_#-]{1,40}|(party|guild):[A-Za-z0-9_-]{1,32}|w:[a-z0-9_]{1,24})$/;

const isCh = (v: unknown): v is string => typeof v === "string" && LINK_CHANNEL.test(v);

function checkGatewayOp(op: unknown, maxText: number): op is ChatGatewayOp {
  if (!Array.isArray(op) || op.length !== 2 || !isObj(op[1])) return false;
  const b = op[1];
  switch (op[0]) {
    case "hello":
      return isStr(b.gateway, 128);
    case "join":
      return isUser(b.user) && isStr(b.name, 64) && isCh(b.ch) && (b.quiet === undefined || typeof b.quiet === "boolean");
    case "leave":
      return isUser(b.user) && isCh(b.ch);
    case "say":
      return isUser(b.user) && isStr(b.name, 64) && isCh(b.ch) && isStr(b.text, maxText) && (b.to === undefined || isStr(b.to, 64));
    default:
      return false;
  }
}

/** Decode + check a gateway → chat frame. Throws Error for a frame that is not an array of ops; bad ops are counted and dropped. */
export function parseGatewayFrame(bytes: Uint8Array, maxText: number): { ops: ChatGatewayOp[]; invalid: number } {
  const v = unpack(bytes);
  if (!Array.isArray(v)) throw new Error("chat link frame must be an array of ops");
  const ops: ChatGatewayOp[] = [];
  let invalid = 0;
  for (const op of v as unknown[]) {
    if (checkGatewayOp(op, maxText)) ops.push(op);
    else invalid++;
  }
  return { ops, invalid };
}

function checkServerOp(op: unknown): op is ChatServerOp {
  if (!Array.isArray(op) || op.length !== 2 || op[0] !== "deliver" || !isObj(op[1])) return false;
  const { msgs, to } = op[1];
  if (!Array.isArray(msgs) || !Array.isArray(to)) return false;
  for (const m of msgs) if (!(m instanceof Uint8Array)) return false;
  for (const u of to) if (!isUser(u)) return false;
  return true;
}

/** Decode + check a chat → gateway frame; bad ops are counted and dropped. */
export function parseServerFrame(bytes: Uint8Array): { ops: ChatServerOp[]; invalid: number } {
  let v: unknown;
  try {
    v = unpack(bytes);
  } catch {
    return { ops: [], invalid: 1 };
  }
  if (!Array.isArray(v)) return { ops: [], invalid: 1 };
  const ops: ChatServerOp[] = [];
  let invalid = 0;
  for (const op of v as unknown[]) {
    if (checkServerOp(op)) ops.push(op);
    else invalid++;
  }
  return { ops, invalid };
}

export function encodeOps(ops: readonly (ChatGatewayOp | ChatServerOp)[]): Buffer {
  return pack(ops);
}
