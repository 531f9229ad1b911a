/**
 * Delivery chaos for the local bus: the faults EventBridge, Lambda async and SQS are allowed to
 * produce — redelivery, reordering, delay — made to happen on purpose and often, so that tests
 * (and `joinflow run --chaos`) show the join algorithm does not depend on one clean delivery.
 * Every random choice comes from a seeded generator: a failing run replays with its seed.
 */
import type { EventEnvelope } from '../../model/events.ts';
import { UsageError } from '../../model/errors.ts';
import type { LocalBus } from './local-bus.ts';

/** What to do to deliveries; everything left out stays clean. */
export type ChaosOptions = {
  /** Probability 0..1 that an event is delivered again: twice or three times in all. */
  duplicate?: number;
  /** Window size: events published in the same tick are delivered shuffled within windows of this many. */
  reorder?: number;
  /** Each delivery is held back a random 0..delayMs milliseconds. */
  delayMs?: number;
  /** Seed of the generator behind every choice above; random when absent. */
  seed?: number;
  /** Crash the engine at the N-th processed event (implemented by the engine, not the bus). */
  crashAt?: number;
};

/** Values that bare names in a --chaos list stand for. */
export const CHAOS_DEFAULTS = { duplicate: 1, reorder: 16, delayMs: 10 } as const;

const ITEMS = ['duplicate[=P]', 'reorder[=N]', 'delay[=MS]', 'seed=N', 'crash-at=N'];
const MAX_SEED = 0xffff_ffff;

/**
 * Parses `duplicate,reorder,delay` with optional values (`duplicate=0.5,reorder=32,delay=20,
 * seed=7,crash-at=100`). Bare `duplicate` duplicates every event, bare `reorder` shuffles
 * windows of 16, bare `delay` holds events up to 10 ms. Throws UsageError naming the bad item.
 */
export function parseChaos(spec: string): ChaosOptions {
  const out: ChaosOptions = {};
  const seen = new Set<string>();
  const items = spec.split(',').map((s) => s.trim());
  if (spec.trim() === '') throw new UsageError(`empty chaos list: name at least one of ${ITEMS.join(', ')}`);
  for (const item of items) {
    if (item === '') throw new UsageError(`empty item in chaos list "${spec}" (items are separated by single commas)`);
    const eq = item.indexOf('=');
    const name = (eq < 0 ? item : item.slice(0, eq)).trim();
    const raw = eq < 0 ? undefined : item.slice(eq + 1).trim();
    if (seen.has(name)) throw new UsageError(`chaos item "${name}" is given twice in "${spec}"`);
    seen.add(name);
    switch (name) {
      case 'duplicate':
        out.duplicate = raw === undefined ? CHAOS_DEFAULTS.duplicate : number(item, raw, 0, 1, false);
        break;
      case 'reorder':
        out.reorder = raw === undefined ? CHAOS_DEFAULTS.reorder : number(item, raw, 1, Number.MAX_SAFE_INTEGER, true);
        break;
      case 'delay':
        out.delayMs = raw === undefined ? CHAOS_DEFAULTS.delayMs : number(item, raw, 0, 3_600_000, false);
        break;
      case 'seed':
        out.seed = number(item, needed(name, raw), 0, MAX_SEED, true);
        break;
      case 'crash-at':
        out.crashAt = number(item, needed(name, raw), 1, Number.MAX_SAFE_INTEGER, true);
        break;
      default:
        throw new UsageError(`unknown chaos item "${item}" (valid: ${ITEMS.join(', ')})`);
    }
  }
  return out;
}

/** Formats options as a --chaos list that parseChaos reads back to the same options. */
export function formatChaos(options: ChaosOptions): string {
  const parts: string[] = [];
  if (options.duplicate !== undefined) parts.push(`duplicate=${options.duplicate}`);
  if (options.reorder !== undefined) parts.push(`reorder=${options.reorder}`);
  if (options.delayMs !== undefined) parts.push(`delay=${options.delayMs}`);
  if (options.seed !== undefined) parts.push(`seed=${options.seed}`);
  if (options.crashAt !== undefined) parts.push(`crash-at=${options.crashAt}`);
  return parts.join(',');
}

/** A fresh random seed, for runs that did not name one (print it to replay the run). */
export function randomSeed(): number {
  return Math.floor(Math.random() * (MAX_SEED + 1));
}

/**
 * A small seeded generator (mulberry32) returning floats in [0, 1). Not for cryptography; for
 * replaying a failing chaos run bit for bit.
 */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Wraps a local bus so that its deliveries suffer the given faults. Publishing stages copies of
 * each event (1, or 2–3 with probability `duplicate`; copies are structured clones with the
 * same id, as a redelivery would be), each after a random delay; every tick's staged copies
 * are shuffled in windows of `reorder` and handed to the wrapped bus. `idle()` waits for
 * delayed copies too.
 */
export function withChaos(inner: LocalBus, options: ChaosOptions): LocalBus {
  const random = createRandom(options.seed ?? randomSeed());
  const duplicate = options.duplicate ?? 0;
  const window = Math.max(1, Math.floor(options.reorder ?? 1));
  const delayMs = Math.max(0, options.delayMs ?? 0);
  let staged: EventEnvelope[] = [];
  let flushing = false;
  // Copies published but not yet handed to the wrapped bus (staged or waiting on a timer).
  let held = 0;
  let published = 0;
  let duplicated = 0;
  let waiters: Array<() => void> = [];

  // Runs only from timers and setImmediate, never from a microtask: idle() relies on that.
  function flush(): void {
    flushing = false;
    const batch = staged;
    staged = [];
    shuffleWindows(batch, window, random);
    held -= batch.length;
    void inner.publish(batch);
    const w = waiters;
    waiters = [];
    for (const resolve of w) resolve();
  }

  function stage(event: EventEnvelope): void {
    staged.push(event);
    if (!flushing) {
      flushing = true;
      setImmediate(flush);
    }
  }

  return {
    async publish(events) {
      published += events.length;
      for (const event of events) {
        const copies = duplicate > 0 && random() < duplicate ? (random() < 0.5 ? 2 : 3) : 1;
        duplicated += copies - 1;
        for (let i = 0; i < copies; i++) {
          // The first copy is the published object itself: the engine keys state by identity.
          const copy = i === 0 ? event : redelivery(event);
          held++;
          const ms = delayMs > 0 ? Math.floor(random() * (delayMs + 1)) : 0;
          if (ms > 0) setTimeout(stage, ms, copy);
          else stage(copy);
        }
      }
    },
    subscribe: (pattern, handler) => inner.subscribe(pattern, handler),
    async idle() {
      for (;;) {
        await inner.idle();
        // Copies reach the wrapped bus only from macrotasks, so none slipped in since it went idle.
        if (held === 0) return;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    // Copies held back (delayed, staged) reach the wrapped bus later, in any order: only a quiet bus has handed them all.
    flushed() {
      return this.idle();
    },
    get published() {
      return published;
    },
    get delivered() {
      return inner.delivered;
    },
    get duplicated() {
      return duplicated;
    },
    get subscribers() {
      return inner.subscribers;
    },
  };
}

function shuffleWindows<T>(items: T[], window: number, random: () => number): void {
  if (window < 2) return;
  for (let start = 0; start < items.length; start += window) {
    const end = Math.min(items.length, start + window);
    // Fisher–Yates within [start, end).
    for (let i = end - 1; i > start; i--) {
      const j = start + Math.floor(random() * (i - start + 1));
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
  }
}

function redelivery(event: EventEnvelope): EventEnvelope {
  try {
    return structuredClone(event);
  } catch {
    // Not cloneable (a function in the detail): the redelivery shares the detail instead.
    return { ...event };
  }
}

function needed(name: string, raw: string | undefined): string {
  if (raw === undefined) throw new UsageError(`chaos item "${name}" needs a value (${name}=N)`);
  return raw;
}

function number(item: string, raw: string, min: number, max: number, integer: boolean): number {
  const n = raw === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const kind = integer ? 'a whole number' : 'a number';
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`chaos item "${item}": the value must be ${kind} ${range}`);
  }
  return n;
}
