/**
 * Code that runs synchronously on synchronous stores and asynchronously on asynchronous ones.
 *
 * The processor's logic is written once, as generators that `yield` each store call's result
 * (a value, or a promise of one). `runFlow` resumes a generator at once with a value and only
 * waits for promises: on the memory and SQLite stores an event is processed without a single
 * promise or microtask; on DynamoDB every call is awaited as before. An `async` function would
 * pay a promise and a suspension for every store call, which was most of the embedded
 * engine's cost per task.
 */

/** A value now, or later. */
export type Awaitable<T> = T | Promise<T>;

/**
 * A computation that yields awaitables and returns a T. Inside one, `(yield x) as T` is the
 * value of the awaitable x; `yield* other` runs another flow inline.
 */
export type Flow<T> = Generator<unknown, T, unknown>;

/** Runs a flow to its end: its result now when nothing it yielded was a promise, else a promise. */
export function runFlow<T>(flow: Flow<T>): Awaitable<T> {
  return resume(flow, flow.next());
}

function resume<T>(flow: Flow<T>, step: IteratorResult<unknown, T>): Awaitable<T> {
  for (;;) {
    if (step.done) return step.value;
    const value = step.value;
    if (value instanceof Promise) {
      return value.then(
        (resolved: unknown) => resume(flow, flow.next(resolved)),
        (error: unknown) => resume(flow, flow.throw(error)),
      );
    }
    step = flow.next(value);
  }
}

