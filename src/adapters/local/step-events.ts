/**
 * The events the embedded engine emits: envelopes (with the time formatted once per
 * millisecond), the event that reports how a step's attempt ended, and how they are logged.
 */
import { randomBytes } from 'node:crypto';
import { DetailType, JOINFLOW_SOURCE, stepRef, stepRefWith, type EventEnvelope, type StepError } from '../../model/events.ts';
import type { StepOutcome, Task } from '../../ports.ts';
import type { DurableLog } from './durable-log.ts';
import { INIT_LIMIT_MS, type TimedOut } from './lanes.ts';
import { retriesAfter, STEP_TIMEOUT } from '../../runtime/fallback.ts';

/**
 * Event ids: unique UUID-formatted strings, cheaper than randomUUID. Each generator draws 74
 * random bits once and counts in the last 48 (RFC 9562 version 8, "custom"); a generator that
 * has counted through 2^48 ids draws afresh. randomUUID concatenates each id out of 16 pieces,
 * a tree of strings that lives as long as the event does: with thousands of events in flight
 * that was a sizeable part of the engine's memory traffic.
 */
export function createIdFactory(): () => string {
  let prefix = '';
  let counter = 0;
  let last = '';
  const draw = (): void => {
    const b = randomBytes(10);
    const hex = b.toString('hex');
    // xxxxxxxx-xxxx-8xxx-[89ab]xxx-: version nibble 8, variant bits 10.
    const parts = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((b[8]! & 0x3f) | 0x80).toString(16)}${hex.slice(18, 20)}-`;
    // Made flat once (reading a character does), so that each id adds only its own tail.
    parts.charCodeAt(0);
    prefix = parts;
    counter = 0;
  };
  draw();
  const newId = (): string => {
    if (counter === 2 ** 48) draw();
    const tail = (counter++).toString(16);
    last = prefix + '000000000000'.slice(tail.length) + tail;
    return last;
  };
  factories.set(newId, { last: () => last, prefix: () => prefix, counter: () => counter - 1 });
  return newId;
}

type IdState = { last(): string; prefix(): string; counter(): number };
const factories = new WeakMap<() => string, IdState>();

/**
 * How many envelopes {@link madeSlot} remembers: the events of one publication, which the
 * journal encodes right after they are made (and then forgets, see {@link forgetMade}).
 */
const MADE = 8;
const madeEvents: Array<EventEnvelope | undefined> = new Array<EventEnvelope | undefined>(MADE).fill(undefined);
const madeIds: string[] = new Array<string>(MADE).fill('');
const madePrefixes: string[] = new Array<string>(MADE).fill('');
const madeCounters = new Float64Array(MADE);
let madeNext = 0;

/**
 * Where an envelope the engine made lately is remembered, with its id prefix and counter
 * ({@link madePrefix}, {@link madeCounter}), so that the journal need not read them back out of
 * its id (an id is made of pieces, and reading its characters joins them into a new string); -1
 * for any other envelope, or one whose id has been changed since.
 */
export function madeSlot(e: EventEnvelope): number {
  for (let i = 0; i < MADE; i++) {
    // The id as made is the same string object: equal at once.
    if (madeEvents[i] === e) return e.id === madeIds[i] ? i : -1;
  }
  return -1;
}

export const madePrefix = (slot: number): string => madePrefixes[slot]!;
export const madeCounter = (slot: number): number => madeCounters[slot]!;

/** The envelope of `slot` is encoded: it is not held here any longer (its output may be large). */
export function forgetMade(slot: number): void {
  madeEvents[slot] = undefined;
  madeIds[slot] = '';
}

/** Makes event envelopes of the engine's own events. */
export type EventFactory = (type: string, detail: Record<string, unknown>) => EventEnvelope;

/** An event factory reading `now`; formatting the time is a sizeable part of an event's cost. */
/**
 * `remember`: the envelopes are remembered for the journal ({@link madeSlot}); an engine without a
 * log makes none of that bookkeeping (nor holds its last envelopes).
 */
export function createEventFactory(now: () => number, newId: () => string = createIdFactory(), remember = false): EventFactory {
  let timeMs = NaN;
  let timeIso = '';
  const ids = remember ? factories.get(newId) : undefined;
  return (type, detail) => {
    const t = now();
    if (t !== timeMs) {
      timeMs = t;
      timeIso = new Date(t).toISOString();
    }
    const e: EventEnvelope = { id: newId(), source: JOINFLOW_SOURCE, 'detail-type': type, time: timeIso, detail };
    if (ids && ids.last() === e.id) {
      const i = madeNext;
      madeNext = (i + 1) % MADE;
      madeEvents[i] = e;
      madeIds[i] = e.id;
      madePrefixes[i] = ids.prefix();
      madeCounters[i] = ids.counter();
    }
    return e;
  };
}

/** How an attempt ended, as the lanes report it (a timeout is an abort the engine asked for). */
export type AttemptEnd = StepOutcome | TimedOut;

/**
 * Step Completed or Step Failed for an attempt that ended (none for one that was stopped), and
 * for a failure whether another attempt follows.
 */
export function attemptEvent(task: Task, outcome: AttemptEnd, make: EventFactory): { event?: EventEnvelope; retrying?: boolean } {
  if (outcome.status === 'succeeded') return { event: make(DetailType.StepCompleted, stepRefWith(task, 'output', outcome.output ?? null)) };
  if (outcome.status !== 'failed' && outcome.status !== 'timeout') return {};
  const error: StepError = outcome.status === 'timeout' ? { type: STEP_TIMEOUT, message: timeoutMessage(task, outcome) } : outcome.error;
  const retrying = retriesAfter(task, error, outcome.status === 'timeout' || outcome.retriable);
  return { event: make(DetailType.StepFailed, stepRef(task, { error, retrying })), retrying };
}

/**
 * What a timeout says: the step, the limit, the attempt; for a handler, the start-up before it
 * (which its timeout does not count, as Lambda's leaves out the Init), or that it never began.
 */
export function timeoutMessage(task: Task, timedOut: TimedOut): string {
  const { timeoutMs, initMs, tookMs } = timedOut;
  if (timedOut.handlerStarted === false) {
    return `step "${task.step}" timed out (attempt ${task.attempt}) before its handler started: the worker thread and the module it waited for were not ready ` +
      `${timeoutMs + INIT_LIMIT_MS} ms into the attempt (its timeoutMs of ${timeoutMs} ms plus ${INIT_LIMIT_MS} ms allowed for a start-up, Lambda's limit on Init)`;
  }
  if (initMs === undefined) return `step "${task.step}" timed out after ${timeoutMs} ms (attempt ${task.attempt})`;
  return `step "${task.step}" timed out after ${timeoutMs} ms of its handler (attempt ${task.attempt}): its timeoutMs counts from the handler's start, ` +
    `which came ${initMs} ms into the attempt, spent starting a worker thread or loading its module (${tookMs ?? timeoutMs + initMs} ms in all)`;
}

/**
 * Logs the engine's own events as pending (their sequence numbers go into `seqs`, to be marked
 * processed with the batch that handles them). Step Started drives no trigger and the task log
 * has its time, so recovery needs it not: it is logged as already processed, for `joinflow
 * events tail` only.
 */
export function logOwnEvents(log: DurableLog, events: readonly EventEnvelope[], seqs: { set(event: EventEnvelope, seq: number): unknown }): void {
  // Most calls publish one event: no arrays are built unless the events are of both kinds.
  if (events.length === 0) return;
  let started = 0;
  for (let i = 0; i < events.length; i++) if (events[i]!['detail-type'] === DetailType.StepStarted) started++;
  if (started === 0) {
    const numbers = log.appendEvents(events);
    for (let i = 0; i < events.length; i++) seqs.set(events[i]!, numbers[i]!);
    return;
  }
  if (started < events.length) {
    const durable = events.filter((e) => e['detail-type'] !== DetailType.StepStarted);
    const numbers = log.appendEvents(durable);
    for (let i = 0; i < durable.length; i++) seqs.set(durable[i]!, numbers[i]!);
  }
  if (log.recordEvents) log.recordEvents(started === events.length ? events : events.filter((e) => e['detail-type'] === DetailType.StepStarted));
}

/**
 * The events of the engine's bus not processed yet: which the engine made itself (bounded in
 * size: only others pay for the size check) and the log sequence numbers of those logged (marked
 * processed with the batch that handles them). One Map, emptied as events are processed: not
 * weak collections, which cost the garbage collector more per entry than the entries cost here,
 * and not a Set beside a Map, which both grew and shrank (reallocating) with every wave of a run.
 * Each value is 2 × (sequence number + 1), or 0 when not logged, plus 1 for the engine's own.
 */
export class EventBook {
  readonly #pending = new Map<EventEnvelope, number>();

  /** One of the engine's own events, logged under `seq` (the `seqs` of {@link logOwnEvents}). */
  set(event: EventEnvelope, seq: number): void {
    this.#pending.set(event, seq * 2 + 3);
  }

  /** An event from outside the engine, logged under `seq`. */
  logged(event: EventEnvelope, seq: number): void {
    this.#pending.set(event, seq * 2 + 2);
  }

  /** One of the engine's own events (logged by {@link set} already, or not logged). */
  addOwn(event: EventEnvelope): void {
    if (!this.#pending.has(event)) this.#pending.set(event, 1);
  }

  /** Whether the engine made this event itself. */
  has(event: EventEnvelope): boolean {
    const v = this.#pending.get(event);
    return v !== undefined && v % 2 === 1;
  }

  /** Marks a processed batch in the log and forgets its events, unless a chaos crash delivers them again. */
  processed(log: DurableLog | undefined, events: readonly EventEnvelope[], crashed: boolean): void {
    if (log) {
      const seqs: number[] = [];
      for (let i = 0; i < events.length; i++) {
        const v = this.#pending.get(events[i]!);
        if (v !== undefined && v >= 2) seqs.push(Math.floor(v / 2) - 1);
      }
      if (seqs.length > 0) log.markProcessed(seqs);
    }
    if (crashed) return;
    for (let i = 0; i < events.length; i++) this.#pending.delete(events[i]!);
  }
}
