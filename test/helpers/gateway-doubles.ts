/** A client socket double for gateway connection unit tests: records frames, decodes them on demand. */
import { unpackStream } from "../../src/core/protocol/codec.js";
import type { ClientSocket } from "../../src/gateway/types.js";

export class FakeClientSocket implements ClientSocket {
  frames: Uint8Array[] = [];
  bufferedAmount = 0;
  closed: { code: number; reason: string } | undefined;
  send(d: Uint8Array, cb: (err?: Error) => void): void {
    this.frames.push(d);
    cb();
  }
  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
  }
  terminate(): void {}
  /** Every message sent so far as [type, body]. */
  messages(): [string, any][] {
    return this.frames.flatMap((f) => unpackStream(f) as [number, string, unknown][]).map((e) => [e[1], e[2]]);
  }
}
