/**
 * Taking over unfinished runs after a restart. The durable log says what was in flight when the
 * process died; the join state in the store makes every redelivery safe to repeat.
 */
import { requestedRunId, type EventEnvelope, type RunRequested } from '../../model/events.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import type { RunRecord, Task, TriggerStore } from '../../ports.ts';
import type { DurableLog, RunOptions } from './durable-log.ts';
import type { Waiting } from './run-tracker.ts';
import { UsageError } from '../../model/errors.ts';
import { runOwner } from './process-identity.ts';

/** What recovery needs from the engine. */
export type RecoveryHooks = {
  now(): number;
  register(plan: TriggerPlan): void;
  track(run: RunRecord, plan: TriggerPlan): void;
  redeliver(pending: Array<{ seq: number; event: EventEnvelope }>): Promise<void>;
  submit(task: Task): void;
  schedule(runId: string, delayMs: number, fire: () => void, waiting: Waiting): void;
  commit(): Promise<void>;
};

/**
 * The unfinished runs (all, or `only` these) an engine may take over, claimed for it (`claim`: its
 * identity, saved with each run, so that status, list and cancel elsewhere find it). Not a run
 * another live process executes (it would run its steps twice), nor one started with another
 * version of a workflow the engine has registered (`registered`): an engine has one plan per
 * workflow name, and the run's state is its own version's. Named in `only`, either is refused.
 */
export function claimRuns(log: DurableLog, only: string | readonly string[] | undefined, claim: RunOptions, registered: (workflow: string) => TriggerPlan | undefined): string[] {
  const damaged = log.damagedRuns?.() ?? new Map<string, Error>();
  const named = only === undefined ? undefined : new Set(typeof only === 'string' ? [only] : only);
  const running = unfinishedRuns(log).filter((r) => {
    const why = damaged.get(r.runId);
    // A run named whose state cannot be read is refused with why; the others go on without it.
    if (why && named?.has(r.runId)) throw why;
    return why === undefined;
  });
  const wanted = named ?? new Set(running.map((r) => r.runId));
  const mine: string[] = [];
  // The version each workflow will have here: the registered one, else the first run's taken.
  const chosen = new Map<string, TriggerPlan>();
  for (const run of running.filter((r) => wanted.has(r.runId))) {
    const pid = runOwner(log.runOptions(run.runId));
    const plan = log.runPlan(run.runId);
    const other = registered(run.workflow) ?? chosen.get(run.workflow);
    const otherVersion = plan !== undefined && other !== undefined && other !== plan && JSON.stringify(other) !== JSON.stringify(plan);
    if (pid === undefined && !otherVersion) {
      mine.push(run.runId);
      if (plan !== undefined && other === undefined) chosen.set(run.workflow, plan);
    }
    else if (only !== undefined && pid !== undefined) throw new UsageError(`run "${run.runId}" is being run by process ${pid}: it is not recovered here`);
    else if (only !== undefined) {
      throw new UsageError(`run "${run.runId}" was started with another version of workflow "${run.workflow}" than the one this engine runs (registered, or another run's it recovers): recover it in an engine that has not registered "${run.workflow}" (it registers the run's own version)`);
    }
  }
  for (const runId of mine) {
    const plan = log.runPlan(runId);
    if (plan) log.saveRun(runId, plan, { ...log.runOptions(runId), ...claim });
  }
  return mine;
}

/** Re-registers, redelivers and resubmits whatever unfinished runs (or `only` these) had in flight. */
export async function recoverRuns(log: DurableLog, only: string | readonly string[] | undefined, hooks: RecoveryHooks): Promise<string[]> {
  const wanted = only === undefined ? undefined : new Set(typeof only === 'string' ? [only] : only);
  const damaged = log.damagedRuns?.();
  const runs = unfinishedRuns(log).filter((r) => (wanted === undefined || wanted.has(r.runId)) && !damaged?.has(r.runId));
  const recovered = new Set<string>();
  for (const run of runs) {
    const plan = log.runPlan(run.runId);
    if (!plan) continue;
    hooks.register(plan);
    hooks.track(run, plan);
    recovered.add(run.runId);
  }
  const pending = log.pendingEvents().filter((p) => {
    // Not String(): an event of no run would be taken for one of a run named "undefined".
    const runId = runOf(p.event);
    return typeof runId === 'string' && recovered.has(runId);
  });
  const submit: Task[] = [];
  // When a run's log last recorded anything: about when its engine stopped (see below).
  const lastRecorded = new Map<string, number>();
  const lastOf = (run: string): number => {
    let at = lastRecorded.get(run);
    if (at === undefined) {
      at = log.tasks(run).reduce((m, e) => Math.max(m, e.startedAt ?? 0, e.finishedAt ?? 0), 0);
      lastRecorded.set(run, at);
    }
    return at;
  };
  for (const entry of log.unfinishedTasks()) {
    if (!recovered.has(entry.task.runId)) continue;
    if (entry.status === 'dispatched') {
      submit.push(entry.task);
      continue;
    }
    // It was running when the process died; its result (if any) was never recorded. Run it
    // again as the next attempt — without using up one of the step's retries.
    // It ends where the log stops: the time until now the engine was gone, not running it (a
    // timeline shows that gap as overhead, not as the step's time).
    log.taskFinished(entry.task, 'cancelled', Math.max(entry.startedAt ?? 0, lastOf(entry.task.runId)));
    const again = { ...entry.task, attempt: entry.task.attempt + 1, maxAttempts: entry.task.maxAttempts + 1 };
    log.recordTask(again);
    submit.push(again);
  }
  const timers = log.timers().filter((t) => recovered.has(t.task.runId));
  await hooks.commit();
  for (const task of submit) hooks.submit(task);
  for (const t of timers) {
    hooks.schedule(t.task.runId, Math.max(0, t.dueAt - hooks.now()), () => {
      log.removeTimer(t.id);
      log.recordTask(t.task);
      hooks.submit(t.task);
    }, { task: t.task, timerId: t.id });
  }
  await hooks.redeliver(pending);
  return [...recovered];
}

/** The run an event is about: its `runId`, or, for a Run Requested without one, its id (the run it starts is named so). */
function runOf(e: EventEnvelope): unknown {
  const runId = (e.detail as { runId?: unknown } | undefined)?.runId;
  return runId === undefined ? requestedRunId(e) : runId;
}

/**
 * The runs recovery takes over: those running, and those an engine took on whose Run Requested is
 * on file but was not handled (a commit carried it before the processor got to it, and the engine
 * stopped): accepted, they must start (PutEvents answered, engine.publish resolved). Such a run
 * has no record yet: it is given one from its request, as the processor will start it.
 */
export function unfinishedRuns(log: DurableLog): RunRecord[] {
  const running = log.listRuns({ status: 'running' });
  for (const { record } of unstartedRequests(log)) running.push(record);
  return running;
}

/**
 * The runs an engine took on that have not started, each with the record its request gives it and
 * the request's sequence number (the first request, when there are more). Not one whose request
 * the processor dead-letters (an event id that cannot name a run): it would never end.
 */
export function unstartedRequests(log: DurableLog): Array<{ record: RunRecord; seq: number }> {
  const unstarted = new Set(log.unstartedRuns?.() ?? []);
  const out: Array<{ record: RunRecord; seq: number }> = [];
  if (unstarted.size === 0) return out;
  for (const { seq, event } of log.pendingEvents()) {
    const runId = requestedRunId(event);
    if (runId === undefined || !unstarted.delete(runId)) continue;
    const d = event.detail as RunRequested;
    out.push({ record: { runId, workflow: d.workflow, status: 'running', input: d.input ?? null, startedAt: Date.parse(event.time) || 0 }, seq });
  }
  return out;
}

/**
 * Run `runId` as a command names it: its record, or, for a run accepted and not started (its Run
 * Requested on file, not handled), the record its request gives it, with the request's sequence
 * number (`seq`).
 */
export async function runOrRequest(store: Pick<TriggerStore, 'getRun'>, log: DurableLog, runId: string): Promise<{ record: RunRecord; seq?: number } | undefined> {
  const record = await store.getRun(runId);
  return record ? { record } : unstartedRequests(log).find((u) => u.record.runId === runId);
}
