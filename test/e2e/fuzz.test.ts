/**
 * Fuzzing the running processes (vertical slice, part 8): random and mutated frames at a
 * real gateway's client port and, as a fake gateway, at a real field server's link port.
 *
 * Each fast-check run opens a batch of connections concurrently (bounded); each connection
 * sends a generated script of frames: random bytes, valid envelopes with mutated bytes,
 * wrong types and shapes, unknown types, several messages in one frame, oversized frames,
 * text frames, valid messages in the wrong state (before `hello`, before login, replayed
 * move sequences after `enter`). A model (fuzz-frames.ts) says for every script whether
 * the server must keep the connection (then a final ping must be answered) or close it —
 * and with which exact code: a catalogued one, or 1009 for frames above the WebSocket
 * layer's limit (as the protocol documents).
 *
 * Throughout: no process crashes (alive, /healthz 200 at the end), and a well-behaved
 * player connected all along keeps receiving ticks in every phase.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { RiftClient } from "../../src/client/rift-client.js";
import { ErrorCatalog, errorByCloseCode } from "../../src/core/errors.js";
import { encodeEnvelope, unpackStream } from "../../src/core/protocol/codec.js";
import { metricValue, TestCluster } from "../helpers/cluster.js";
import { FatalWaitError, waitFor } from "../helpers/processes.js";
import {
  clientFrame,
  clientVerdict,
  describeFrame,
  frame,
  linkFrame,
  linkHello,
  linkVerdict,
  playingFrame,
  validHello,
  type ClientConnModel,
  type Frame,
  type LinkConnModel,
  type Verdict,
} from "./fuzz-frames.js";
import { TickCounter, walkAll } from "./support.js";

const MAX_PAYLOAD = 16_384; // gateway.maxPayloadBytes (default)
const LINK_MAX_FRAME = 65_536; // field.linkMaxFrameBytes (set below: oversized frames stay cheap)
const LINK_MAX_OPS = 4096; // scene.ts MAX_OPS_PER_FRAME
const CONCURRENCY = 16;
const PLAYING_SLOTS = 8;

const CATALOG_CLOSES = new Set((Object.values(ErrorCatalog) as { close?: number }[]).flatMap((d) => (d.close ? [d.close] : [])));

interface ConnResult {
  /** Frames the server had to process: up to and including the first bad one. */
  processed: number;
  /** Frames put on the wire (a closed connection ignores the rest). */
  sent: number;
  code: number | "open";
}

interface Tally {
  processed: number;
  sent: number;
  connections: number;
  codes: Map<number | "open", number>;
}

const newTally = (): Tally => ({ processed: 0, sent: 0, connections: 0, codes: new Map() });
function count(t: Tally, r: ConnResult): void {
  t.processed += r.processed;
  t.sent += r.sent;
  t.connections++;
  t.codes.set(r.code, (t.codes.get(r.code) ?? 0) + 1);
}

/** A raw connection that records every decoded message type and its close. */
class RawConn {
  readonly ws: WebSocket;
  readonly types: string[] = [];
  pongs = 0;
  closeInfo: { code: number; reason: string } | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, decode: boolean) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 << 20 });
    this.ws.on("error", () => undefined); // resets after a server close are expected; the close event follows
    this.ws.on("pong", () => this.pongs++);
    if (decode) {
      this.ws.on("message", (data: Buffer) => {
        try {
          for (const env of unpackStream(data) as [number, string][]) this.types.push(env[1]);
        } catch {
          this.types.push("<undecodable>");
        }
      });
    }
    this.closed = new Promise((resolve) =>
      this.ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      }),
    );
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("close", (code) => reject(new Error(`closed before open (${code})`)));
    });
  }

  send(f: Frame): void {
    this.ws.send(f.data, { binary: !f.text });
  }

  async waitClosed(what: string): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closeInfo, { timeoutMs: 15_000, intervalMs: 10, what });
  }

  async finish(): Promise<void> {
    if (!this.closeInfo) this.ws.close(1000, "fuzz done");
    await waitFor(() => this.closeInfo, { timeoutMs: 5_000, intervalMs: 10, what: "our own close" }).catch(() => this.ws.terminate());
  }
}

/** Splits a script by the model: what is sent, the processed prefix, the expected outcome. */
function plan<M>(script: Frame[], model: M, verdict: (f: Frame, m: M) => Verdict): { send: Frame[]; processed: number; expect: number | "open"; culprit?: Frame } {
  const send: Frame[] = [];
  let processed = 0;
  let expect: number | "open" = "open";
  let culprit: Frame | undefined;
  for (const f of script) {
    if (expect !== "open") {
      send.push(f); // thrown at an already-closing connection: must be ignored
      continue;
    }
    const v = verdict(f, model);
    if (v === "skip") continue;
    send.push(f);
    processed++;
    if (v !== "ok") {
      expect = v;
      culprit = f;
    }
  }
  return { send, processed, expect, ...(culprit ? { culprit } : {}) };
}

function checkClose(got: { code: number; reason: string }, expected: number, context: () => string): void {
  if (got.code !== expected) throw new Error(`expected close ${expected}, got ${got.code} "${got.reason}" — ${context()}`);
  if (expected >= 4000) {
    const entry = errorByCloseCode(expected)!;
    if (!got.reason.startsWith(entry.code)) throw new Error(`close ${expected} with reason "${got.reason}", expected it to start with ${entry.code} — ${context()}`);
  }
}

describe("fuzzing the gateway and the field server's link port", { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  let player: RiftClient;
  let ticks: TickCounter;
  let walking = true;
  let walks: Promise<unknown>;
  const tokens: string[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({
      gateways: 1,
      fields: [{ zones: ["z1"] }],
      env: { RIFT__FIELD__LINKMAXFRAMEBYTES: String(LINK_MAX_FRAME) },
    });
    const names = Array.from({ length: PLAYING_SLOTS + 1 }, (_, i) => `fz_${cluster.uid}_${i}`);
    await cluster.seedAccounts(names);
    player = await cluster.player(names[0]!);
    ticks = new TickCounter(player);
    // the well-behaved player walks back and forth all along (its own moves come back as ticks)
    walks = (async () => {
      for (let lap = 0; walking; lap++) await walkAll([player], [{ x: lap % 2 ? 530 : 470, y: 500 }], { timeoutMs: 60_000 });
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    // tokens of the accounts used by logged-in fuzz connections (token login: no scrypt per connection)
    for (const n of names.slice(1)) {
      const c = await cluster.player(n);
      tokens.push(c.session!.token);
      await c.close();
    }
  });

  afterAll(async () => {
    walking = false;
    await walks;
    await cluster?.stop();
  });

  const totals = { gateway: newTally(), playing: newTally(), link: newTally() };

  /** Asserts the player is still connected and received ticks during `phase`. */
  async function duringPhase(phase: string, body: () => Promise<void>): Promise<void> {
    const before = ticks.frames;
    await body();
    expect(ticks.frames, `tick frames received by the player during ${phase}`).toBeGreaterThan(before);
    expect(player.closed, `player closed during ${phase}`).toBeUndefined();
    const after = ticks.frames;
    await waitFor(() => ticks.frames > after + 5, { timeoutMs: 10_000, what: `the well-behaved player to keep receiving ticks after the ${phase}` });
    expect(cluster.fields[0]!.proc.exitInfo()).toBeNull();
    expect(cluster.gateways[0]!.proc.exitInfo()).toBeNull();
  }

  async function gatewayConn(script: Frame[], token?: string): Promise<ConnResult> {
    const conn = new RawConn(cluster.gateways[0]!.url, true);
    await conn.open();
    const model: ClientConnModel = { state: "hello", lastSeq: -1 };
    if (token !== undefined) {
      conn.send(frame("hello", encodeEnvelope("hello", { proto: 1, client: "fuzz" })));
      conn.send(frame("login", encodeEnvelope("login", { token })));
      await waitFor(
        () => {
          if (conn.closeInfo) throw new FatalWaitError(`login closed ${conn.closeInfo.code} ${conn.closeInfo.reason}`);
          return conn.types.includes("enter");
        },
        { timeoutMs: 20_000, intervalMs: 10, what: "enter of a fuzz player" },
      );
      model.state = "playing";
    }
    const p = plan(script, model, (f, m) => clientVerdict(f, m, MAX_PAYLOAD));
    for (const f of p.send) conn.send(f);
    const context = () => `culprit ${p.culprit ? describeFrame(p.culprit) : "-"}; script ${script.map(describeFrame).join(" ")}`;
    if (p.expect !== "open") {
      checkClose(await conn.waitClosed(`close ${p.expect}`), p.expect, context);
      return { processed: p.processed, sent: p.send.length, code: p.expect };
    }
    const pongs = conn.types.filter((t) => t === "pong").length;
    conn.send(frame("probe", encodeEnvelope("ping", { t: 0 })));
    await waitFor(
      () => {
        if (conn.closeInfo) throw new FatalWaitError(`connection closed ${conn.closeInfo.code} "${conn.closeInfo.reason}" but the model keeps it — ${context()}`);
        return conn.types.filter((t) => t === "pong").length > pongs;
      },
      { timeoutMs: 15_000, intervalMs: 10, what: "the probe's pong" },
    );
    await conn.finish();
    return { processed: p.processed + 1, sent: p.send.length + 1, code: "open" };
  }

  async function linkConn(script: Frame[]): Promise<ConnResult> {
    const conn = new RawConn(`ws://127.0.0.1:${cluster.fields[0]!.linkPorts[0]}`, false);
    await conn.open();
    const p = plan(script, { helloSeen: false } as LinkConnModel, (f, m) => linkVerdict(f, m, LINK_MAX_FRAME, LINK_MAX_OPS));
    for (const f of p.send) conn.send(f);
    const context = () => `culprit ${p.culprit ? describeFrame(p.culprit) : "-"}; script ${script.map(describeFrame).join(" ")}`;
    if (p.expect !== "open") {
      checkClose(await conn.waitClosed(`link close ${p.expect}`), p.expect, context);
      return { processed: p.processed, sent: p.send.length, code: p.expect };
    }
    // frames are handled in order: a WebSocket-level ping answered after them proves the link survived them
    conn.ws.ping();
    await waitFor(
      () => {
        if (conn.closeInfo) throw new FatalWaitError(`link closed ${conn.closeInfo.code} "${conn.closeInfo.reason}" but the model keeps it — ${context()}`);
        return conn.pongs > 0;
      },
      { timeoutMs: 15_000, intervalMs: 10, what: "the link probe's pong" },
    );
    await conn.finish();
    return { processed: p.processed, sent: p.send.length, code: "open" };
  }

  it("gateway, before login: every bad connection closed with its exact catalogued code", async () => {
    const script = fc
      .tuple(fc.oneof({ arbitrary: validHello, weight: 4 }, { arbitrary: clientFrame(MAX_PAYLOAD), weight: 1 }), fc.array(clientFrame(MAX_PAYLOAD), { minLength: 1, maxLength: 16 }))
      .map(([first, rest]) => [first, ...rest]);
    await duringPhase("gateway fuzz", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(script, { minLength: CONCURRENCY, maxLength: CONCURRENCY }), async (scripts) => {
          for (const r of await Promise.all(scripts.map((s) => gatewayConn(s)))) count(totals.gateway, r);
        }),
        { numRuns: 320, endOnFailure: true },
      );
    });
    expect(totals.gateway.processed).toBeGreaterThanOrEqual(8000);
  });

  it("gateway, logged in: replays, bad moves and wrong-state messages close only that connection", async () => {
    const script = fc.array(fc.oneof({ arbitrary: playingFrame, weight: 3 }, { arbitrary: clientFrame(MAX_PAYLOAD), weight: 2 }), { minLength: 1, maxLength: 16 });
    await duringPhase("logged-in fuzz", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(script, { minLength: PLAYING_SLOTS, maxLength: PLAYING_SLOTS }), async (scripts) => {
          for (const r of await Promise.all(scripts.map((s, i) => gatewayConn(s, tokens[i]!)))) count(totals.playing, r);
        }),
        { numRuns: 50, endOnFailure: true },
      );
    });
    expect(totals.gateway.processed + totals.playing.processed).toBeGreaterThanOrEqual(10_000);
  });

  it("field server link port: every bad link closed with its exact catalogued code", async () => {
    const script = fc
      .tuple(fc.oneof({ arbitrary: fc.string({ minLength: 1, maxLength: 20 }).map((g) => linkHello(`fuzz-${g}`)), weight: 4 }, { arbitrary: linkFrame(LINK_MAX_FRAME), weight: 1 }), fc.array(linkFrame(LINK_MAX_FRAME), { minLength: 1, maxLength: 12 }))
      .map(([first, rest]) => [first, ...rest]);
    await duringPhase("link fuzz", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(script, { minLength: CONCURRENCY, maxLength: CONCURRENCY }), async (scripts) => {
          for (const r of await Promise.all(scripts.map((s) => linkConn(s)))) count(totals.link, r);
        }),
        { numRuns: 60, endOnFailure: true },
      );
    });
    expect(totals.link.processed).toBeGreaterThanOrEqual(2000);
  });

  it("afterwards: no crash, healthy, only catalogued closes, the player still playing", async () => {
    expect(await cluster.healthy()).toBe(true);
    expect(player.closed).toBeUndefined();
    walking = false;
    expect(await walks).toBeUndefined(); // the player's walk never got stuck
    const gwm = await cluster.metrics(cluster.gateways[0]!);
    // every close the gateway initiated used a catalogued code (or ws's 1009 / 1002)
    for (const line of gwm.split("\n").filter((l) => l.startsWith("rift_gateway_closes_total{"))) {
      const code = Number(/code="(\d+)"/.exec(line)![1]);
      const key = /key="([^"]+)"/.exec(line)![1]!;
      if (key === "client") continue;
      expect(CATALOG_CLOSES.has(code) || code === 1009 || code === 1002, line).toBe(true);
    }
    expect(metricValue(gwm, "rift_gateway_closes_total", { key: "INTERNAL" })).toBe(0);
    const fm = await cluster.metrics(cluster.fields[0]!);
    expect(metricValue(fm, "rift_field_link_bad_frames_total")).toBeGreaterThan(0);
    expect(metricValue(fm, "rift_field_handler_errors_total")).toBe(0);
    const all = [totals.gateway, totals.playing, totals.link];
    const summary = Object.entries(totals).map(([k, t]) => `${k}: ${t.connections} connections, ${t.processed} frames processed (${t.sent} sent), closes ${JSON.stringify([...t.codes])}`);
    process.stderr.write(`[fuzz] ${summary.join("\n[fuzz] ")}\n`);
    expect(all.reduce((n, t) => n + t.processed, 0)).toBeGreaterThanOrEqual(12_000);
  });
});
