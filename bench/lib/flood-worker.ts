/** Entry of the flood worker thread (see flood-protocol.ts). */
import { parentPort, workerData } from "node:worker_threads";
import WebSocket from "ws";
import { RiftClient } from "../../src/client/rift-client.js";
import { nodeTransport } from "../../src/client/node-transport.js";
import type { ClientTransport, TransportFactory } from "../../src/client/transport.js";
import { encodeEnvelope } from "../../src/core/protocol/codec.js";
import { HIGH_WATER, type FloodConfig, type FromFlood, type ToFlood } from "./flood-protocol.js";

interface Sender {
  buffered(): number;
  /** Send one move with the next seq. */
  move(): void;
  open(): boolean;
}

const port = parentPort!;
const cfg = workerData as FloodConfig;
const post = (m: FromFlood) => port.postMessage(m);
let sent = 0;
let closed = 0;
let running = false;
/** Bumped on every go/pause: a pump of an older generation stops. */
let generation = 0;

async function rawSender(): Promise<Sender> {
  const ws = new WebSocket(cfg.url, { perMessageDeflate: false });
  ws.on("error", () => {});
  ws.on("close", () => closed++);
  await new Promise<void>((res, rej) => {
    ws.once("open", () => res());
    ws.once("error", rej);
  });
  let seq = 0;
  return {
    buffered: () => ws.bufferedAmount,
    move: () => {
      seq++;
      ws.send(encodeEnvelope("move", { seq, x: 500 + (seq % 7), y: 500 - (seq % 5) }));
    },
    open: () => ws.readyState === WebSocket.OPEN,
  };
}

async function gatewaySender(i: number): Promise<Sender> {
  const acc = cfg.accounts?.[i];
  if (!acc) throw new Error(`no account for connection ${i}`);
  let transport: ClientTransport | undefined;
  const base = nodeTransport();
  const capture: TransportFactory = async (url, h) => (transport = await base(url, h));
  const c = await RiftClient.connect(cfg.url, { transport: capture, trackEntities: false, clientName: "rift-bench-flood" });
  c.on("close", () => closed++);
  await c.hello();
  await c.login(acc.name, acc.password);
  const enter = await c.waitForEnter();
  let n = 0;
  return {
    buffered: () => transport?.bufferedAmount ?? 0,
    move: () => {
      n++;
      c.move(enter.self.x + (n % 7), enter.self.y - (n % 5));
    },
    open: () => c.closed === undefined,
  };
}

function pumpUnpaced(senders: Sender[], gen: number): void {
  if (!running || gen !== generation) return;
  for (const s of senders) {
    if (!s.open()) continue;
    // a burst per connection per turn, then yield to the event loop (socket writes, messages).
    // One frame per write, like real clients: the receiver pays a read per frame unless it
    // falls behind and the kernel coalesces frames.
    for (let k = 0; k < 64 && s.buffered() < HIGH_WATER; k++) {
      s.move();
      sent++;
    }
  }
  setImmediate(() => pumpUnpaced(senders, gen));
}

let next = 0;

function startPaced(senders: Sender[], ratePerSec: number, gen: number): void {
  const t0 = performance.now();
  const sent0 = sent;
  const timer = setInterval(() => {
    if (!running || gen !== generation) return clearInterval(timer);
    let due = Math.floor(((performance.now() - t0) / 1000) * ratePerSec) - (sent - sent0);
    let idle = 0;
    while (due > 0 && idle < senders.length) {
      const s = senders[next]!;
      next = (next + 1) % senders.length;
      if (!s.open() || s.buffered() >= HIGH_WATER) {
        idle++;
        continue;
      }
      idle = 0;
      s.move();
      sent++;
      due--;
    }
  }, 5);
}
async function main(): Promise<void> {
  const senders: Sender[] = [];
  try {
    // open in small parallel batches (bounded: logins cost the gateway a scrypt each)
    for (let i = 0; i < cfg.conns; i += 8) {
      const batch = Array.from({ length: Math.min(8, cfg.conns - i) }, (_, j) => (cfg.mode === "raw" ? rawSender() : gatewaySender(i + j)));
      senders.push(...(await Promise.all(batch)));
    }
  } catch (e) {
    post({ k: "failed", error: e instanceof Error ? e.message : String(e) });
    return;
  }
  port.on("message", (m: ToFlood) => {
    if (m.k === "pause") {
      running = false;
      generation++;
    } else if (m.k === "go") {
      if (running) return;
      running = true;
      const gen = ++generation;
      if (cfg.ratePerSec > 0) startPaced(senders, cfg.ratePerSec, gen);
      else pumpUnpaced(senders, gen);
    } else if (m.k === "count") post({ k: "count", id: m.id, sent, closed });
    else if (m.k === "stop") {
      running = false;
      post({ k: "count", id: m.id, sent, closed });
      port.close();
      setImmediate(() => process.exit(0));
    }
  });
  post({ k: "ready" });
}

void main();
