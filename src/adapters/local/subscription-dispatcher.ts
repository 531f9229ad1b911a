/**
 * Delivers events to subscriptions on the embedded engine. `tap` runs inside the batch that
 * processed the events and only records (subscription, event) pairs in the outbox; the deliveries
 * themselves happen after, concurrently, each retried with its subscription's backoff until it
 * succeeds or runs out of attempts — then its event becomes a dead letter that names why.
 */
import type { EventEnvelope } from '../../model/events.ts';
import type { DeliveryRetry, Subscription } from '../../model/subscriptions.ts';
import { createSubscriptionMatcher, deliveryDelay } from '../../runtime/subscriptions.ts';
import type { Delivery, DeliveryOutbox } from './delivery-outbox.ts';
import { setLongTimeout, type LongTimer } from './long-timer.ts';
import { DeliveryQueue } from './delivery-queue.ts';

/** What one attempt did. `reject`: retrying cannot help (a 4xx answer, an unknown workflow). */
/** An attempt's outcome; `afterMs`: how long the receiver asked to wait before the next (a 429's or 503's Retry-After). */
export type DeliveryResult = { status: 'delivered' } | { status: 'retry' | 'reject'; error: string; afterMs?: number };

/** The longest wait a receiver's Retry-After may ask for (an hour). */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * Runs one delivery attempt of `event` to `subscription`'s target. `signal` aborts when the
 * dispatcher closes: the attempt should stop promptly (its delivery stays pending).
 */
export type TargetRunner = (subscription: Subscription, event: EventEnvelope, signal?: AbortSignal) => Promise<DeliveryResult>;

/** Options of {@link createSubscriptionDispatcher}. */
export type DispatcherOptions = {
  subscriptions: readonly Subscription[];
  outbox: DeliveryOutbox;
  deliver: TargetRunner;
  /** A delivery gave up: dead-letter its event (durably) with `reason`. */
  onDead: (delivery: Delivery, reason: string) => void;
  /** Each attempt's outcome, for logs. */
  onAttempt?: (delivery: Delivery, result: DeliveryResult) => void;
  now?: () => number;
  /** Deliveries in flight at once, over all subscriptions (default 64): protects the machine. */
  maxInFlight?: number;
  /**
   * Deliveries in flight at once to one subscription (default 4), so that a slow or hung target
   * cannot take every slot: the others keep being delivered.
   */
  maxInFlightPerSubscription?: number;
  /** Which of the deliveries left pending in the outbox this dispatcher takes (default all); the others stay for another engine. */
  takes?: (delivery: Delivery) => boolean;
};

/** Workflow targets have no retry settings: publishing a Run Requested rarely fails twice. */
const WORKFLOW_RETRY: DeliveryRetry = { maxAttempts: 5, backoffMs: 200, factor: 2, maxDelayMs: 5000 };

/** The delivery loop of one engine. */
export class SubscriptionDispatcher {
  readonly #o: DispatcherOptions;
  readonly #now: () => number;
  #byName = new Map<string, Subscription>();
  #match: (event: unknown) => Subscription[] = () => [];
  /** Deliveries waiting for their due time or a free slot (not in flight). */
  #queue = new DeliveryQueue();
  #inFlight = 0;
  /** In-flight deliveries by subscription name. */
  #busy = new Map<string, number>();
  #timer: LongTimer | undefined;
  #timerAt = Infinity;
  #closed = false;
  /** Aborted by `close()`: in-flight attempts stop (command groups killed, requests aborted). */
  readonly #stop = new AbortController();
  #waiters: Array<() => void> = [];
  /** Deliveries this dispatcher's engine caused (tap), not yet finished: what `run` waits for. */
  #caused = new Set<Delivery>();
  #causedWaiters: Array<() => void> = [];
  #delivered = 0;
  #dead = 0;

  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.setSubscriptions(options.subscriptions);
  }

  /** Replaces the subscriptions (config reloaded); queued deliveries keep going to their names. */
  setSubscriptions(subs: readonly Subscription[]): void {
    this.#byName = new Map(subs.map((s) => [s.name, s]));
    this.#match = createSubscriptionMatcher(subs);
  }

  /** Deliveries left over by an earlier process, then whatever `tap` adds. */
  start(): void {
    for (const d of this.#o.outbox.pending()) if (this.#o.takes?.(d) ?? true) this.#queue.push(d);
    this.#pump();
  }

  /** Records the deliveries a batch of events calls for (inside the batch's transaction). */
  /** Records the deliveries these events cause; true when there were any. */
  tap(events: readonly EventEnvelope[]): boolean {
    if (this.#byName.size === 0) return false;
    const now = this.#now();
    const wanted: Delivery[] = [];
    for (const event of events) {
      for (const s of this.#match(event)) wanted.push({ subscription: s.name, event, attempt: 0, dueAt: now });
    }
    if (wanted.length === 0) return false;
    const added = this.#o.outbox.enqueue(wanted);
    // Closed (the engine is stopping, its last steps still ending): recorded with the batch all
    // the same, for the next engine on the state dir to deliver; none is started here.
    if (this.#closed) return added.length > 0;
    for (const d of added) {
      this.#queue.push(d);
      this.#caused.add(d);
    }
    // After the batch commits (the engine commits a batch at once when this returns true): a
    // delivery never runs ahead of the state that produced its event.
    setImmediate(() => this.#pump());
    return true;
  }

  /** Deliveries not yet finished (queued, waiting for a retry, or in flight). */
  get pending(): number {
    return this.#queue.size + this.#inFlight;
  }

  get stats(): { delivered: number; dead: number; pending: number } {
    return { delivered: this.#delivered, dead: this.#dead, pending: this.pending };
  }

  /** When the next queued delivery is due (Infinity when none is queued). */
  get nextDueAt(): number {
    let m = Infinity;
    for (const d of this.#queue.all()) m = Math.min(m, d.dueAt);
    return m;
  }

  /** Resolves once every delivery has finished: delivered or dead-lettered. */
  settle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Deliveries the engine's own events caused (not those an earlier process left) not yet finished. */
  get caused(): number {
    return this.#caused.size;
  }

  /** When the next queued delivery of those is due (Infinity when none is queued). */
  get nextCausedDueAt(): number {
    let m = Infinity;
    for (const d of this.#queue.all()) if (this.#caused.has(d)) m = Math.min(m, d.dueAt);
    return m;
  }

  /** Resolves once the deliveries the engine's own events caused have finished (see {@link caused}). */
  settleCaused(): Promise<void> {
    if (this.#caused.size === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#causedWaiters.push(resolve));
  }

  /**
   * Stops starting deliveries and stops those in flight (a command's process group is killed, a
   * request aborted); an attempt cut short this way does not count and its delivery stays in
   * the outbox with the rest, to run again after a restart.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.clear();
    this.#stop.abort();
    this.#notify();
    while (this.#inFlight > 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#o.outbox.commit();
  }

  #pump(): void {
    if (this.#closed) return;
    const now = this.#now();
    const max = this.#o.maxInFlight ?? 64;
    const perSub = this.#o.maxInFlightPerSubscription ?? 4;
    this.#queue.promote(now);
    const busyOf = (name: string) => this.#busy.get(name) ?? 0;
    while (this.#inFlight < max) {
      // Fair between subscriptions: of the due deliveries whose subscription has a free slot,
      // take the oldest one of the subscription with the fewest in flight.
      const d = this.#queue.take(busyOf, perSub);
      if (d === undefined) break;
      this.#inFlight++;
      this.#busy.set(d.subscription, busyOf(d.subscription) + 1);
      void this.#attempt(d).finally(() => {
        this.#inFlight--;
        const left = (this.#busy.get(d.subscription) ?? 1) - 1;
        if (left > 0) this.#busy.set(d.subscription, left);
        else this.#busy.delete(d.subscription);
        this.#pump();
        this.#notify();
      });
    }
    this.#arm(now);
  }

  /**
   * One timer, for the earliest queued delivery not yet due. Due ones that wait for a free slot
   * start when an in-flight delivery finishes (it pumps), not by polling.
   */
  #arm(now: number): void {
    // `now` is the pump's: a delivery it skipped as not yet due gets its timer, even when the
    // clock has reached its due time since (with a clock of its own, it could have got none).
    const due = this.#queue.nextWaiting();
    if (due === Infinity || due >= this.#timerAt) return;
    this.#timer?.clear();
    this.#timerAt = due;
    this.#timer = setLongTimeout(() => {
      this.#timerAt = Infinity;
      this.#pump();
    }, Math.max(0, due - this.#now()));
  }

  #notify(): void {
    if (this.#caused.size === 0 || this.#closed) {
      const caused = this.#causedWaiters;
      this.#causedWaiters = [];
      for (const w of caused) w();
    }
    if (this.pending > 0 && !this.#closed) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  async #attempt(d: Delivery): Promise<void> {
    const sub = this.#byName.get(d.subscription);
    const outbox = this.#o.outbox;
    if (!sub) {
      this.#die(d, `subscription "${d.subscription}" is no longer declared`);
      return;
    }
    let result: DeliveryResult;
    try {
      result = await this.#o.deliver(sub, d.event, this.#stop.signal);
    } catch (error) {
      result = { status: 'retry', error: (error as Error).message };
    }
    // Cut short by close(): not an attempt; the outbox still has it pending, as it was.
    if (this.#stop.signal.aborted && result.status !== 'delivered') return;
    d.attempt++;
    this.#o.onAttempt?.(d, result);
    if (result.status === 'delivered') {
      this.#caused.delete(d);
      this.#delivered++;
      outbox.delivered(d);
      outbox.commit();
      return;
    }
    d.lastError = result.error;
    const retry = sub.target.type === 'workflow' ? WORKFLOW_RETRY : sub.target.retry;
    if (result.status === 'reject') {
      this.#die(d, `${describe(sub)}: ${result.error} (not retried)`);
    } else if (d.attempt >= retry.maxAttempts) {
      this.#die(d, `${describe(sub)}: gave up after ${d.attempt} attempt${d.attempt === 1 ? '' : 's'}: ${result.error}`);
    } else {
      // The backoff, or longer when the receiver asked for it (Retry-After, at most an hour).
      const asked = result.status === 'retry' && result.afterMs !== undefined ? Math.min(result.afterMs, MAX_RETRY_AFTER_MS) : 0;
      d.dueAt = this.#now() + Math.max(deliveryDelay(retry, d.attempt), asked);
      outbox.reschedule(d);
      outbox.commit();
      if (this.#closed) return;
      this.#queue.push(d);
    }
  }

  #die(d: Delivery, reason: string): void {
    this.#caused.delete(d);
    this.#dead++;
    this.#o.outbox.dead(d);
    this.#o.onDead(d, reason);
    this.#o.outbox.commit();
  }
}

function describe(sub: Subscription): string {
  const t = sub.target;
  const what = t.type === 'webhook' ? `webhook ${t.url}` : t.type === 'command' ? `command ${t.command}` : `workflow ${t.workflow}`;
  return `subscription "${sub.name}" (${what})`;
}

/** Creates the delivery loop; call `start()` once the engine is ready. */
export function createSubscriptionDispatcher(options: DispatcherOptions): SubscriptionDispatcher {
  return new SubscriptionDispatcher(options);
}
