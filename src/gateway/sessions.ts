/**
 * Which connection holds each logged-in user on this gateway. At most one: a second login
 * of the same user takes the slot and the caller closes the previous connection with
 * SESSION_REPLACED. Only the current holder's `release` counts (a replaced connection
 * closing later must not detach the user from its new connection).
 */
export class SessionHub<C> {
  private readonly byUser = new Map<number, C>();

  /** Bind user → conn; returns the connection it replaced, if any. */
  claim(user: number, conn: C): C | undefined {
    const prev = this.byUser.get(user);
    this.byUser.set(user, conn);
    return prev === conn ? undefined : prev;
  }

  /** Unbind if `conn` is the holder; true when it was. */
  release(user: number, conn: C): boolean {
    if (this.byUser.get(user) !== conn) return false;
    this.byUser.delete(user);
    return true;
  }

  holder(user: number): C | undefined {
    return this.byUser.get(user);
  }

  get size(): number {
    return this.byUser.size;
  }
}
