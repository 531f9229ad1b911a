/**
 * The trigger processor Lambda. Each EventBridge rule is one trigger; its target's
 * InputTransformer hands over `{trigger: "<workflow>/<triggerId>", event}` (or `{workflow, event}`
 * for rules grouped past the per-bus rule quota, which then match every trigger of the workflow).
 * A thrown error fails the invocation so that Lambda retries it: at-least-once, by design.
 */
import { createHash } from 'node:crypto';
import { JoinflowError } from '../../../model/errors.ts';
import { runRequestFor } from '../../../runtime/subscriptions.ts';
import { toEnvelope, resolveClaimChecks } from '../eventbridge-bus.ts';
import { carryOut } from '../effects.ts';
import { log } from '../log.ts';
import { beginInvocation, wiring, type LambdaContext } from '../wiring.ts';

/**
 * What a rule target passes in. `subscription`: a subscription rule whose target is a workflow —
 * the event starts a run (deploy/subscriptions.cjs).
 */
export type ProcessorInput = {
  trigger?: string;
  workflow?: string;
  /** From the rule that takes Run Requested for workflows the stage does not have (dead-lettered). */
  unrouted?: boolean;
  subscription?: { name: string; workflow: string; inputPath: string };
  event: unknown;
};

/** Errors of an event that no retry can read (toEnvelope, resolveClaimChecks, the blob store). */
const UNREADABLE = new Set(['MALFORMED_EVENT', 'CLAIM_CHECK_INVALID', 'INVALID_BLOB_REF', 'BLOB_NOT_FOUND']);

/** Lambda entry point. */
export async function handler(input: ProcessorInput, context?: LambdaContext): Promise<{ effects: number }> {
  beginInvocation(context);
  if (input === null || typeof input !== 'object' || !('event' in input)) {
    throw new Error(`processor: its input is {trigger or workflow, event} from a rule's InputTransformer, not ${JSON.stringify(input)?.slice(0, 200)}`);
  }
  const w = wiring();
  const stale = input.trigger === undefined ? undefined : staleRule(input.trigger, input.event, w.processor);
  if (stale) {
    // A rule no deployed plan has (or of another workflow than the event's) would act on nothing: said, not dropped.
    await carryOut([{ type: 'dead-letter', event: input.event, reason: stale }], w.effects);
    return { effects: 0 };
  }
  let envelope;
  try {
    envelope = toEnvelope(input.event as Parameters<typeof toEnvelope>[0]);
    if (w.blobs) envelope = await resolveClaimChecks(envelope, w.blobs);
  } catch (error) {
    // Not an event, or its claim-checked payload gone or damaged: every retry would fail the same
    // way, so it is dead-lettered at once, with the reason. S3 unreachable or throttled is thrown.
    if (!(error instanceof JoinflowError && UNREADABLE.has(error.code))) throw error;
    await carryOut([{ type: 'dead-letter', event: input.event, reason: error.message }], w.effects);
    return { effects: 0 };
  }
  if (input.subscription) {
    // The same Run Requested as on the embedded engine: its run id comes from the subscription
    // and the event id, so a redelivered event (EventBridge retries) starts no second run.
    const { name, workflow, inputPath } = input.subscription;
    const id = createHash('sha256').update(`${name}\0${envelope.id}`).digest('hex').slice(0, 32);
    envelope = runRequestFor(name, { type: 'workflow', workflow, inputPath }, envelope, { id, time: envelope.time });
  }
  const only = input.trigger === undefined ? undefined : input.trigger.slice(input.trigger.indexOf('/') + 1);
  const detail = envelope.detail as { runId?: string; step?: string };
  let effects;
  try {
    effects = await w.processor.process(envelope, only);
  } catch (error) {
    // A run input too large for its item (from a producer other than joinflow start, which
    // refuses it), or a stored result read before any trigger fired (the list of a forEach, which
    // a failed item is checked against) whose object is gone: every retry would fail the same
    // way, so it is dead-lettered at once, with the reason. (A fire that cannot read its results
    // is dead-lettered by the processor itself: runtime/unreadable.ts.)
    if (!(error instanceof JoinflowError && (error.code === 'INPUT_TOO_LARGE' || error.code === 'RESULT_UNREADABLE'))) throw error;
    await carryOut([{ type: 'dead-letter', event: input.event, reason: error.message }], w.effects);
    return { effects: 0 };
  }
  log('info', 'processed', { trigger: input.trigger ?? (input.subscription ? `subscription ${input.subscription.name}` : input.unrouted ? 'unrouted' : `${input.workflow}/*`), detailType: envelope['detail-type'], ...(detail.runId ? { runId: detail.runId } : {}), ...(detail.step ? { step: detail.step } : {}), effects: effects.length });
  await w.store.commit();
  await carryOut(effects, w.effects);
  return { effects: effects.length };
}

/** Why a rule's trigger cannot act on its event, if it cannot: not a trigger of the deployed plans, or of another workflow. */
function staleRule(trigger: string, event: unknown, processor: { plan(workflow: string): { triggers: ReadonlyArray<{ id: string }> } | undefined }): string | undefined {
  const slash = trigger.indexOf('/');
  const workflow = trigger.slice(0, Math.max(0, slash));
  const plan = slash > 0 ? processor.plan(workflow) : undefined;
  if (!plan?.triggers.some((t) => t.id === trigger.slice(slash + 1))) return `the rule's trigger "${trigger}" is not in the deployed plans (a rule left from an earlier deploy?)`;
  const of = (event as { detail?: { workflow?: unknown } } | null)?.detail?.workflow;
  if (of !== workflow) return `the rule's trigger "${trigger}" belongs to workflow "${workflow}", and the event to ${typeof of === 'string' ? `"${of}"` : 'none'}`;
  return undefined;
}
