/**
 * Group commit for the durable embedded engine. A batch of events whose effects all stay in the
 * process (state writes, events, tasks of local executors) need not be committed on its own:
 * its tasks start at once and its commit is shared with the batches that follow, within a
 * window. A batch that causes anything outside the process (a spawned process, a webhook, a
 * run's end) commits at once, taking the waiting batches with it: nothing leaves the process
 * before what caused it is durable. A crash loses at most the window's progress, and the events
 * of those batches, never marked processed on file, are processed again on recovery.
 */

/** How long a batch that caused nothing outside the process may wait for its commit. */
export const DEFAULT_GROUP_COMMIT_MS = 10;

/** Commits of one store, grouped. */
export class GroupCommit {
  readonly #commit: () => Promise<void>;
  readonly #windowMs: number;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #applying = false;
  #due = false;
  /** Commits begun so far, and those waiting for the next one to begin (durable). */
  #begun = 0;
  #waiters: Array<{ after: number; resolve: () => void; reject: (error: unknown) => void }> = [];
  /** Why no commit will be made any more (fail): durable() rejects with it. */
  #failure: { error: unknown } | undefined;

  /** `windowMs` 0 commits every batch. `onError`: a commit made at the end of a window failed. */
  constructor(commit: () => Promise<void>, windowMs: number, onError: (error: unknown) => void) {
    this.#commit = async () => {
      const n = ++this.#begun;
      const settle = (ok: boolean, error?: unknown): void => {
        if (this.#waiters.length === 0) return;
        const ready = this.#waiters.filter((w) => w.after < n);
        this.#waiters = this.#waiters.filter((w) => w.after >= n);
        for (const w of ready) ok ? w.resolve() : w.reject(error);
      };
      try {
        await commit();
      } catch (error) {
        settle(false, error);
        throw error;
      }
      settle(true);
    };
    this.#windowMs = windowMs;
    this.#onError = onError;
  }

  /** A batch is being applied: a commit that falls due meanwhile waits for its end. */
  applying(): void {
    this.#applying = true;
  }

  /**
   * The batch is applied. `external`: something it caused leaves the process, so it commits now;
   * otherwise (when grouping) it commits within the window. Resolves once a commit it needs is made.
   */
  async applied(external: boolean): Promise<void> {
    this.#applying = false;
    if (external || this.#due || this.#windowMs <= 0) return this.now();
    this.soon();
  }

  /**
   * Something was written outside a batch (a task's start, which no batch carries when no one
   * else hears it): it is committed within the window, like a batch's writes.
   */
  soon(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // Never in the middle of a batch: that batch commits when it is applied.
      if (this.#applying) this.#due = true;
      else this.#commit().catch(this.#onError);
    }, this.#windowMs);
  }

  /**
   * Resolves once a commit begun after this call has been made (rejects if it fails): what was
   * written before the call is on file. The commit comes within the window, as a batch's does.
   */
  durable(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure.error);
    const after = this.#begun;
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ after, resolve, reject }));
    this.soon();
    return done;
  }

  /**
   * The engine stopped (its state could not be written, maybe in the middle of a batch, whose
   * applied() never comes): who waits in durable(), or asks later, is given `error`.
   */
  fail(error: unknown): void {
    this.#failure ??= { error };
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(this.#failure.error);
  }

  /** Commits now: everything written so far, the waiting batches included. */
  async now(): Promise<void> {
    this.#due = false;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    await this.#commit();
  }
}
