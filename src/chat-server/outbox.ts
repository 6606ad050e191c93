/**
 * Grouped fan-out (DESIGN §1 "group broadcasts", §7): what a chat server sends each gateway
 * per flush. Pure: no sockets, no timers.
 *
 * grouped: every message posted to a channel during one flush window is kept once (already
 *   encoded); at `drain()` each gateway link gets ONE `deliver` op per channel holding those
 *   messages and the list of that gateway's members of the channel (as they are at flush
 *   time). The gateway concatenates the messages once and sends that frame to each user.
 *   Cost per flush: O(channels × gateways) ops + one recipient id per member.
 * naive (benchmark baseline): one `deliver` op per message per recipient, so the gateway
 *   sends one client frame per message per recipient.
 * Messages for one user (history, errors, whisper echoes) are grouped per (link, user).
 */
import type { ChatServerOp } from "./protocol.js";

export type LinkId = number;

/** Members of one channel, by gateway link. */
export type MembersByLink = ReadonlyMap<LinkId, ReadonlySet<number>>;

export class Outbox {
  private readonly channels = new Map<string, { msgs: Uint8Array[]; members: () => MembersByLink | undefined }>();
  private readonly direct = new Map<LinkId, Map<number, Uint8Array[]>>();
  private readonly naive = new Map<LinkId, ChatServerOp[]>();
  private count = 0;

  constructor(readonly mode: "grouped" | "naive" = "grouped") {}

  /** Messages waiting for the next drain. */
  get pending(): number {
    return this.count;
  }

  /** `msg` (an encoded client envelope) to every member of `ch`; `members` is read at drain time in grouped mode. */
  toChannel(ch: string, msg: Uint8Array, members: () => MembersByLink | undefined): void {
    this.count++;
    if (this.mode === "naive") {
      for (const [link, users] of members() ?? []) {
        let ops = this.naive.get(link);
        if (!ops) this.naive.set(link, (ops = []));
        for (const u of users) ops.push(["deliver", { msgs: [msg], to: [u] }]);
      }
      return;
    }
    const e = this.channels.get(ch);
    if (e) e.msgs.push(msg);
    else this.channels.set(ch, { msgs: [msg], members });
  }

  /** `msg` to one user on one link. */
  toUser(link: LinkId, user: number, msg: Uint8Array): void {
    this.count++;
    let byUser = this.direct.get(link);
    if (!byUser) this.direct.set(link, (byUser = new Map()));
    const msgs = byUser.get(user);
    if (msgs) msgs.push(msg);
    else byUser.set(user, [msg]);
  }

  /** Forget everything queued for a link (it closed). */
  dropLink(link: LinkId): void {
    this.direct.delete(link);
    this.naive.delete(link);
  }

  /** The ops of this flush, per link; the outbox is empty afterwards. */
  drain(): Map<LinkId, ChatServerOp[]> {
    const out = new Map<LinkId, ChatServerOp[]>(this.naive);
    this.naive.clear();
    const opsOf = (link: LinkId): ChatServerOp[] => {
      let ops = out.get(link);
      if (!ops) out.set(link, (ops = []));
      return ops;
    };
    for (const { msgs, members } of this.channels.values()) {
      for (const [link, users] of members() ?? []) {
        if (users.size > 0) opsOf(link).push(["deliver", { msgs, to: [...users] }]);
      }
    }
    this.channels.clear();
    for (const [link, byUser] of this.direct) {
      const ops = opsOf(link);
      for (const [user, msgs] of byUser) ops.push(["deliver", { msgs, to: [user] }]);
    }
    this.direct.clear();
    this.count = 0;
    return out;
  }
}
