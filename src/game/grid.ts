/**
 * AOI grid geometry (pure). Cells are numbered row-major: `cell = row * cols + col`,
 * with `cols = rows = ceil(worldSize / cellSize)`. Points on the far edge (x = worldSize)
 * belong to the last column. A watcher in cell c watches c and its up-to-8 neighbours.
 */
export class Grid {
  readonly cols: number;
  readonly cellCount: number;
  private readonly watchLists: readonly (readonly number[])[];

  constructor(
    readonly worldSize: number,
    readonly cellSize: number,
  ) {
    this.cols = Math.max(1, Math.ceil(worldSize / cellSize));
    this.cellCount = this.cols * this.cols;
    const lists: number[][] = [];
    for (let c = 0; c < this.cellCount; c++) lists.push(this.computeWatched(c));
    this.watchLists = lists;
  }

  cellOf(x: number, y: number): number {
    return this.row(y) * this.cols + this.col(x);
  }

  private col(v: number): number {
    const i = Math.floor(v / this.cellSize);
    return i < 0 ? 0 : i >= this.cols ? this.cols - 1 : i;
  }

  private row(v: number): number {
    return this.col(v);
  }

  private computeWatched(cell: number): number[] {
    const cx = cell % this.cols;
    const cy = (cell - cx) / this.cols;
    const out: number[] = [];
    for (let y = cy - 1; y <= cy + 1; y++) {
      if (y < 0 || y >= this.cols) continue;
      for (let x = cx - 1; x <= cx + 1; x++) {
        if (x < 0 || x >= this.cols) continue;
        out.push(y * this.cols + x);
      }
    }
    return out;
  }

  /** The cells watched from `centre` (sorted ascending; shared array — do not mutate). */
  watched(centre: number): readonly number[] {
    return this.watchLists[centre] ?? [];
  }

  /** Whether a watcher centred on `centre` watches `cell`. */
  isWatched(centre: number, cell: number): boolean {
    if (centre < 0 || cell < 0) return false;
    const dx = (cell % this.cols) - (centre % this.cols);
    const dy = Math.floor(cell / this.cols) - Math.floor(centre / this.cols);
    return dx >= -1 && dx <= 1 && dy >= -1 && dy <= 1;
  }
}
