/** Recovery after a restart: what it makes of the tasks a dead engine left running. */
import { afterEach, describe, expect, it } from 'vitest';
import { openJournalState, type JournalState } from '../../src/adapters/local/journal-state.ts';
import { recoverRuns } from '../../src/adapters/local/recovery.ts';
import type { Task } from '../../src/ports.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-recovery-');
const opened: JournalState[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
});

const plan = { workflow: 'wf', steps: {}, triggers: [] } as never;
const task = (step: string, attempt = 1): Task => ({ workflow: 'wf', runId: 'r', step, attempt, maxAttempts: 2, executor: { type: 'simulate', durationMs: 1 }, event: { input: null, results: {} } });

describe('recovery', () => {
  it("ends a task the dead engine was running where the run's log stops, not at the restart: the time it was down is not the step's", async () => {
    const dir = tmp();
    const before = openJournalState({ dir });
    before.log.saveRun('r', plan, { pid: 1 });
    await before.store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1_000 });
    const long = task('long');
    const quick = task('quick');
    for (const t of [long, quick]) before.log.recordTask(t);
    before.log.taskStarted(long, 1_100);
    before.log.taskStarted(quick, 1_100);
    before.log.taskFinished(quick, 'succeeded', 1_400);
    await before.store.commit();
    before.close();

    // The engine died after 1,400; it is resumed at 60,000.
    const after = openJournalState({ dir });
    opened.push(after);
    const submitted: Task[] = [];
    await recoverRuns(after.log, undefined, {
      now: () => 60_000,
      register() {},
      track() {},
      async redeliver() {},
      submit: (t) => submitted.push(t),
      schedule() {},
      commit: () => after.store.commit(),
    });
    const entries = after.log.tasks('r').filter((e) => e.task.step === 'long');
    expect(entries.map((e) => [e.task.attempt, e.status, e.startedAt, e.finishedAt])).toEqual([
      [1, 'cancelled', 1_100, 1_400],
      [2, 'dispatched', undefined, undefined],
    ]);
    expect(submitted.map((t) => `${t.step}#${t.attempt}`)).toEqual(['long#2']);
  });
});
