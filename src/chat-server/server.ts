/**
 * A chat server: the link server (gateways), the ChatService and the flush timer that sends
 * every gateway its grouped ops once per `chat.flushMs` (one frame per gateway per flush).
 */
import { ErrorCatalog } from "../core/errors.js";
import type { Config } from "../core/config.js";
import type { Logger } from "../core/log.js";
import { CHAT_WIRE_MAX_CHARS } from "../core/protocol/messages.js";
import { ChatLinkServer } from "./link-server.js";
import type { ChatMetrics } from "./metrics.js";
import { Moderation, type ChatFilter, type ModerationEvent } from "./moderation.js";
import { encodeOps } from "./protocol.js";
import { ChatService, type HistoryStore } from "./service.js";

export interface ChatServerOptions {
  host: string;
  config: Config["chat"];
  log: Logger;
  metrics: ChatMetrics;
  moderation?: Moderation;
  filter?: ChatFilter;
  store?: HistoryStore;
}

export class ChatServer {
  readonly service: ChatService;
  readonly moderation: Moderation;
  private readonly links: ChatLinkServer;
  private timer: NodeJS.Timeout | undefined;
  private lastGauge = 0;
  private postedSeen = 0;

  constructor(private readonly opts: ChatServerOptions) {
    const { config: c, log, metrics } = opts;
    this.moderation = opts.moderation ?? new Moderation();
    this.service = new ChatService({
      historySize: c.historySize,
      maxLength: c.maxLength,
      fanout: c.fanout,
      moderation: this.moderation,
      ...(opts.filter ? { filter: opts.filter } : {}),
      ...(opts.store ? { store: opts.store } : {}),
      log,
    });
    this.links = new ChatLinkServer({
      host: opts.host,
      port: c.linkPort,
      maxFrameBytes: 4 * 1024 * 1024,
      maxTextChars: CHAT_WIRE_MAX_CHARS,
      sendQueueMaxBytes: 64 * 1024 * 1024,
      heartbeatMs: 2000,
      log,
      onOpen: (link, gateway) => {
        metrics.links.inc();
        log.info({ link, gateway }, "chat: gateway link open");
      },
      onOps: (link, ops) => this.service.handle(link, ops),
      onClose: (link, gateway) => {
        metrics.links.dec();
        this.service.linkClosed(link);
        log.info({ link, gateway }, "chat: gateway link closed");
      },
      onInvalid: (n) => metrics.invalidOps.inc(n),
    });
  }

  async start(): Promise<number> {
    const port = await this.links.listen();
    this.timer = setInterval(() => this.flush(), this.opts.config.flushMs);
    return port;
  }

  /** Apply an operator event (pub/sub). */
  moderate(e: ModerationEvent): void {
    this.service.moderate(e);
  }

  get linkCount(): number {
    return this.links.linkCount;
  }

  /** Send every gateway its ops of this flush (one frame per link). */
  flush(): void {
    const t0 = performance.now();
    const out = this.service.drain();
    const m = this.opts.metrics;
    for (const [link, ops] of out) {
      if (ops.length === 0) continue;
      const frame = encodeOps(ops);
      this.links.send(link, frame);
      m.framesOut.inc();
      m.bytesOut.inc(frame.byteLength);
    }
    if (out.size > 0) m.flushSeconds.observe((performance.now() - t0) / 1000);
    if (t0 - this.lastGauge >= 1000) {
      this.lastGauge = t0;
      const s = this.service.stats();
      m.channels.set(s.channels);
      m.members.set(s.members);
      for (const [key, n] of Object.entries(s.rejected)) m.rejected.inc({ code: ErrorCatalog[key as keyof typeof ErrorCatalog]?.code ?? key }, n);
      const posted = s.posted - this.postedSeen;
      this.postedSeen = s.posted;
      if (posted > 0) m.posted.inc(posted);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.flush();
    await this.links.close();
  }
}
