/**
 * A fake external "shop catalogue service" for breaker tests: an HTTP server on 127.0.0.1
 * (free port) answering `GET /catalog` according to a switchable mode:
 *   ok    → 200 {"items": …}
 *   hang  → never answers (the socket stays open until the client gives up or close())
 *   error → 500
 * Counts requests per mode. `close()` ends every open connection (hung ones too).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type FakeCatalogMode = "ok" | "hang" | "error";

export interface FakeCatalogItem {
  id: string;
  name: string;
  price: number;
}

export const FAKE_ITEMS: readonly FakeCatalogItem[] = [
  { id: "elixir", name: "Elixir (from the catalogue service)", price: 55 },
  { id: "bow", name: "Long bow (from the catalogue service)", price: 300 },
];

export class FakeCatalog {
  mode: FakeCatalogMode = "ok";
  items: FakeCatalogItem[] = FAKE_ITEMS.map((i) => ({ ...i }));
  readonly requests: Record<FakeCatalogMode, number> = { ok: 0, hang: 0, error: 0 };
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<FakeCatalog> {
    let self: FakeCatalog | undefined;
    const server = createServer((req, res) => {
      const f = self!;
      f.requests[f.mode]++;
      if (f.mode === "hang") return; // never answer
      if (f.mode === "error") {
        res.statusCode = 500;
        res.end("boom");
        return;
      }
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ items: f.items }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    self = new FakeCatalog(server, (server.address() as AddressInfo).port);
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/catalog`;
  }

  get total(): number {
    return this.requests.ok + this.requests.hang + this.requests.error;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
