/**
 * The bots' movement model (pure): a correlated random walk inside the world square.
 *
 * Every call to `next()` returns a target at most `maxStep` units from the current position
 * (uniform in [minStep, maxStep]); the heading turns by a random angle of at most
 * `maxTurn` radians per step, and turns back toward the centre whenever the step would
 * leave the world (keeping `margin` from the edges). Correlation spreads a crowd that
 * spawned in one place over the world within tens of seconds, where a memoryless walk
 * would keep it clustered (σ grows only with √t).
 *
 * The walker assumes the server applied its previous target (the bot reports the
 * server-confirmed position with `resync` when it learns otherwise, e.g. after `enter`).
 */
import type { Rng } from "./prng.js";

export interface WalkOptions {
  worldSize: number;
  /** Longest step (DESIGN §7: 5 units, the server's speed clamp). */
  maxStep: number;
  minStep?: number;
  /** Largest heading change per step, radians (default π/4). */
  maxTurn?: number;
  /** Distance kept from the world's edges (default 1). */
  margin?: number;
}

export class RandomWalker {
  x: number;
  y: number;
  private heading: number;
  private readonly minStep: number;
  private readonly maxTurn: number;
  private readonly margin: number;

  constructor(
    x: number,
    y: number,
    private readonly rng: Rng,
    private readonly opts: WalkOptions,
  ) {
    if (!(opts.maxStep > 0) || !(opts.worldSize > 0)) throw new Error("walk: maxStep and worldSize must be positive");
    this.minStep = Math.min(opts.minStep ?? opts.maxStep / 5, opts.maxStep);
    this.maxTurn = opts.maxTurn ?? Math.PI / 4;
    this.margin = Math.min(opts.margin ?? 1, opts.worldSize / 4);
    this.x = x;
    this.y = y;
    this.heading = rng() * 2 * Math.PI;
  }

  /** The position the server last confirmed (after `enter` or a clamp). */
  resync(x: number, y: number): void {
    this.x = x;
    this.y = y;
  }

  /** Next target: within `maxStep` of the current position and inside the world. */
  next(): { x: number; y: number } {
    const { worldSize } = this.opts;
    const lo = this.margin;
    const hi = worldSize - this.margin;
    const step = this.minStep + this.rng() * (this.opts.maxStep - this.minStep);
    this.heading += (this.rng() * 2 - 1) * this.maxTurn;
    let nx = this.x + Math.cos(this.heading) * step;
    let ny = this.y + Math.sin(this.heading) * step;
    if (nx < lo || nx > hi || ny < lo || ny > hi) {
      // head back toward the centre, with some spread
      this.heading = Math.atan2(worldSize / 2 - this.y, worldSize / 2 - this.x) + (this.rng() * 2 - 1) * (Math.PI / 4);
      nx = this.x + Math.cos(this.heading) * step;
      ny = this.y + Math.sin(this.heading) * step;
    }
    // final clamp into the margin band; when we started outside it (spawned at the edge, or
    // before a resync) the clamp may lengthen the step, so then only go maxStep toward it
    const cx = Math.min(hi, Math.max(lo, nx));
    const cy = Math.min(hi, Math.max(lo, ny));
    const d = Math.hypot(cx - this.x, cy - this.y);
    const k = d > this.opts.maxStep ? this.opts.maxStep / d : 1;
    this.x += (cx - this.x) * k;
    this.y += (cy - this.y) * k;
    return { x: this.x, y: this.y };
  }
}
