/**
 * The trigger processor Lambda. Each EventBridge rule is one trigger; its target's
 * InputTransformer hands over `{trigger: "<workflow>/<triggerId>", event}` (or `{workflow, event}`
 * for rules grouped past the per-bus rule quota, which then match every trigger of the workflow).
 * A thrown error fails the invocation so that Lambda retries it: at-least-once, by design.
 */
import { createHash } from 'node:crypto';
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

/** Lambda entry point. */
export async function handler(input: ProcessorInput, context?: LambdaContext): Promise<{ effects: number }> {
  beginInvocation(context);
  const w = wiring();
  let envelope = toEnvelope(input.event as Parameters<typeof toEnvelope>[0]);
  if (w.blobs) envelope = await resolveClaimChecks(envelope, w.blobs);
  if (input.subscription) {
    // The same Run Requested as on the embedded engine: its run id comes from the subscription
    // and the event id, so a redelivered event (EventBridge retries) starts no second run.
    const { name, workflow, inputPath } = input.subscription;
    const id = createHash('sha256').update(`${name}\0${envelope.id}`).digest('hex').slice(0, 32);
    envelope = runRequestFor(name, { type: 'workflow', workflow, inputPath }, envelope, { id, time: envelope.time });
  }
  const only = input.trigger === undefined ? undefined : input.trigger.slice(input.trigger.indexOf('/') + 1);
  const detail = envelope.detail as { runId?: string; step?: string };
  const effects = await w.processor.process(envelope, only);
  log('info', 'processed', { trigger: input.trigger ?? (input.subscription ? `subscription ${input.subscription.name}` : input.unrouted ? 'unrouted' : `${input.workflow}/*`), detailType: envelope['detail-type'], ...(detail.runId ? { runId: detail.runId } : {}), ...(detail.step ? { step: detail.step } : {}), effects: effects.length });
  await w.store.commit();
  await carryOut(effects, w.effects);
  return { effects: effects.length };
}
