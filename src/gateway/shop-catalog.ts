/**
 * Where the gateway's shop catalogue comes from (issue #9 item 7): the built-in
 * SHOP_CATALOGUE, or — when `gateway.shopCatalog.url` is set — an external HTTP "shop
 * catalogue service" (a NON-critical dependency) called through a circuit breaker
 * (src/core/ops/breaker.ts, breaker name `shop-catalog`).
 *
 * Contract of `list()`: never rejects; resolves with the service's catalogue, or — when the
 * service fails, hangs past `timeoutMs` or the breaker is open — with the last catalogue the
 * service returned (initially the built-in one). Concurrent calls share one request
 * (single flight) and a successful answer is reused for `cacheMs`, so many clients asking at
 * once never become many requests. The gateway answers `shopList` when the promise settles;
 * no game server and no logic tick is involved.
 *
 * The service: `GET <url>` → 200 `{"items": [{"id": str, "name": str, "price": int ≥ 0}, …]}`
 * (at most 1,000 items); anything else is a failure.
 */
import { z } from "zod";
import type { Logger } from "../core/log.js";
import type { Registry } from "../core/metrics.js";
import { Breaker, breakerMetrics, type BreakerOptions } from "../core/ops/breaker.js";
import { SHOP_CATALOGUE, type ShopItem } from "./shop.js";

export interface ShopCatalog {
  /** The catalogue to show (never rejects; see the module comment). */
  list(): Promise<readonly ShopItem[]>;
  close(): void;
}

/** The built-in catalogue (no external service configured). */
export class BuiltinShopCatalog implements ShopCatalog {
  list(): Promise<readonly ShopItem[]> {
    return Promise.resolve(SHOP_CATALOGUE);
  }
  close(): void {}
}

const CatalogSchema = z.object({
  items: z.array(z.object({ id: z.string().min(1).max(64), name: z.string().max(200), price: z.number().int().min(0) })).max(1000),
});

export interface HttpShopCatalogOptions {
  url: string;
  /** Reuse a successful answer this long (ms; 0 = ask the service on every request). */
  cacheMs: number;
  breaker: BreakerOptions;
  registry?: Registry;
  log?: Logger;
  /** Monotonic ms clock (tests). */
  now?: () => number;
}

export const SHOP_BREAKER_NAME = "shop-catalog";

export class HttpShopCatalog implements ShopCatalog {
  readonly breaker: Breaker<[], readonly ShopItem[]>;
  private lastGood: readonly ShopItem[] = SHOP_CATALOGUE;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<readonly ShopItem[]> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: HttpShopCatalogOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.breaker = new Breaker<[], readonly ShopItem[]>(SHOP_BREAKER_NAME, (signal) => this.fetchOnce(signal), opts.breaker, {
      fallback: () => this.lastGood,
      ...(opts.registry ? { metrics: breakerMetrics(opts.registry) } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
  }

  list(): Promise<readonly ShopItem[]> {
    if (this.now() - this.fetchedAt < this.opts.cacheMs) return Promise.resolve(this.lastGood);
    this.inflight ??= this.breaker
      .call()
      .catch(() => this.lastGood) // only when the breaker is shut down
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  close(): void {
    this.breaker.shutdown();
  }

  private async fetchOnce(signal: AbortSignal): Promise<readonly ShopItem[]> {
    const res = await fetch(this.opts.url, { signal, headers: { accept: "application/json" } });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`shop catalogue service: HTTP ${res.status}`);
    }
    const parsed = CatalogSchema.safeParse(await res.json());
    if (!parsed.success) throw new Error(`shop catalogue service: malformed answer: ${parsed.error.message.slice(0, 200)}`);
    this.lastGood = parsed.data.items.map((i) => ({ id: i.id, name: i.name, price: i.price }));
    this.fetchedAt = this.now();
    return this.lastGood;
  }
}

/** The catalogue source for a gateway's config (`gateway.shopCatalog`). */
export function shopCatalogFromConfig(
  cfg: { url: string; timeoutMs: number; cacheMs: number; errorThresholdPercentage: number; volumeThreshold: number; resetTimeoutMs: number },
  deps: { registry?: Registry; log?: Logger } = {},
): ShopCatalog {
  if (!cfg.url) return new BuiltinShopCatalog();
  return new HttpShopCatalog({
    url: cfg.url,
    cacheMs: cfg.cacheMs,
    breaker: { timeoutMs: cfg.timeoutMs, errorThresholdPercentage: cfg.errorThresholdPercentage, volumeThreshold: cfg.volumeThreshold, resetTimeoutMs: cfg.resetTimeoutMs },
    ...deps,
  });
}
