/** Subscriptions for the CLI's engines (`run`, `dev`, `resume`): outbox, targets and logging. */
import type { Engine } from '../adapters/local/engine.ts';
import { createMemoryOutbox } from '../adapters/local/delivery-outbox.ts';
import type { DurableState } from '../adapters/local/durable-state.ts';
import { createSubscriptionDispatcher, type SubscriptionDispatcher } from '../adapters/local/subscription-dispatcher.ts';
import { createTargetRunner } from '../adapters/local/subscription-targets.ts';
import type { EventEnvelope } from '../model/events.ts';
import type { TriggerPlan } from '../model/plan.ts';
import type { Subscription } from '../model/subscriptions.ts';
import { loadConfigSubscriptions, projectSubscriptions } from '../adapters/local/subscription-files.ts';
import { compileFile, findWorkflowFile, listWorkflowFiles } from '../adapters/local/workflow-files.ts';
import path from 'node:path';

/**
 * A dispatcher whose `tap` can be handed to createEngine before the engine exists (the targets
 * need the engine to publish runs); `bind` connects it once the engine is there.
 */
export type SubscriptionHub = {
  /** Records the deliveries a batch causes; true when there were any (the batch must commit). */
  tap: (events: readonly EventEnvelope[]) => boolean;
  bind(engine: Engine): SubscriptionDispatcher | undefined;
  /** Runs that workflow targets started, in order. */
  readonly started: string[];
};

/** Creates the hub; with no subscriptions it does nothing at all. */
export function subscriptionHub(
  subs: readonly Subscription[],
  state: Pick<DurableState, 'log' | 'outbox'> | undefined,
  root: string,
  options: { always?: boolean } = {},
): SubscriptionHub {
  let dispatcher: SubscriptionDispatcher | undefined;
  const started: string[] = [];
  return {
    started,
    tap: (events) => dispatcher?.tap(events) ?? false,
    bind(engine) {
      // `always`: joinflow dev may gain subscriptions when its config is edited.
      if (subs.length === 0 && !options.always) return undefined;
      dispatcher = createSubscriptionDispatcher({
        subscriptions: subs,
        outbox: state ? state.outbox() : createMemoryOutbox(),
        deliver: createTargetRunner({
          root,
          publish: (events) => engine.publish(events),
          hasWorkflow: (w) => engine.hasWorkflow(w),
          onRunStarted: (runId) => started.push(runId),
        }),
        onDead: (d, reason) => {
          state?.log.deadLetter(d.event, reason, Date.now());
          process.stderr.write(`joinflow: dead letter: ${reason}\n`);
        },
        onAttempt: (d, result) => {
          if (result.status === 'delivered') return;
          process.stderr.write(`joinflow: ${d.subscription}: delivery attempt ${d.attempt} failed: ${result.error}\n`);
        },
      });
      dispatcher.start();
      return dispatcher;
    },
  };
}

/**
 * The subscriptions `joinflow run` serves: the project's, with the plans of the workflows their
 * targets start compiled too (returned, for the engine to register).
 */
export async function subscriptionsForRun(plan: TriggerPlan, root: string): Promise<{ subs: Subscription[]; plans: TriggerPlan[] }> {
  const declared = [...loadConfigSubscriptions(root), ...(plan.subscriptions ?? [])];
  const plans: TriggerPlan[] = [];
  const names = new Set([plan.workflow]);
  for (const s of declared) {
    if (s.target.type !== 'workflow' || names.has(s.target.workflow)) continue;
    names.add(s.target.workflow);
    let file: string;
    try {
      file = findWorkflowFile(s.target.workflow, root);
    } catch {
      continue; // reported below with the subscription's path
    }
    plans.push(await compileFile(file, root));
  }
  const known = new Set([plan.workflow, ...plans.map((p) => p.workflow)]);
  // The message names what workflows/ has (by file name: they are not all compiled for a run).
  const inProject = listWorkflowFiles(root).map((f) => (path.basename(f).startsWith('workflow.') ? path.basename(path.dirname(f)) : path.basename(f, path.extname(f))));
  return { subs: projectSubscriptions([plan], { root, knownWorkflows: known, knownNames: [...known, ...inProject] }), plans };
}

/**
 * After `joinflow run`'s own run: waits for the deliveries it caused (retries included) and for
 * the runs its workflow targets started, so that a one-shot run does not cut them off. Ctrl-C
 * leaves what is left in the state dir for the next engine.
 */
export async function settleSubscriptions(engine: Engine, hub: SubscriptionHub, dispatcher: SubscriptionDispatcher | undefined): Promise<void> {
  if (!dispatcher) return;
  let waited = 0;
  for (;;) {
    // The run's last events (Run Succeeded itself) may still be on the bus.
    await engine.bus.idle();
    if (dispatcher.pending > 0) {
      process.stderr.write(`joinflow: waiting for ${dispatcher.pending} subscription deliver${dispatcher.pending === 1 ? 'y' : 'ies'}\n`);
      await dispatcher.settle();
    }
    const runs = hub.started.slice(waited);
    if (runs.length === 0 && dispatcher.pending === 0) return;
    waited += runs.length;
    await Promise.all(runs.map((id) => engine.wait(id).catch(() => undefined)));
  }
}
