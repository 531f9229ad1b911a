/**
 * Subscriptions, the pure part: which subscriptions an event matches, what a workflow target
 * starts, how long a failed delivery waits, and whether an HTTP answer is worth retrying. The
 * embedded engine's delivery loop and the AWS processor both build on these.
 */
import { createHash } from 'node:crypto';
import type { Problem } from '../model/errors.ts';
import { DetailType, JOINFLOW_SOURCE, type EventEnvelope } from '../model/events.ts';
import type { DeliveryRetry, Subscription, WorkflowTarget } from '../model/subscriptions.ts';
import { compilePattern, MAX_PATTERN_LENGTH, PatternError } from '../model/pattern.ts';

/**
 * Checks every subscription's pattern against the EventBridge language and its 2,048-character
 * limit (which applies to the scoped pattern: that is what becomes the rule on AWS). `where` maps
 * a subscription to the path of its declaration, for the problem messages.
 */
export function checkSubscriptions(subs: readonly Subscription[], where: (s: Subscription) => string): Problem[] {
  const problems: Problem[] = [];
  for (const s of subs) {
    try {
      compilePattern(s.pattern, { maxLength: MAX_PATTERN_LENGTH });
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      const at = error.path ? `${where(s)}.pattern.${error.path}` : `${where(s)}.pattern`;
      problems.push({ path: at, message: error.message.replace(/^event pattern (at \S+)?: /, '') });
    }
  }
  const seen = new Set<string>();
  for (const s of subs) {
    if (seen.has(s.name)) problems.push({ path: where(s), message: `a second subscription is named "${s.name}": names must be unique` });
    seen.add(s.name);
  }
  return problems;
}

/** Compiles the subscriptions once; the result lists those an event matches, in declaration order. */
export function createSubscriptionMatcher(subs: readonly Subscription[]): (event: unknown) => Subscription[] {
  const compiled = subs.map((s) => ({ s, test: compilePattern(s.pattern) }));
  return (event) => {
    const out: Subscription[] = [];
    for (const c of compiled) if (c.test(event)) out.push(c.s);
    return out;
  };
}

/** The wait before delivery attempt `attempt + 1` (exponential backoff, capped). */
export function deliveryDelay(retry: DeliveryRetry, attempt: number): number {
  return Math.min(retry.backoffMs * retry.factor ** (attempt - 1), retry.maxDelayMs);
}

/**
 * What an HTTP status means for a webhook delivery: 2xx delivered; 408, 429 and 5xx are worth
 * another attempt (the receiver is busy or down); any other status will not change on retry.
 */
export function webhookVerdict(status: number): 'delivered' | 'retry' | 'reject' {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'reject';
}

/**
 * The run id a workflow target gives the run an event starts: derived from the subscription and
 * the event id, so that a redelivered event (at-least-once, locally and on AWS) starts no second
 * run. Readable when it fits the run id alphabet, a hash otherwise.
 */
export function deliveryRunId(subscription: string, eventId: string): string {
  const plain = `${subscription}:${eventId}`;
  if (plain.length <= 128 && /^[A-Za-z0-9_.:-]+$/.test(plain)) return plain;
  const hash = createHash('sha256').update(subscription).update('\0').update(eventId).digest('hex').slice(0, 32);
  return `${subscription.slice(0, 64).replace(/[^A-Za-z0-9_.-]/g, '_')}:${hash}`;
}

/** Whether `runId` is one that {@link deliveryRunId} gives a run `subscription` starts (either form). */
export function startedBySubscription(runId: string, subscription: string): boolean {
  if (runId.startsWith(`${subscription}:`)) return true;
  const short = `${subscription.slice(0, 64).replace(/[^A-Za-z0-9_.-]/g, '_')}:`;
  return runId.length === short.length + 32 && runId.startsWith(short) && /^[0-9a-f]{32}$/.test(runId.slice(short.length));
}

/** The part of `event` a dotted `inputPath` ("$", "$.detail.output") selects; null when absent. */
export function selectInput(event: unknown, inputPath: string): unknown {
  let value: unknown = event;
  for (const key of inputPath.split('.').slice(1)) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return null;
    value = (value as Record<string, unknown>)[key];
  }
  return value === undefined ? null : value;
}

/** The Run Requested event a workflow target turns a matching event into. */
export function runRequestFor(
  subscription: string,
  target: WorkflowTarget,
  event: EventEnvelope,
  options: { id: string; time: string },
): EventEnvelope {
  return {
    id: options.id,
    source: JOINFLOW_SOURCE,
    'detail-type': DetailType.RunRequested,
    time: options.time,
    detail: {
      workflow: target.workflow,
      runId: deliveryRunId(subscription, event.id),
      input: selectInput(event, target.inputPath),
      subscription,
    },
  };
}
