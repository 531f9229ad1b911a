/**
 * Code that runs synchronously on synchronous stores and asynchronously on asynchronous ones.
 *
 * The processor's logic is written once, as plain synchronous functions over {@link StoreNow}: a
 * store whose calls answer at once. The memory and SQLite stores are one (they declare
 * `synchronous`), and an event is processed with no promise, microtask or generator on the way.
 *
 * Any other store (DynamoDB) is wrapped by {@link replayed}: each call goes through a {@link Replay},
 * which records every answer in order. A call that answers with a promise stops the logic (it
 * throws {@link Pending}); once the promise settles, the logic runs again from the start, and
 * every call it has already made is answered from the record instead of reaching the store
 * again. A call whose promise rejects is recorded so too, and throws its error when the logic
 * runs again, at the same call, as a synchronous store's would. The logic must therefore be
 * deterministic given its calls' answers: the clock and the id factory go through the record too,
 * and it must not catch {@link Pending}, which is not an error. An event makes a handful of calls,
 * so the re-runs cost microseconds against milliseconds of network.
 */
import type { Clock, TriggerStore } from '../ports.ts';

/** A value now, or later. */
export type Awaitable<T> = T | Promise<T>;

type Answer<T> = T extends Promise<infer U> ? U : T;

/** The store calls the processor makes, answered at once. */
export type StoreNow = {
  readonly ordinals?: boolean;
} & {
  [K in 'startRun' | 'getRun' | 'arrive' | 'setNeed' | 'claim' | 'saveResult' | 'getResults' | 'savedKeys']: (
    ...args: Parameters<TriggerStore[K]>
  ) => Answer<ReturnType<TriggerStore[K]>>;
};

/** What the processor's logic reads from the world: the store, the clock, new event ids. */
export type Io = { store: StoreNow; now(): number; newId(): string };

/** Thrown through the logic when a call's answer is a promise not yet settled. */
class Pending {
  constructor(readonly promise: Promise<unknown>) {}
}

/** A call's recorded rejection. */
class Failed {
  constructor(readonly error: unknown) {}
}

/** The answers of one event's calls, in the order they were made. */
export class Replay {
  readonly #answers: unknown[] = [];
  #next = 0;

  /** The next call's recorded answer, or `make()`'s when the call is new. */
  call<T>(make: () => Awaitable<T>): T {
    if (this.#next < this.#answers.length) {
      const answer = this.#answers[this.#next++];
      if (answer instanceof Failed) throw answer.error;
      return answer as T;
    }
    const answer = make();
    if (answer instanceof Promise) throw new Pending(answer);
    this.#answers.push(answer);
    this.#next++;
    return answer;
  }

  /** Runs `logic` to its end: its result now when every answer came at once, else a promise. */
  run<T>(logic: () => T): Awaitable<T> {
    this.#next = 0;
    try {
      return logic();
    } catch (error) {
      if (!(error instanceof Pending)) throw error;
      return error.promise.then(
        (answer) => {
          this.#answers.push(answer);
          return this.run(logic);
        },
        (failure: unknown) => {
          this.#answers.push(new Failed(failure));
          return this.run(logic);
        },
      );
    }
  }
}

/** An {@link Io} whose every call goes through `replay`. */
export function replayed(store: TriggerStore, clock: Clock, newId: () => string, replay: Replay): Io {
  const now: StoreNow = {
    ordinals: store.ordinals,
    startRun: (run) => replay.call(() => store.startRun(run)),
    getRun: (runId, options) => replay.call(() => store.getRun(runId, options)),
    arrive: (runId, trigger, key, need, ordinal) => replay.call(() => store.arrive(runId, trigger, key, need, ordinal)),
    setNeed: (runId, trigger, need) => replay.call(() => store.setNeed(runId, trigger, need)),
    claim: (runId, trigger, at, leaseMs) => replay.call(() => store.claim(runId, trigger, at, leaseMs)),
    saveResult: (runId, key, output) => replay.call(() => store.saveResult(runId, key, output)),
    getResults: (runId, keys) => replay.call(() => store.getResults(runId, keys)),
    savedKeys: (runId, keys) => replay.call(() => store.savedKeys(runId, keys)),
  };
  return { store: now, now: () => replay.call(() => clock.now()), newId: () => replay.call(newId) };
}
