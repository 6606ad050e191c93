/** loadbot's chat mix (`--chat-rate`): option validation and the bot posting world chat and counting what it hears. */
import { describe, expect, test } from "vitest";
import type { ClientTransport, TransportFactory, TransportHandlers } from "../../src/client/transport.js";
import { encodeEnvelope, unpack } from "../../src/core/protocol/codec.js";
import { Bot, type BotSink } from "../../src/tools/loadbot/bot.js";
import { resolveOptions } from "../../src/tools/loadbot/options.js";
import { mulberry32 } from "../../src/tools/loadbot/prng.js";

describe("--chat-rate", () => {
  test("defaults to 0 and must be in [0, 100]", () => {
    expect(resolveOptions({ bots: 1, durationSec: 1 }).chatRate).toBe(0);
    expect(resolveOptions({ bots: 1, durationSec: 1, chatRate: 0.5 }).chatRate).toBe(0.5);
    for (const bad of [-1, 101, Number.NaN]) expect(() => resolveOptions({ bots: 1, durationSec: 1, chatRate: bad })).toThrow(/--chat-rate/);
  });

  test("a bot posts world chat on its own timer and counts chat it receives", async () => {
    let h: TransportHandlers | undefined;
    const chats: unknown[] = [];
    const factory: TransportFactory = async (_url, handlers) => {
      h = handlers;
      const t: ClientTransport = {
        send: (d) => {
          const [, type, body] = unpack(d) as [number, string, Record<string, unknown>];
          queueMicrotask(() => {
            if (type === "hello") h!.onMessage(encodeEnvelope("welcome", { proto: 1, server: "gw", features: ["chat"] }), true);
            else if (type === "login") {
              h!.onMessage(encodeEnvelope("session", { userId: 7, name: "bot_1", token: "t".repeat(20) }), true);
              h!.onMessage(encodeEnvelope("enter", { zone: "z1", server: "f1", self: { id: 7, x: 300, y: 300, seq: 0 }, world: { size: 1000, cell: 100 } }), true);
            } else if (type === "chat") {
              chats.push(body);
              const m = { ch: "world", from: "bot_1", uid: 7, text: String(body.text), ts: 1 };
              h!.onMessage(Buffer.concat([encodeEnvelope("chat", m), encodeEnvelope("chat", { ...m, from: "other", uid: 8 })]), true);
            }
          });
        },
        close: (code) => queueMicrotask(() => h?.onClose(code ?? 1005, "")),
        bufferedAmount: 0,
      };
      return t;
    };
    const counts = { chatSent: 0, chatIn: 0 };
    const sink: BotSink = { latency: () => {}, sent: () => {}, entered: () => {}, failed: () => {}, chatSent: () => counts.chatSent++, chatIn: () => counts.chatIn++ };
    const intervals: { fn: () => void; ms: number }[] = [];
    const bot = new Bot({
      url: "ws://127.0.0.1:7000",
      name: "bot_1",
      password: "password1",
      register: false,
      moveIntervalMs: 100,
      maxStep: 5,
      chatRate: 2,
      requestTimeoutMs: 2000,
      rng: mulberry32(1),
      transport: factory,
      sink,
      setTimeout: (fn) => fn(),
      setInterval: (fn, ms) => intervals.push({ fn, ms }),
      clearInterval: () => {},
    });
    await bot.start();
    const chatTimer = intervals.find((i) => i.ms === 500)!;
    expect(chatTimer).toBeDefined();
    chatTimer.fn();
    await new Promise((r) => setTimeout(r, 10));
    expect(chats).toEqual([{ ch: "world", text: "bot_1 #1" }, { ch: "world", text: "bot_1 #2" }]);
    expect(counts).toEqual({ chatSent: 2, chatIn: 4 });
    await bot.stop();
  });
});
