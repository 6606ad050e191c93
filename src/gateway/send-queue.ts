/**
 * Bounded per-client send queue accounting.
 *
 * A frame handed to the socket stays "queued" until the socket reports it written to the
 * kernel (the write callback). Queued bytes are the larger of our own count and the socket's
 * `bufferedAmount`. When sending one more frame would pass `maxMessages` or `maxBytes`, the
 * frame is NOT sent, `onOverflow` is called once and every later send is refused: the owner
 * closes the connection with SEND_QUEUE_FULL. A client that stops reading therefore costs at
 * most `maxBytes` of gateway memory, and never slows other clients.
 */

/** The part of a socket the queue needs (ws.WebSocket fits). */
export interface SendSink {
  send(data: Uint8Array, cb: (err?: Error) => void): void;
  readonly bufferedAmount: number;
}

export interface SendLimits {
  maxMessages: number;
  maxBytes: number;
}

export class BoundedSender {
  private messages = 0;
  private bytes = 0;
  private overflowed = false;

  constructor(
    private readonly sink: SendSink,
    private readonly limits: SendLimits,
    private readonly onOverflow: (queuedBytes: number, queuedMessages: number) => void,
  ) {}

  /** Bytes waiting to be written (max of own accounting and the socket's buffer). */
  get queuedBytes(): number {
    return Math.max(this.bytes, this.sink.bufferedAmount);
  }

  get queuedMessages(): number {
    return this.messages;
  }

  get full(): boolean {
    return this.overflowed;
  }

  /** Send one frame; false when refused (queue full now or earlier). */
  send(frame: Uint8Array): boolean {
    if (this.overflowed) return false;
    const size = frame.byteLength;
    if (this.messages + 1 > this.limits.maxMessages || this.queuedBytes + size > this.limits.maxBytes) {
      this.overflowed = true;
      this.onOverflow(this.queuedBytes, this.messages);
      return false;
    }
    this.messages++;
    this.bytes += size;
    let done = false;
    this.sink.send(frame, () => {
      if (done) return;
      done = true;
      this.messages--;
      this.bytes -= size;
    });
    return true;
  }
}
