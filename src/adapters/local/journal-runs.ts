/** The runs the journal store has in memory (journal-core.ts). */
import type { LiveRun } from './journal-core.ts';

/**
 * The runs in memory, by id. The store's calls for one task name the same run over and over:
 * the last one asked for is kept at hand (the same id string is equal to itself at once).
 */
export class LiveRuns {
  readonly #map = new Map<string, LiveRun>();
  #lastId: string | undefined;
  #last: LiveRun | undefined;

  get(runId: string): LiveRun | undefined {
    if (runId === this.#lastId) return this.#last;
    const run = this.#map.get(runId);
    if (run) {
      this.#lastId = runId;
      this.#last = run;
    }
    return run;
  }

  has(runId: string): boolean {
    return this.get(runId) !== undefined;
  }

  set(runId: string, run: LiveRun): void {
    this.#map.set(runId, run);
    this.#lastId = runId;
    this.#last = run;
  }

  delete(runId: string): void {
    this.#map.delete(runId);
    if (runId === this.#lastId) this.#lastId = this.#last = undefined;
  }

  clear(): void {
    this.#map.clear();
    this.#lastId = this.#last = undefined;
  }

  values(): IterableIterator<LiveRun> {
    return this.#map.values();
  }

  get size(): number {
    return this.#map.size;
  }
}
