/**
 * EventBus on an Amazon EventBridge custom bus. Publishing is PutEvents within its quotas (10
 * entries and 256 KB per request); events too big for an entry are claim-checked into a BlobStore.
 * Receiving is not a method here: on AWS a subscription is an EventBridge rule whose target is a
 * Lambda, which turns what it receives back into envelopes with `toEnvelope` + `resolveClaimChecks`.
 *
 * The event id: EventBridge assigns its own id to every entry and offers no field for ours, so the
 * joinflow id travels in the detail as `eventId` (set only when the detail has none: a producer's
 * own `eventId` wins), and `toEnvelope` moves it back to the envelope's `id` on receipt. Nothing
 * counts on the id for correctness (joins key arrivals by run/step/item), but traces and
 * idempotent consumers should see the same id locally and on AWS.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { JoinflowError } from '../../model/errors.ts';
import { EnvelopeSchema, isEnvelope, type EventEnvelope } from '../../model/events.ts';
import type { BlobStore, EventBus } from '../../ports.ts';

/**
 * The code of a publish that failed for the bus, not for the events (a rejected request, throttling
 * the SDK's retries could not ride out, entries still failing after maxAttempts): publishing again
 * later may well succeed.
 */
export const PUT_EVENTS_FAILED = 'PUT_EVENTS_FAILED';

/** PutEvents quota: entries per request. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
/** PutEvents quota: total size of the entries of one request, as `putEventsEntrySize` counts it. */
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

/** Options of createEventBridgeBus. */
export type EventBridgeBusOptions = {
  client: EventBridgeClient;
  /** Name or ARN of the custom bus. */
  busName: string;
  /** Where oversized payloads go (S3 on AWS). Without one, an oversized event is an error. */
  blobs?: BlobStore;
  /** Entries bigger than this are claim-checked; below the 256 KB quota so a request holds more than one. */
  maxEntryBytes?: number;
  /** PutEvents attempts per entry (the first send included) before giving up. */
  maxAttempts?: number;
  /** Backoff before retry n is baseDelayMs * 2^(n-1), with jitter in its upper half. */
  baseDelayMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
};

/** An event as EventBridge delivers it to a Lambda target. */
export type EventBridgeEvent = {
  version?: string;
  id: string;
  source: string;
  'detail-type': string;
  time: string;
  account?: string;
  region?: string;
  resources?: string[];
  detail: unknown;
};

/** How many PutEvents requests are in flight at once: faster big fan-outs, still gentle on the TPS quota. */
const CONCURRENCY = 4;
/** Top-level detail fields a claim-checked detail keeps (scalars up to this size), so rules still match it. */
const MAX_ROUTING_FIELD_CHARS = 256;

const utf8 = (s: string | undefined): number => (s === undefined ? 0 : Buffer.byteLength(s, 'utf8'));

/** An entry's size as EventBridge counts it: Time is 14 bytes; Source, DetailType, Detail, Resources their UTF-8 bytes. */
export function putEventsEntrySize(entry: PutEventsRequestEntry): number {
  return (entry.Time ? 14 : 0) + utf8(entry.Source) + utf8(entry.DetailType) + utf8(entry.Detail) +
    (entry.Resources ?? []).reduce((n, r) => n + utf8(r), 0);
}

type Failure = { entry: PutEventsRequestEntry; code: string; message: string };

/** An EventBus that publishes to an EventBridge custom bus; subscriptions are rules, deployed elsewhere. */
export function createEventBridgeBus(options: EventBridgeBusOptions): EventBus {
  const { client, busName, blobs, maxEntryBytes = 200_000, maxAttempts = 5, baseDelayMs = 100 } = options;
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  if (maxEntryBytes > PUT_EVENTS_MAX_BYTES) {
    throw new JoinflowError('INVALID_OPTIONS', `maxEntryBytes ${maxEntryBytes} exceeds the PutEvents request limit of ${PUT_EVENTS_MAX_BYTES} bytes; such an entry could never be sent`);
  }
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new JoinflowError('INVALID_OPTIONS', `maxAttempts must be an integer >= 1, got ${maxAttempts}`);
  }

  const entryOf = (event: EventEnvelope, detail: Record<string, unknown>): PutEventsRequestEntry => {
    const time = new Date(event.time);
    return {
      Source: event.source,
      DetailType: event['detail-type'],
      Detail: JSON.stringify(withEventId(detail, event.id)),
      EventBusName: busName,
      ...(event.resources === undefined || event.resources.length === 0 ? {} : { Resources: event.resources }),
      // An unparseable time would fail the whole request; without Time, EventBridge stamps receipt time.
      ...(Number.isNaN(time.getTime()) ? {} : { Time: time }),
    };
  };

  /** The entry for one event, claim-checking its output (or, failing that, its whole detail) when too big. */
  async function toEntry(event: EventEnvelope): Promise<PutEventsRequestEntry> {
    const full = entryOf(event, event.detail);
    const size = putEventsEntrySize(full);
    if (size <= maxEntryBytes) return full;
    if (!blobs) {
      throw new JoinflowError(
        'PAYLOAD_TOO_LARGE',
        `event ${event.id} ("${event['detail-type']}") is ${size} bytes, over the ${maxEntryBytes}-byte limit of an EventBridge entry, ` +
          'and no BlobStore is configured to claim-check it: pass `blobs` (e.g. createS3BlobStore) to createEventBridgeBus',
      );
    }
    // One key per event: if the output alone does not shrink the entry enough, the whole detail
    // overwrites it, so no orphan blob is left behind.
    const key = `events/${event.id}.json`;
    const { output, ...rest } = event.detail;
    if (output !== undefined) {
      const entry = entryOf(event, { ...rest, outputRef: await blobs.put(key, JSON.stringify(output)) });
      if (putEventsEntrySize(entry) <= maxEntryBytes) return entry;
    }
    const entry = entryOf(event, { ...routingFields(event.detail), detailRef: await blobs.put(key, JSON.stringify(event.detail)) });
    if (putEventsEntrySize(entry) <= maxEntryBytes) return entry;
    throw new JoinflowError('PAYLOAD_TOO_LARGE', `event ${event.id} ("${event['detail-type']}") is still over ${maxEntryBytes} bytes after claim-checking its detail; its top-level fields are too many`);
  }

  /** Sends one request; returns the entries EventBridge did not accept. */
  async function send(batch: PutEventsRequestEntry[]): Promise<Failure[]> {
    let res;
    try {
      res = await client.send(new PutEventsCommand({ Entries: batch }));
    } catch (err) {
      // A rejected request (validation, auth, throttling the SDK's own retries could not ride out)
      // leaves some batches sent and others not; the caller republishes, and duplicates are fine.
      const e = err instanceof Error ? err : new Error(String(err));
      throw new JoinflowError(PUT_EVENTS_FAILED, `PutEvents to bus "${busName}" was rejected: ${e.name}: ${e.message}`, { cause: err });
    }
    const failures: Failure[] = [];
    batch.forEach((entry, i) => {
      const r = res.Entries?.[i];
      if (r?.ErrorCode) failures.push({ entry, code: r.ErrorCode, message: r.ErrorMessage ?? '' });
    });
    // Response entries line up with request entries; if a response ever failed to say which ones
    // failed, resending the batch is safe (at-least-once) while dropping events is not.
    if ((res.FailedEntryCount ?? 0) > 0 && failures.length === 0) {
      return batch.map((entry) => ({ entry, code: 'UnknownFailure', message: `FailedEntryCount ${res.FailedEntryCount} without per-entry errors` }));
    }
    return failures;
  }

  /** Sends all entries in quota-sized requests, CONCURRENCY at a time; returns every failure in order. */
  async function sendAll(entries: PutEventsRequestEntry[]): Promise<Failure[]> {
    const batches = pack(entries);
    const results: Failure[][] = new Array(batches.length);
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const i = next++;
        results[i] = await send(batches[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, batches.length) }, worker));
    return results.flat();
  }

  return {
    async publish(events) {
      if (events.length === 0) return;
      // Build (and claim-check) every entry before sending any, so an unsendable event fails the
      // publish without half of the batch already on the bus.
      let pending = await Promise.all(events.map(toEntry));
      for (let attempt = 1; ; attempt++) {
        const failures = await sendAll(pending);
        if (failures.length === 0) return;
        if (attempt >= maxAttempts) {
          const first = failures[0]!;
          throw new JoinflowError(
            PUT_EVENTS_FAILED,
            `PutEvents to bus "${busName}": ${failures.length} of ${events.length} entries still failed after ${maxAttempts} attempts ` +
              `(first: ${first.code}: ${first.message}); check the bus quota and permissions, then publish again (duplicates are harmless)`,
          );
        }
        // Only failed entries go again: resending accepted ones would duplicate them for nothing.
        const ceiling = baseDelayMs * 2 ** (attempt - 1);
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
        pending = failures.map((f) => f.entry);
      }
    },

    subscribe() {
      throw new JoinflowError(
        'NOT_SUPPORTED',
        'EventBridgeBus cannot subscribe in-process: on AWS a subscription is an EventBridge rule (one per trigger, deployed by serverless.yml) ' +
          'whose target receives the events; use the local bus for in-process subscribers',
      );
    },
  };
}

/** Groups entries, in order, into requests of at most 10 entries and 256 KB. */
function pack(entries: PutEventsRequestEntry[]): PutEventsRequestEntry[][] {
  const batches: PutEventsRequestEntry[][] = [];
  let batch: PutEventsRequestEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = putEventsEntrySize(entry);
    if (batch.length === PUT_EVENTS_MAX_ENTRIES || (batch.length > 0 && bytes + size > PUT_EVENTS_MAX_BYTES)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

function withEventId(detail: Record<string, unknown>, id: string): Record<string, unknown> {
  return detail['eventId'] === undefined ? { ...detail, eventId: id } : detail;
}

/** The small scalar fields of a detail (workflow, runId, step, item, retrying...), which rule patterns match on. */
function routingFields(detail: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(detail)) {
    if (typeof v === 'number' || typeof v === 'boolean' || v === null || (typeof v === 'string' && v.length <= MAX_ROUTING_FIELD_CHARS)) kept[k] = v;
  }
  return kept;
}

function parseBlob(body: string, ref: string): unknown {
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new JoinflowError('CLAIM_CHECK_INVALID', `claim-checked payload "${ref}" is not valid JSON`, { cause: err });
  }
}

/**
 * Restores a claim-checked event: a detail with `detailRef` is replaced by the stored detail, one
 * with `outputRef` gets its `output` back. Other events are returned unchanged. Never mutates.
 */
export async function resolveClaimChecks(event: EventEnvelope, blobs: BlobStore): Promise<EventEnvelope> {
  const { detailRef, outputRef } = event.detail;
  if (typeof detailRef === 'string') {
    const detail = parseBlob(await blobs.get(detailRef), detailRef);
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
      throw new JoinflowError('CLAIM_CHECK_INVALID', `claim-checked detail "${detailRef}" is not a JSON object`);
    }
    return { ...event, detail: detail as Record<string, unknown> };
  }
  if (typeof outputRef === 'string') {
    const { outputRef: _ref, ...rest } = event.detail;
    return { ...event, detail: { ...rest, output: parseBlob(await blobs.get(outputRef), outputRef) } };
  }
  return event;
}

/**
 * Turns an event as EventBridge delivers it to a Lambda target into an EventEnvelope: the joinflow
 * id comes back from `detail.eventId` (EventBridge's own id when absent); account, region and
 * resources are dropped. Throws MALFORMED_EVENT, listing what is wrong, for anything else.
 */
export function toEnvelope(awsEvent: EventBridgeEvent): EventEnvelope {
  const raw = awsEvent as Partial<EventBridgeEvent> | null | undefined;
  let candidate: unknown = raw;
  if (typeof raw === 'object' && raw !== null) {
    const { eventId, ...detail } = (typeof raw.detail === 'object' && raw.detail !== null ? raw.detail : {}) as Record<string, unknown>;
    const hasId = typeof eventId === 'string' && eventId.length > 0;
    candidate = {
      id: hasId ? eventId : raw.id,
      source: raw.source,
      'detail-type': raw['detail-type'],
      time: raw.time,
      detail: typeof raw.detail === 'object' && raw.detail !== null && !Array.isArray(raw.detail) ? (hasId ? detail : raw.detail) : raw.detail,
    };
  }
  if (isEnvelope(candidate)) return candidate;
  const parsed = EnvelopeSchema.safeParse(candidate);
  const problems = parsed.success ? ['not an object'] : parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`);
  throw new JoinflowError('MALFORMED_EVENT', `not an EventBridge event joinflow can process: ${problems.join('; ')}`);
}
