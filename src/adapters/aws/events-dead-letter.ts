/**
 * The body of a message to the events DLQ: `{reason, event}` whenever that fits in one SQS
 * message. An event near EventBridge's 256 KB entry limit (a producer other than joinflow), or
 * one the processor read whole from its claim check, does not fit beside its reason, and SQS
 * would refuse the message: the event would be lost. Such an event is put in the stage's bucket
 * and the message names the object instead; without a bucket, the message keeps as much of the
 * event's JSON as fits and says how much is cut.
 */
import { createHash } from 'node:crypto';
import type { BlobStore } from '../../ports.ts';
import { cutText, MAX_REASON_BYTES, SQS_MESSAGE_BYTES } from './dead-letter-queue.ts';

/** Where an oversized event goes in the blob store (under its `joinflow/` prefix, which the bucket's lifecycle rule expires). */
export const DEAD_LETTER_BLOB_PREFIX = 'dead-letters/';

/** Routing fields of an event's detail the message keeps when the event itself is elsewhere or cut. */
const SUMMARY_FIELDS = ['workflow', 'runId', 'step', 'item', 'attempt'] as const;

/** A summary string longer than this is cut: the summary is for finding the event, not for holding it. */
const SUMMARY_STRING_CHARS = 256;

/** What the events DLQ gets for an event that cannot be processed, and where the event went if not inline. */
export type EventsDeadLetter = { body: string; eventRef?: string; eventBytes?: number };

/**
 * The message for `event`, dead-lettered for `reason`, in at most SQS's 262,144 bytes (the stack's
 * queues keep SQS's default MaximumMessageSize; the message has no attributes). In turn: `{reason,
 * event}`; the same with a reason over 2,000 bytes cut (the log line has it whole); `{reason,
 * eventRef, eventBytes, eventSummary}` with the event's JSON put in `blobs` under a key that
 * names its content (a redelivered dead letter puts the same object); without `blobs`, `{reason,
 * eventBytes, eventSummary, eventCut, eventStart}`: the first bytes of the event's JSON, and a
 * sentence saying how many are cut. A failed put is thrown: the invocation is retried.
 */
export async function eventsDeadLetter(event: unknown, reason: string, blobs: BlobStore | undefined): Promise<EventsDeadLetter> {
  const whole = JSON.stringify({ reason, event });
  if (fits(whole)) return { body: whole };
  const said = cutText(reason, MAX_REASON_BYTES, (left) => `... (${left} more bytes: the log line "dead letter: ..." has it whole)`);
  const inline = JSON.stringify({ reason: said, event });
  if (fits(inline)) return { body: inline };
  const json = JSON.stringify(event) ?? 'null';
  const eventBytes = Buffer.byteLength(json);
  const eventSummary = summary(event);
  if (blobs) {
    const digest = createHash('sha256').update(json).digest('hex').slice(0, 32);
    const eventRef = await blobs.put(`${DEAD_LETTER_BLOB_PREFIX}${digest}.json`, json);
    return { body: JSON.stringify({ reason: said, eventRef, eventBytes, eventSummary }), eventRef, eventBytes };
  }
  return { body: cutEvent(json, eventBytes, said, eventSummary), eventBytes };
}

function fits(body: string): boolean {
  return Buffer.byteLength(body) <= SQS_MESSAGE_BYTES;
}

/** The message keeping the start of the event's JSON, as much as fits once escaped in the body. */
function cutEvent(json: string, eventBytes: number, reason: string, eventSummary: Record<string, unknown>): string {
  const body = (kept: number, eventStart: string) => JSON.stringify({
    reason,
    eventBytes,
    eventSummary,
    eventCut: `the event is ${eventBytes} bytes as JSON, too large for an SQS message beside its reason, and no bucket is configured to keep it: eventStart holds its first ${kept} bytes, the other ${eventBytes - kept} are cut`,
    eventStart,
  });
  let room = SQS_MESSAGE_BYTES - Buffer.byteLength(body(eventBytes, ''));
  for (;;) {
    const start = cutText(json, Math.max(0, room), () => '');
    const kept = Buffer.byteLength(start);
    const text = body(kept, start);
    const over = Buffer.byteLength(text) - SQS_MESSAGE_BYTES;
    if (over <= 0 || kept === 0) return text;
    // Quotes and control characters take more room once escaped: keep less, by what is over.
    room = kept - over;
  }
}

/** The event's envelope fields and routing fields of its detail, strings cut short: enough to tell which event it was. */
function summary(event: unknown): Record<string, unknown> {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return { type: Array.isArray(event) ? 'array' : typeof event };
  const e = event as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of ['id', 'source', 'detail-type', 'time']) put(out, name, e[name]);
  const detail = e['detail'];
  if (typeof detail === 'object' && detail !== null && !Array.isArray(detail)) {
    const d: Record<string, unknown> = {};
    for (const name of SUMMARY_FIELDS) put(d, name, (detail as Record<string, unknown>)[name]);
    out['detail'] = d;
  }
  return out;
}

function put(into: Record<string, unknown>, name: string, value: unknown): void {
  if (typeof value === 'number' || typeof value === 'boolean') into[name] = value;
  else if (typeof value === 'string') into[name] = value.length > SUMMARY_STRING_CHARS ? `${value.slice(0, SUMMARY_STRING_CHARS)}... (${value.length - SUMMARY_STRING_CHARS} more characters)` : value;
}
