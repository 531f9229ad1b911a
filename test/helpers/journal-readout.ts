/**
 * Everything a journal state dir reads back through the store's public interface, as plain
 * JSON: what a state dir written by one version must still read back as in the next
 * (test/unit/journal-compat.test.ts, test/fixtures/journal-v3/make.ts).
 */
import type { JournalState } from '../../src/adapters/local/journal-state.ts';

export async function readout(s: JournalState) {
  const runs = s.log.listRuns().map((r) => r.runId).sort();
  const perRun: Record<string, unknown> = {};
  for (const runId of runs) {
    perRun[runId] = {
      record: await s.store.getRun(runId),
      tasks: s.log.tasks(runId),
      attempts: s.log.attempts(runId),
      timers: s.log.timers(runId),
    };
  }
  return {
    runs: perRun,
    events: s.log.eventsAfter(0, 10_000),
    lastEventSeq: s.log.lastEventSeq(),
    pending: s.log.pendingEvents(),
    unfinished: s.log.unfinishedTasks(),
    deadLetters: s.log.deadLetters().map((d) => ({ ...d })),
  };
}
