/**
 * A fake SceneContext for unit tests of scene roles (dungeon runs, dungeon entry): sessions and
 * one real World per channel/instance key, with every output recorded instead of sent.
 *
 * It mimics what the scene host (src/core/scene/scene-host.ts) does around a role:
 * - `attach` adds the session, joins the key's world (created on first use), then runs
 *   `hooks.entered` — like a completed attach;
 * - `travel` (and `detach`) run `hooks.leaving` first, then remove the user from its world and
 *   the session table — like `removeSession`; a travel is recorded with its target;
 * - `error` records the catalog key and code; `setHp` records only real changes, like the host;
 * - `now` is a plain field the test drives.
 * Hooks are optional: set `hooks` to the role's hooks to have them run on attach/leave.
 */
import { ErrorCatalog, type ErrorKey } from "../../src/core/errors.js";
import type { SceneContext, SceneHooks } from "../../src/core/scene/handlers.js";
import type { Session } from "../../src/core/scene/sessions.js";
import type { ServerBody, ServerSchemaTable } from "../../src/core/protocol/messages.js";
import type { FieldRules } from "../../src/game/rules.js";
import { World } from "../../src/game/world.js";

export const TEST_RULES: FieldRules = { worldSize: 1000, cellSize: 100, maxSpeed: 5, movesPerSec: 10, burstMoves: 3 };

export interface Reply {
  user: number;
  type: string;
  body: unknown;
}
export interface ErrorReply {
  user: number;
  key: ErrorKey;
  code: string;
  detail: string | undefined;
}
export interface Travel {
  user: number;
  from: string;
  zone: string;
  pos: { x: number; y: number } | undefined;
}

export class FakeScene implements SceneContext {
  now = 0;
  readonly nodeId: string;
  hooks: SceneHooks | undefined;
  readonly sessions = new Map<number, Session>();
  readonly worlds = new Map<string, World>();
  readonly replies: Reply[] = [];
  readonly errors: ErrorReply[] = [];
  readonly travels: Travel[] = [];
  readonly hpChanges: { user: number; hp: number }[] = [];
  readonly dirtied: number[] = [];
  readonly droppedWorlds: string[] = [];
  readonly epochs = new Map<number, number>();
  private readonly rules: FieldRules;
  private nextLink = 1;

  constructor(opts: { nodeId?: string; hooks?: SceneHooks; rules?: FieldRules } = {}) {
    this.nodeId = opts.nodeId ?? "test-node";
    this.hooks = opts.hooks;
    this.rules = opts.rules ?? TEST_RULES;
  }

  // ------------------------------------------------------------ test drivers

  /** A user attached at `zone` (world joined at `pos`), then `hooks.entered`. */
  attach(user: number, zone: string, opts: { x?: number; y?: number; hp?: number } = {}): Session {
    const s: Session = { user, name: `u${user}`, zone, link: this.nextLink++, hp: opts.hp ?? 100, cells: [] };
    this.sessions.set(user, s);
    this.worldOf(zone).join(user, opts.x ?? 0, opts.y ?? 0, this.now);
    this.hooks?.entered?.(this, s);
    return s;
  }

  /** The user leaves this server (detach): `hooks.leaving`, then gone from world and sessions. */
  detach(user: number): void {
    const s = this.sessions.get(user);
    if (s) this.remove(s);
  }

  /** Run `hooks.tick` at time `now` (when given). */
  tick(now?: number): void {
    if (now !== undefined) this.now = now;
    this.hooks?.tick?.(this);
  }

  worldOf(key: string): World {
    let w = this.worlds.get(key);
    if (!w) this.worlds.set(key, (w = new World(this.rules)));
    return w;
  }

  repliesOf(user: number, type?: string): Reply[] {
    return this.replies.filter((r) => r.user === user && (type === undefined || r.type === type));
  }

  errorsOf(user: number): ErrorReply[] {
    return this.errors.filter((e) => e.user === user);
  }

  travelsOf(user: number): Travel[] {
    return this.travels.filter((t) => t.user === user);
  }

  // ------------------------------------------------------------ SceneContext

  world(zone: string): World | undefined {
    return this.worlds.get(zone);
  }

  reply<K extends keyof ServerSchemaTable & string>(s: Session, type: K, body: ServerBody<K>): void {
    this.replies.push({ user: s.user, type, body });
  }

  error(s: Session, key: ErrorKey, detail?: string): void {
    this.errors.push({ user: s.user, key, code: ErrorCatalog[key].code, detail });
  }

  dropped(): void {}

  dirty(s: Session): void {
    this.dirtied.push(s.user);
  }

  travel(s: Session, zone: string, pos?: { x: number; y: number }): void {
    this.travels.push({ user: s.user, from: s.zone, zone, pos: pos ? { ...pos } : undefined });
    this.remove(s);
  }

  zoneExists(): boolean {
    return true;
  }

  session(user: number): Session | undefined {
    return this.sessions.get(user);
  }

  sessionsIn(key: string): Session[] {
    return [...this.sessions.values()].filter((s) => s.zone === key);
  }

  setHp(s: Session, hp: number): void {
    if (s.hp === hp) return;
    s.hp = hp;
    this.hpChanges.push({ user: s.user, hp });
  }

  epochOf(user: number): number | undefined {
    return this.epochs.get(user);
  }

  dropWorld(key: string): boolean {
    const w = this.worlds.get(key);
    if (w && w.size > 0) return false;
    this.worlds.delete(key);
    this.droppedWorlds.push(key);
    return true;
  }

  private remove(s: Session): void {
    this.hooks?.leaving?.(this, s);
    this.worlds.get(s.zone)?.leave(s.user);
    this.sessions.delete(s.user);
  }
}
