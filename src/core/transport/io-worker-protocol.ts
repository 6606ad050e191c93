/**
 * Messages between the logic (main) thread and the IO units (worker_threads, or the main
 * thread itself when `field.ioWorkers` is 0). Structured-clone friendly: plain objects,
 * arrays, numbers, strings and Uint8Arrays only.
 *
 * Division of labour (DESIGN §7): IO units accept gateway links, decode and validate link
 * frames, and post validated ops to the logic thread; the logic thread runs the rules and
 * posts one `tick` command per IO unit per tick holding the raw per-cell change lists and,
 * per link, which cells / subscriptions / direct messages / control ops it needs. The IO unit
 * does ALL the encoding (msgpack envelopes and link frames): each cell envelope once per tick
 * per IO unit, however many links and users need it, and one link frame per link per tick.
 */
import type { ServerBody } from "../protocol/messages.js";
import type { GatewayOp } from "./link-protocol.js";

/**
 * Link ids are unique across the IO units of a process: `link % IO_UNIT_STRIDE` is the
 * index of the IO unit that owns the link.
 */
export type LinkId = number;
export const IO_UNIT_STRIDE = 32;

export function ioUnitOfLink(link: LinkId): number {
  return link % IO_UNIT_STRIDE;
}

/** Settings of one IO unit. */
export interface IoUnitConfig {
  index: number;
  host: string;
  /** 0 = ephemeral. */
  port: number;
  /** Link frames larger than this close the link with PROTO_TOO_LARGE. */
  maxFrameBytes: number;
  /** Close a link whose ws send buffer exceeds this (gateway not reading): SEND_QUEUE_FULL. */
  sendQueueMaxBytes: number;
  /** Maximum ops in one gateway → server frame. */
  maxOpsPerFrame: number;
  /** Ping interval; a link that missed a whole interval without a pong is terminated. */
  heartbeatMs: number;
  logLevel: string;
  role: string;
  nodeId: string;
}

// ---------------------------------------------------------------- IO unit → logic thread

export type IoEvent =
  | { k: "listening"; unit: number; port: number }
  /** A gateway link completed its `hello`. */
  | { k: "link-open"; link: LinkId; gateway: string }
  /** Validated ops from one link frame, in order (never `hello`). */
  | { k: "ops"; link: LinkId; ops: GatewayOp[] }
  /**
   * A client message inside a valid link frame failed validation: the op was dropped; the
   * logic thread kicks that user (it is the one place that kicks, and it must forget the
   * user: gateways send no `detach` after a kick).
   */
  | { k: "fault"; link: LinkId; user: number; key: "PROTO_SCHEMA" | "PROTO_UNKNOWN_TYPE"; detail: string }
  /** A link that had completed `hello` is gone (either side closed it). */
  | { k: "link-closed"; link: LinkId; gateway: string; code: number; reason: string }
  /** Per-unit counters since the previous stats event + current send-queue sizes. */
  | { k: "stats"; unit: number; links: LinkStat[]; badFrames: Record<string, number>; badMessages: Record<string, number>; framesOut: number; bytesOut: number };

export interface LinkStat {
  link: LinkId;
  gateway: string;
  /** ws.bufferedAmount: bytes queued on this link and not yet handed to the kernel. */
  buffered: number;
}

// ---------------------------------------------------------------- logic thread → IO unit

/** One cell's change list for one tick (records per ENTITY_RECORD_BYTES). */
export interface CellOut {
  c: number;
  m: Uint8Array;
  g: number[];
}

/** A direct message for one user, encoded by the IO unit as `[version, type, body]`. */
export type DirectMsg = [type: string, body: unknown];

/** Control ops; the IO unit turns `attached.enter` into an encoded `enter` envelope. */
export type CtrlOut =
  | ["attached", { user: number; enter: ServerBody<"enter"> }]
  | ["rejected", { user: number; code: string }]
  | ["kick", { user: number; key: string; reason?: string }]
  | ["transfer", { user: number; zone: string }];

export interface LinkTickOut {
  link: LinkId;
  /** Sent before the `tick` op in the same frame. */
  ctrl: CtrlOut[];
  /** Ids (from the command's `cells`) this link's users watch. */
  cells: number[];
  subs: [user: number, cells: number[]][];
  direct: [user: number, msgs: DirectMsg[]][];
}

export type IoCommand =
  /** One tick of output. Links with nothing to send are omitted. */
  | { k: "tick"; tick: number; cells: CellOut[]; links: LinkTickOut[] }
  /** Control ops outside a tick (e.g. during shutdown, when the loop is stopped). */
  | { k: "ctrl"; link: LinkId; ctrl: CtrlOut[] }
  | { k: "close-link"; link: LinkId; code: number; reason: string }
  /** Close every link and stop listening; the unit answers with link-closed events. */
  | { k: "close-all"; code: number; reason: string };
