/**
 * Message schemas of the client protocol (docs/PROTOCOL.md is the prose version).
 *
 * Client → server messages are validated with these zod schemas by the gateway before any
 * logic sees them. Server → client messages are typed here too; the SDK validates them
 * with the same tables so a broken server is detected at the client.
 */
import { z } from "zod";
import { MAX_TRADE_CURRENCY, MAX_TRADE_ITEMS } from "../../game/trade-rules.js";

const name = z.string().min(3).max(24).regex(/^[A-Za-z0-9_]+$/, "letters, digits and _ only");
const password = z.string().min(6).max(128);
const coord = z.number().finite().min(-1e6).max(1e6);
const u32 = z.number().int().min(0).max(0xffffffff);

/** Wire cap of a chat text (a longer one is a protocol violation); the configured `chat.maxLength` is checked below it. */
export const CHAT_WIRE_MAX_CHARS = 1024;
const chatText = z.string().min(1).max(CHAT_WIRE_MAX_CHARS);
/** Party / guild channel ids a client may name. */
export const CHAT_GROUP_CHANNEL = /^(party|guild):[A-Za-z0-9_-]{1,32}$/;
/** Channels a client may post to (`zone` = its current zone). */
export const CHAT_POST_CHANNEL = /^(world|zone|(party|guild):[A-Za-z0-9_-]{1,32})$/;
/** One chat message as delivered: `ch` is `world`, `zone:<zone>`, `party:<id>`, `guild:<id>` or `whisper`; system messages have `from: ""`, `uid: 0`. */
const chatMessage = z.strictObject({
  ch: z.string(),
  from: z.string(),
  uid: z.number().int().min(0),
  text: z.string(),
  /** Server time (ms since the epoch). */
  ts: z.number(),
  /** Whispers: the recipient's name (set on the sender's own copy). */
  to: z.string().optional(),
});

/** One item as clients see it (ids are globally unique). */
const itemView = z.strictObject({ id: z.number().int().positive(), kind: z.string(), qty: z.number().int().positive() });

/** One side of a trade: item ids (globally unique, at most 64) and a currency amount. */
const tradeOffer = z.strictObject({
  items: z.array(z.number().int().positive().max(0xffffffff)).max(MAX_TRADE_ITEMS),
  currency: z.number().int().min(0).max(MAX_TRADE_CURRENCY),
});

/** Client → server. */
/** Analytics event names and the props bound (client message `analytics`). */
export const ANALYTICS_NAME = /^[a-z][a-z0-9_.-]{0,47}$/;
export const ANALYTICS_MAX_PROPS = 16;

export const ClientSchemas = {
  /** First message on every connection. */
  hello: z.strictObject({ proto: z.number().int(), client: z.string().max(64) }),
  register: z.strictObject({ name, password }),
  login: z.union([
    z.strictObject({ name, password }),
    z.strictObject({ token: z.string().min(10).max(1024) }),
  ]),
  /** Walk toward (x, y); `seq` strictly increases per session. */
  move: z.strictObject({ seq: u32, x: coord, y: coord }),
  ping: z.strictObject({ t: z.number().finite() }),
  /** Leave the current zone for another one (the connection stays open). */
  travel: z.strictObject({ zone: z.string().min(1).max(32).regex(/^[A-Za-z0-9_-]+$/) }),
  /** Post to a chat channel: `world`, `zone` (the user's current zone), `party:<id>`, `guild:<id>` (docs/CHAT.md). */
  chat: z.strictObject({ ch: z.string().regex(CHAT_POST_CHANNEL, "world, zone, party:<id> or guild:<id>"), text: chatText }),
  /** Private message to the online user `to` (by name), on any gateway. */
  whisper: z.strictObject({ to: name, text: chatText }),
  /** Join / leave a party or guild chat channel (world, zone and the whisper inbox are automatic). */
  chatJoin: z.strictObject({ ch: z.string().regex(CHAT_GROUP_CHANNEL, "party:<id> or guild:<id>") }),
  chatLeave: z.strictObject({ ch: z.string().regex(CHAT_GROUP_CHANNEL, "party:<id> or guild:<id>") }),
  /**
   * Enter a dungeon as a party (issue #7, docs/PROTOCOL.md §Dungeons): every member sends the
   * same `kind` and member list (user ids, including itself, 1-4); when all have asked within
   * 15 s the field server opens an instance and moves them there together. Progress:
   * `dungeonParty`; refusal: `error RIFT_DUNGEON_PARTY` / `RIFT_DUNGEON_UNAVAILABLE`.
   */
  dungeonEnter: z.strictObject({ kind: z.string().min(1).max(32).regex(/^[a-z0-9_-]+$/), party: z.array(u32).min(1).max(4) }),
  /** Dungeon: attack monster `target` (must be in range; cooldown applies). */
  attack: z.strictObject({ target: u32 }),
  /** Dungeon: leave the instance for the field zone the party came from. */
  leaveDungeon: z.strictObject({}),
  /** Your items and currency (answered with `inventory`). */
  inventory: z.strictObject({}),
  /** The shop catalogue (feature `shop`): answered with `shop`, or `error RIFT_FEATURE_DISABLED` (re: "shopList") when the shop is off. */
  shopList: z.strictObject({}),
  /**
   * Propose or accept a trade with user `with` (issue #7, docs/PROTOCOL.md §Trades): you hand
   * over `give` and receive `get`. The trade runs when the other user's proposal mirrors yours
   * (its give = your get, its get = your give; item lists as sets) within 60 s. Answers:
   * `tradeStatus` waiting (you) / offered (the other), then committed / aborted / inDoubt (both);
   * `error RIFT_TRADE_REJECTED` for a malformed proposal. A new proposal replaces your previous one.
   */
  trade: z.strictObject({ with: u32, give: tradeOffer, get: tradeOffer }),
  /** Withdraw your open trade proposal to `with` (both get `tradeStatus cancelled`). */
  tradeCancel: z.strictObject({ with: u32 }),
  /**
   * A client analytics event (issue #9; after login). `id` is the client's number for the
   * acknowledgement `analyticsAck {id}` (sent once the event is queued durably) or
   * `error RIFT_ANALYTICS_UNAVAILABLE` (re: "analytics"). At most 16 props; the whole message
   * stays within the frame limit.
   */
  analytics: z.strictObject({
    id: u32,
    name: z.string().regex(ANALYTICS_NAME, "lower-case [a-z0-9_.-], starting with a letter, at most 48 characters"),
    props: z
      .record(z.string().min(1).max(32), z.union([z.string().max(256), z.number().finite(), z.boolean(), z.null()]))
      .refine((p) => Object.keys(p).length <= ANALYTICS_MAX_PROPS, `at most ${ANALYTICS_MAX_PROPS} props`),
    /** Client clock (ms since the epoch), optional. */
    at: z.number().finite().optional(),
  }),
} as const;

export type ClientSchemaTable = typeof ClientSchemas;

/** Server → client. */
export const ServerSchemas = {
  welcome: z.strictObject({ proto: z.number().int(), server: z.string(), features: z.array(z.string()) }),
  registered: z.strictObject({ userId: z.number().int() }),
  session: z.strictObject({ userId: z.number().int(), name: z.string(), token: z.string() }),
  /** The user was placed in a zone; `self` is its own entity. */
  enter: z.strictObject({
    zone: z.string(),
    /** Channel of the zone (1 = the first; more open when a zone is full). */
    channel: u32.optional(),
    server: z.string(),
    self: z.strictObject({ id: u32, x: z.number(), y: z.number(), seq: u32, /** Hit points (game servers send it; optional for older servers). */ hp: z.number().optional() }),
    world: z.strictObject({ size: z.number(), cell: z.number() }),
  }),
  /** Full view of newly watched cells / entities that left the view (see PROTOCOL.md). */
  aoi: z.strictObject({ add: z.instanceof(Uint8Array), remove: z.array(u32) }),
  /** Change list of one AOI cell for one tick (binary records, see PROTOCOL.md). */
  cell: z.strictObject({ c: u32, tick: u32, m: z.instanceof(Uint8Array), g: z.array(u32) }),
  pong: z.strictObject({ t: z.number(), s: z.number() }),
  /** A non-fatal error reply (fatal errors close the socket with the catalog close code). */
  error: z.strictObject({ code: z.string(), message: z.string(), /** The request type this answers (when not a login/register). */ re: z.string().optional() }),
  /** The user moved to another server without reconnecting. */
  relocated: z.strictObject({ zone: z.string(), server: z.string() }),
  /** A chat message (docs/CHAT.md). */
  chat: chatMessage,
  /** The last messages of a channel just joined (oldest first). */
  chatHistory: z.strictObject({ ch: z.string(), msgs: z.array(chatMessage) }),
  /** A chat message or join was refused (catalog code, e.g. RIFT_CHAT_MUTED); the connection stays open. */
  chatError: z.strictObject({ code: z.string(), message: z.string(), ch: z.string().optional() }),
  /** A system notice: `announce` (operators), `rehomed` (a channel moved to another chat server after a failure). */
  chatNotice: z.strictObject({ kind: z.enum(["announce", "rehomed"]), text: z.string(), ch: z.string().optional() }),
  /** The features enabled for this user now (after login, and whenever switches/flags change it). */
  features: z.strictObject({ features: z.array(z.string()) }),
  /** The shop catalogue (answer to `shopList`). */
  shop: z.strictObject({ items: z.array(z.strictObject({ id: z.string(), name: z.string(), price: z.number().int().min(0) })) }),
  /** Party forming for a dungeon: who asked so far (`ready`) out of `party`. */
  dungeonParty: z.strictObject({ kind: z.string(), party: z.array(u32), ready: z.array(u32) }),
  /** Dungeon state (sent on entry and whenever monsters or party hp change). */
  dungeon: z.strictObject({
    instance: z.string(),
    kind: z.string(),
    monsters: z.array(z.strictObject({ id: u32, name: z.string(), hp: z.number(), maxHp: z.number(), x: z.number(), y: z.number() })),
    party: z.array(z.strictObject({ id: u32, hp: z.number() })),
    cleared: z.boolean(),
  }),
  /** The reward drop of a cleared dungeon, already in your inventory: new items, currency granted, new balance and hp. */
  reward: z.strictObject({ items: z.array(itemView), currency: z.number().int(), balance: z.number().int(), hp: z.number() }),
  /** Answer to `inventory`. */
  inventory: z.strictObject({ items: z.array(itemView), currency: z.number().int() }),
  /**
   * Progress of a trade with user `with`; `give`/`get` from the RECEIVER's point of view:
   * `waiting` (your proposal is stored), `offered` (`with` proposes this to you; answer with the
   * mirrored `trade` to accept), `committed` (done; `trade` = trade id), `aborted` (nothing
   * changed; `reason` = catalog code and message), `inDoubt` (the outcome is not known yet; the
   * recovery task settles it; re-read `inventory`), `cancelled` (withdrawn or expired).
   */
  tradeStatus: z.strictObject({
    with: u32,
    state: z.enum(["waiting", "offered", "committed", "aborted", "inDoubt", "cancelled"]),
    give: tradeOffer,
    get: tradeOffer,
    reason: z.string().optional(),
    trade: z.string().optional(),
  }),
  /** An `analytics` event with this id is queued durably (Redis Stream); it will reach the analytics table. */
  analyticsAck: z.strictObject({ id: u32 }),
} as const;

export type ServerSchemaTable = typeof ServerSchemas;

export type ClientMessage = { [K in keyof ClientSchemaTable]: { t: K; b: z.infer<ClientSchemaTable[K]> } }[keyof ClientSchemaTable];
export type ServerMessage = { [K in keyof ServerSchemaTable]: { t: K; b: z.infer<ServerSchemaTable[K]> } }[keyof ServerSchemaTable];
export type ServerBody<K extends keyof ServerSchemaTable> = z.infer<ServerSchemaTable[K]>;
export type ClientBody<K extends keyof ClientSchemaTable> = z.infer<ClientSchemaTable[K]>;

/**
 * Entity record layout inside `cell.m` and `aoi.add` (little-endian, 16 bytes each):
 *   u32 id | f32 x | f32 y | u32 seq (last input sequence applied for that entity)
 */
export const ENTITY_RECORD_BYTES = 16;
