/**
 * Timers of any length. Node's setTimeout takes at most 2^31-1 ms (24.8 days): a longer delay
 * fires after 1 ms, with only a TimeoutOverflowWarning. A step's `delayMs` goes up to a year and
 * `timeoutMs` and retry backoffs have no upper bound, so those timers wait in legs of at most
 * that length.
 */

/** The longest delay setTimeout keeps. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A pending timer; `clear()` cancels it. */
export type LongTimer = { clear(): void };

/** Calls `fn` after `ms`, as setTimeout does (a negative or NaN delay fires on the next turn). */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  if (!(ms > MAX_TIMER_MS)) {
    const timer = setTimeout(fn, ms);
    return { clear: () => clearTimeout(timer) };
  }
  let timer: NodeJS.Timeout;
  const due = performance.now() + ms;
  const leg = (left: number) => {
    timer = setTimeout(() => {
      const rest = due - performance.now();
      if (rest >= 1) leg(rest);
      else fn();
    }, Math.min(left, MAX_TIMER_MS));
  };
  leg(ms);
  return { clear: () => clearTimeout(timer) };
}
