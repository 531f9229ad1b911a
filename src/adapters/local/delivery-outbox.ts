/**
 * The outbox of subscription deliveries: every (subscription, event) pair a batch matched, kept
 * until it is delivered or dead-lettered. On SQLite (sqlite-outbox.ts) the pairs are written in the transaction of
 * the batch that processed the event, so a crash loses none and a redelivered event (same id)
 * adds none: deliveries are at-least-once, like EventBridge's, and never silently dropped.
 */
import type { EventEnvelope } from '../../model/events.ts';

/** One delivery: which subscription gets which event, and where its retries stand. */
export type Delivery = {
  subscription: string;
  event: EventEnvelope;
  /** Attempts made so far. */
  attempt: number;
  /** When the next attempt is due (ms since the epoch). */
  dueAt: number;
  lastError?: string;
};

/** Where deliveries wait. Writes join the open batch; `commit()` makes them durable. */
export interface DeliveryOutbox {
  /** Adds deliveries; returns those that were new (an event id already seen is ignored). */
  enqueue(deliveries: readonly Delivery[]): Delivery[];
  /** Deliveries neither delivered nor dead, oldest first. */
  pending(): Delivery[];
  /** The delivery succeeded. */
  delivered(d: Delivery): void;
  /** The delivery failed and will be tried again at `d.dueAt`. */
  reschedule(d: Delivery): void;
  /** The delivery gave up (the caller dead-letters the event). */
  dead(d: Delivery): void;
  /** Forgets finished deliveries older than `before` (ms); returns how many. */
  prune(before: number): number;
  commit(): void;
}

const key = (subscription: string, eventId: string) => `${subscription}\0${eventId}`;

/** An in-memory outbox (`--memory` engines): same dedup, nothing survives the process. */
export function createMemoryOutbox(): DeliveryOutbox {
  const open = new Map<string, Delivery>();
  // Finished keys, for dedup of late duplicates; bounded like the engine's other memories.
  const finished = new Map<string, number>();
  const finish = (d: Delivery) => {
    const k = key(d.subscription, d.event.id);
    open.delete(k);
    finished.set(k, Date.now());
    if (finished.size > 100_000) finished.delete(finished.keys().next().value!);
  };
  return {
    enqueue(deliveries) {
      const added: Delivery[] = [];
      for (const d of deliveries) {
        const k = key(d.subscription, d.event.id);
        if (open.has(k) || finished.has(k)) continue;
        open.set(k, { ...d });
        added.push(d);
      }
      return added;
    },
    pending: () => [...open.values()].map((d) => ({ ...d })),
    delivered: finish,
    reschedule(d) {
      open.set(key(d.subscription, d.event.id), { ...d });
    },
    dead: finish,
    prune(before) {
      let n = 0;
      for (const [k, at] of finished) if (at < before && finished.delete(k)) n++;
      return n;
    },
    commit() {},
  };
}
