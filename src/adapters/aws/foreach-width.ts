/**
 * The widest forEach the AWS processor dispatches (ProcessorDeps.widest). One processor
 * invocation sends every item of a forEach, each with its own call, within its 50-second
 * timeout (at most 50 s: deploy/leases.cjs); an invocation that runs out of time is retried and
 * its takeover sends the items without results again, so a forEach too wide to send in time
 * would run items twice and end in the dead-letter queue with its run still running. A wider
 * one fails its step at once (ForEachTooWide), saying why and how to raise the limit.
 */
import { JoinflowError } from '../../model/errors.ts';
import type { PlanStep } from '../../model/plan.ts';

/**
 * AWS Batch accepts at most 50 SubmitJob calls per second per account, a quota that cannot be
 * raised: 1,000 jobs take 20 s of the processor's 50 at best, and other runs share the quota.
 */
export const BATCH_ITEMS = 1_000;

/** Lambda invocations and SQS messages (function and container steps) have no such fixed rate. */
export const OTHER_ITEMS = 10_000;

/** The environment variable that overrides the defaults (serverless.yml's custom.joinflow.maxForEachItems). */
export const MAX_FOREACH_ENV = 'JOINFLOW_MAX_FOREACH_ITEMS';

/** The widest forEach of a step, by where its items run. */
export function awsWidest(env: NodeJS.ProcessEnv = process.env): (step: PlanStep) => { items: number; why: string } {
  const raw = env[MAX_FOREACH_ENV];
  if (raw !== undefined && raw !== '') {
    const items = Number(raw);
    if (!Number.isSafeInteger(items) || items < 1) throw new JoinflowError('CONFIG', `environment variable ${MAX_FOREACH_ENV} must be a whole number of items, 1 or more, got ${JSON.stringify(raw)}`);
    return () => ({ items, why: `custom.joinflow.maxForEachItems (${MAX_FOREACH_ENV}); split the items over several runs, or group them into fewer, larger items` });
  }
  const batch = {
    items: BATCH_ITEMS,
    why: 'AWS Batch takes at most 50 job submissions a second per account, and the processor sends every item within its 50-second timeout; group the items into fewer, larger ones, or set custom.joinflow.maxForEachItems in serverless.yml if the processor can send more within that time',
  };
  const other = {
    items: OTHER_ITEMS,
    why: 'the processor sends every item, one call each, within its 50-second timeout; group the items into fewer, larger ones, or set custom.joinflow.maxForEachItems in serverless.yml if the processor can send more within that time',
  };
  const lanes = {
    items: OTHER_ITEMS,
    why: 'a Batch step with maxConcurrency submits only that many jobs at once, so it may be as wide as the other steps, whose processor sends every item within its 50-second timeout; group the items into fewer, larger ones, or set custom.joinflow.maxForEachItems in serverless.yml if the processor can send more within that time',
  };
  // A Batch step with maxConcurrency n submits n jobs in its dispatch, and one more as each item
  // ends (runtime/window.ts): the 50 submissions a second bound n, not its width.
  return (step) => (step.executor.type !== 'batch' ? other : (step.forEach?.maxConcurrency ?? Infinity) <= BATCH_ITEMS ? lanes : batch);
}
