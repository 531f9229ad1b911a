/** A run of the embedded engine's state dir as a timeline: its task log, plan and run record. */
import type { TaskEntry } from '../adapters/local/durable-log.ts';
import type { TriggerPlan } from '../model/plan.ts';
import type { RunRecord } from '../ports.ts';
import { planLanes, planNeeds } from '../timeline/run-trace.ts';
import { sortExecutions, type Execution, type ExecutionStatus, type Timeline } from '../timeline/timeline.ts';

/**
 * Builds the timeline of a local run. Tasks that never started have no bar; a task started but
 * not finished ends at the run's end (it was abandoned) or, for a running (or stopping) run, at `now` (where
 * the running run itself ends, so far), or, for one whose engine is gone (`interrupted`), at the
 * last time the log recorded. `ranNothing`: steps that completed without a task on the log (a
 * forEach over an empty array), which the note on steps that did not run says apart.
 */
export function localTimeline(
  run: RunRecord,
  tasks: readonly TaskEntry[],
  plan: TriggerPlan | undefined,
  now: number,
  interrupted = false,
  ranNothing: ReadonlySet<string> = new Set(),
  resume = `joinflow resume ${run.runId}`,
): Timeline {
  const notes: string[] = [];
  // Running, or ended and stopping the steps it still ran (no end on file until they are gone): those steps run until now.
  const live = run.status === 'running' || run.finishedAt === undefined;
  if (interrupted) {
    // Nothing has happened since the engine died: the chart stops where its log does.
    now = tasks.reduce((last, e) => Math.max(last, e.startedAt ?? 0, e.finishedAt ?? 0), run.startedAt);
  }
  if (!plan) notes.push('the state dir has no plan for this run: the critical path ignores dependencies');
  const executions: Execution[] = [];
  // Steps that never ran (attempt 0 on the log): a choice skipped them, or their needs failed.
  const notRun: string[] = [];
  for (const entry of tasks) {
    if (entry.task.attempt === 0) notRun.push(`${entry.task.step} (${entry.status === 'skipped' ? 'skipped' : 'its needs failed'})`);
    if (entry.startedAt === undefined) continue;
    const t = entry.task;
    const finished = entry.finishedAt !== undefined;
    const status: ExecutionStatus =
      entry.status === 'succeeded' || entry.status === 'failed' || entry.status === 'cancelled' ? entry.status : live ? 'running' : 'cancelled';
    const end = finished ? entry.finishedAt! : (run.finishedAt ?? now);
    executions.push({
      step: t.step,
      ...(t.item === undefined ? {} : { item: t.item }),
      attempt: t.attempt,
      kind: t.executor.type,
      // Imported WfCommons tasks are numbered instances of a type (mProject_ID0000021): group by type.
      category: t.step.replace(/_ID\d+$/, ''),
      ...(t.placement === undefined ? {} : { placement: t.placement }),
      status,
      start: entry.startedAt,
      end: Math.max(end, entry.startedAt),
    });
  }
  if (plan && run.status !== 'running' && !interrupted) {
    // Steps the log has nothing of: a forEach that had no items, or the run ended (failed, was
    // cancelled) before they were due.
    const logged = new Set(tasks.map((e) => e.task.step));
    for (const step of Object.keys(plan.steps)) {
      if (!logged.has(step)) notRun.push(`${step} (${ranNothing.has(step) ? 'its forEach array was empty' : 'the run ended before it'})`);
    }
  }
  if (interrupted && run.status !== 'running') {
    notes.push(`the run ended (${run.status}), but the engine that ran it died while stopping its steps: their bars end at the last time it recorded; '${resume}' records its end`);
  } else if (interrupted) notes.push(`the run was interrupted (the engine that ran it is gone): bars of the steps it was running end at the last time it recorded; '${resume}' continues it`);
  else if (run.status === 'running') notes.push(`the run is still running: its makespan runs to now, and bars of running steps end now`);
  else if (live) notes.push(`the run has ended (${run.status}) and is stopping the steps it still ran: its makespan runs to now, and their bars end now`);
  if (notRun.length > 0) notes.push(`steps that did not run: ${notRun.slice(0, 10).join(', ')}${notRun.length > 10 ? `, and ${notRun.length - 10} more` : ''}`);
  return {
    title: `run ${run.runId} · ${run.workflow}`,
    workflow: run.workflow,
    runId: run.runId,
    status: run.status,
    startedAt: run.startedAt,
    // A run still running ends, so far, now: also while none of its steps runs (a retry's
    // backoff, a delay, a wait for a free slot), when no bar reaches now.
    ...(run.finishedAt !== undefined ? { finishedAt: run.finishedAt } : live ? { finishedAt: now } : {}),
    needs: plan ? planNeeds(plan) : {},
    ...(plan ? planLanes(plan) : {}),
    executions: sortExecutions(executions),
    schedule: 'measured',
    notes,
  };
}
