/** Subscriptions for the CLI's engines (`run`, `dev`, `resume`): outbox, targets and logging. */
import type { Engine } from '../adapters/local/engine.ts';
import { createMemoryOutbox, type Delivery } from '../adapters/local/delivery-outbox.ts';
import type { DurableState } from '../adapters/local/durable-state.ts';
import { createSubscriptionDispatcher, type SubscriptionDispatcher } from '../adapters/local/subscription-dispatcher.ts';
import { createTargetRunner } from '../adapters/local/subscription-targets.ts';
import { visible } from '../model/errors.ts';
import type { EventEnvelope } from '../model/events.ts';
import type { TriggerPlan } from '../model/plan.ts';
import type { Subscription } from '../model/subscriptions.ts';
import { configWorkflowTargets, projectSubscriptions } from '../adapters/local/subscription-files.ts';
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
  options: { always?: boolean; maxPayloadBytes?: number | undefined } = {},
): SubscriptionHub {
  let dispatcher: SubscriptionDispatcher | undefined;
  const started: string[] = [];
  return {
    started,
    tap: (events) => dispatcher?.tap(events) ?? false,
    bind(engine) {
      const outbox = state ? state.outbox() : createMemoryOutbox();
      // `always` (joinflow dev, resume's leftovers): the subscriptions are the whole project's,
      // and a delivery for none of them is dead-lettered. Other engines know the config file's
      // and their own workflows' only: deliveries an earlier engine left for another workflow's
      // own subscriptions go to those its run was started with.
      const leftovers = options.always || !state ? [] : leftoverSubscriptions(outbox.pending(), subs, state.log);
      const all = [...subs, ...leftovers];
      // A leftover that would start a workflow this engine has not loaded stays pending for one
      // that has it (a run of its workflow, resume, dev), rather than dead-lettered as unknown.
      const elsewhere = new Set(leftovers.filter((s) => s.target.type === 'workflow' && !engine.hasWorkflow(s.target.workflow)).map((s) => s.name));
      // `always`: joinflow dev may gain subscriptions when its config is edited.
      if (all.length === 0 && !options.always) return undefined;
      dispatcher = createSubscriptionDispatcher({
        subscriptions: all,
        outbox,
        takes: (d) => !elsewhere.has(d.subscription),
        deliver: createTargetRunner({
          root,
          publish: (events) => engine.publish(events),
          hasWorkflow: (w) => engine.hasWorkflow(w),
          onRunStarted: (runId) => started.push(runId),
          ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
        }),
        onDead: (d, reason) => {
          state?.log.deadLetter(d.event, reason, Date.now());
          process.stderr.write(`joinflow: dead letter: ${visible(reason, { lines: true })}\n`);
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
 * The workflow subscriptions, not among `known`, that pending deliveries name: declared in the
 * plan of the run whose event each carries.
 */
function leftoverSubscriptions(pending: readonly Delivery[], known: readonly Subscription[], log: Pick<DurableState['log'], 'runPlan'>): Subscription[] {
  const names = new Set(known.map((s) => s.name));
  const found = new Map<string, Subscription>();
  for (const d of pending) {
    if (names.has(d.subscription) || found.has(d.subscription)) continue;
    const runId = (d.event.detail as { runId?: unknown } | undefined)?.runId;
    const sub = typeof runId === 'string' ? log.runPlan(runId)?.subscriptions?.find((s) => s.name === d.subscription) : undefined;
    if (sub) found.set(sub.name, sub);
  }
  return [...found.values()];
}

/**
 * The subscriptions `joinflow run` serves: the project's, with the plans of the workflows their
 * targets start compiled too (returned, for the engine to register), and those workflows' own
 * subscriptions (and the workflows they start in turn), which hear the runs started so.
 */
export async function subscriptionsForRun(plan: TriggerPlan, root: string): Promise<{ subs: Subscription[]; plans: TriggerPlan[] }> {
  const { plans, misnamed, others } = await targetWorkflows(plan, root);
  const known = new Set([plan.workflow, ...plans.map((p) => p.workflow)]);
  const inProject = others ? others.map((p) => p.workflow) : [];
  return { subs: projectSubscriptions([plan, ...plans], { root, knownWorkflows: known, knownNames: [...known, ...inProject], misnamed }), plans };
}

/**
 * The plans of the workflows the subscriptions of `plan` (and the config file's) start, and those
 * theirs start in turn. A target whose file does not compile is refused (thrown), or, when
 * `lenient` (resume: the runs go on whatever their targets), left out alone: the others are
 * still found.
 */
export async function targetWorkflows(plan: TriggerPlan, root: string, lenient = false): Promise<{ plans: TriggerPlan[]; misnamed: Map<string, string>; others: TriggerPlan[] | undefined }> {
  const targetsOf = (p: TriggerPlan): string[] => (p.subscriptions ?? []).flatMap((s) => (s.target.type === 'workflow' ? [s.target.workflow] : []));
  // Read leniently here: a config that breaks its schema is refused by subscriptionsForRun's
  // projectSubscriptions, with every problem, its unknown target workflows included.
  const targets = [...configWorkflowTargets(root), ...targetsOf(plan)];
  const plans: TriggerPlan[] = [];
  const names = new Set([plan.workflow]);
  /** Targets that name a workflow file whose workflow has another name: what to say. */
  const misnamed = new Map<string, string>();
  let others: TriggerPlan[] | undefined;
  for (const target of targets) {
    if (names.has(target)) continue;
    names.add(target);
    let file: string | undefined;
    try {
      file = findWorkflowFile(target, root);
    } catch {
      // Not a file name: looked for below by the workflows' names.
    }
    const byFile = file === undefined ? undefined : await compileFile(file, root).catch((error: unknown) => {
      if (lenient) return undefined;
      throw error;
    });
    if (byFile?.workflow === target) {
      plans.push(byFile);
      targets.push(...targetsOf(byFile));
      continue;
    }
    // A run is requested by workflow name, which need not be the file's: the project's other
    // workflows are compiled (once) to find it.
    others ??= await compileOthers(root, plan.workflow);
    const found = others.find((p) => p.workflow === target);
    if (found) {
      plans.push(found);
      targets.push(...targetsOf(found));
    } else if (byFile) misnamed.set(target, `${path.relative(root, file!)} is workflow "${byFile.workflow}": a subscription starts a workflow by its name`);
  }
  return { plans, misnamed, others };
}

/** Every workflow of the project but `except` (by name), compiled; files that do not compile are left out. */
async function compileOthers(root: string, except: string): Promise<TriggerPlan[]> {
  const out: TriggerPlan[] = [];
  for (const file of listWorkflowFiles(root)) {
    try {
      const p = await compileFile(file, root);
      if (p.workflow !== except) out.push(p);
    } catch {
      // A broken workflow is reported when it is run; here it only cannot be a target.
    }
  }
  return out;
}

/**
 * After `joinflow run`'s own run: waits for the deliveries it caused (retries included) and for
 * the runs its workflow targets started, so that a one-shot run does not cut them off. Ctrl-C
 * leaves what is left in the state dir for the next engine.
 */
export async function settleSubscriptions(engine: Engine, hub: SubscriptionHub, dispatcher: SubscriptionDispatcher | undefined, scope: 'all' | 'caused' = 'all'): Promise<void> {
  if (!dispatcher) return;
  // `run` waits for the deliveries its run caused; `resume` for those earlier processes left too.
  const pending = () => (scope === 'all' ? dispatcher.pending : dispatcher.caused);
  let waited = 0;
  for (;;) {
    // The run's last events (Run Succeeded itself) may still be on the bus.
    await engine.bus.idle();
    const n = pending();
    if (n > 0) {
      // A retry keeps its backoff, also after a restart: say how long the wait is when it is long.
      const wait = (scope === 'all' ? dispatcher.nextDueAt : dispatcher.nextCausedDueAt) - Date.now();
      const next = Number.isFinite(wait) && wait >= 1000 ? ` (the next attempt in ${Math.ceil(wait / 1000)} s)` : '';
      process.stderr.write(`joinflow: waiting for ${n} subscription deliver${n === 1 ? 'y' : 'ies'}${next}\n`);
      await (scope === 'all' ? dispatcher.settle() : dispatcher.settleCaused());
    }
    const runs = hub.started.slice(waited);
    if (runs.length === 0 && pending() === 0) return;
    waited += runs.length;
    await Promise.all(runs.map((id) => engine.wait(id).catch(() => undefined)));
  }
}
