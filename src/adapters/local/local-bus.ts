/**
 * In-process event bus with EventBridge delivery shape: publishers enqueue, a drain loop hands
 * batches to subscribers. Batching is what lets the processor (and later the SQLite store's group
 * commit) amortise work over many events; subscribers run one batch at a time, in order.
 */
import type { EventEnvelope } from '../../model/events.ts';
import type { EventPattern } from '../../model/plan.ts';
import type { EventBus } from '../../ports.ts';
import { compilePattern } from '../../model/pattern.ts';
import { withChaos, type ChaosOptions } from './chaos.ts';

type Subscription = {
  test: ((event: unknown) => boolean) | null;
  handler: (events: EventEnvelope[]) => void | Promise<void>;
};

/** The local bus: an EventBus that can also report when it has gone quiet. */
export interface LocalBus extends EventBus {
  /** Resolves once every published event has been delivered and handled. */
  idle(): Promise<void>;
  /**
   * Resolves once every event published so far has been handed to every subscriber (their handlers returned), however
   * many are published meanwhile: unlike idle(), a busy bus does not hold it up.
   */
  flushed(): Promise<void>;
  /** Events published so far. */
  readonly published: number;
  /** Deliveries so far (one per event copy handed to the subscribers, however many they are). */
  readonly delivered: number;
  /** Extra copies delivered on purpose (chaos); 0 on a clean bus. */
  readonly duplicated: number;
  /** How many subscriptions there are. */
  readonly subscribers: number;
}

/**
 * Creates an in-process bus. `onError` receives subscriber failures (the bus keeps going).
 * `chaos` makes deliveries duplicated, reordered and delayed (see chaos.ts); without it the
 * bus delivers each event once, in publish order.
 */
export function createLocalBus(onError: (error: unknown) => void = (e) => console.error(e), chaos?: ChaosOptions): LocalBus {
  const bus = createCleanBus(onError);
  // Options that disturb nothing on the bus (only crashAt, say) keep the clean path.
  const disturbs = chaos !== undefined && ((chaos.duplicate ?? 0) > 0 || (chaos.reorder ?? 1) > 1 || (chaos.delayMs ?? 0) > 0);
  return disturbs ? withChaos(bus, chaos) : bus;
}

const DONE: Promise<void> = Promise.resolve();

function createCleanBus(onError: (error: unknown) => void): LocalBus {
  let queue: EventEnvelope[] = [];
  let subs: Subscription[] = [];
  let draining = false;
  let published = 0;
  let delivered = 0;
  /** Events every subscriber has been handed (their batch's handlers returned). */
  let handed = 0;
  let idleWaiters: Array<() => void> = [];
  /** flushed() callers, by the number of events published when they asked (ascending). */
  let flushWaiters: Array<{ upTo: number; resolve: () => void }> = [];

  function releaseFlushed(): void {
    let i = 0;
    while (i < flushWaiters.length && flushWaiters[i]!.upTo <= handed) flushWaiters[i++]!.resolve();
    if (i > 0) flushWaiters = flushWaiters.slice(i);
  }

  async function drain(): Promise<void> {
    draining = true;
    try {
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        delivered += batch.length;
        for (const sub of subs) {
          const events = sub.test ? batch.filter(sub.test) : batch;
          if (events.length === 0) continue;
          try {
            await sub.handler(events);
          } catch (error) {
            onError(error);
          }
        }
        handed += batch.length;
        if (flushWaiters.length > 0) releaseFlushed();
      }
    } finally {
      draining = false;
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  return {
    publish(events) {
      // Enqueuing is synchronous; the promise is shared, not made per call.
      if (events.length === 0) return DONE;
      published += events.length;
      for (const e of events) queue.push(e);
      if (!draining) {
        draining = true;
        // Deliver once the publisher's synchronous work is done, in the same turn of the loop:
        // everything that turns (a step's end, a timer, I/O) yields to the loop already, so
        // another turn here would only add its cost to every step of a chain.
        queueMicrotask(() => void drain());
      }
      return DONE;
    },
    subscribe(pattern: EventPattern | null, handler) {
      const sub: Subscription = { test: pattern ? compilePattern(pattern) : null, handler };
      subs = [...subs, sub];
      return () => {
        subs = subs.filter((s) => s !== sub);
      };
    },
    idle() {
      if (!draining && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    flushed() {
      if (handed >= published) return DONE;
      return new Promise((resolve) => flushWaiters.push({ upTo: published, resolve }));
    },
    get published() {
      return published;
    },
    get delivered() {
      return delivered;
    },
    get subscribers() {
      return subs.length;
    },
    duplicated: 0,
  };
}
