/** A one-step workflow and the Run Requested events that start it, for tests of how runs are taken on. */
import { afterEach } from 'vitest';
import { DetailType, type EventEnvelope } from '../../src/model/events.ts';
import { plan } from './plans.ts';

/** Workflow `wf`: one `simulate` step `a` whose output ('A') is the run's. */
export const oneStepWf = plan({ name: 'wf', steps: { a: { executor: { type: 'simulate', durationMs: 0, output: 'A' } } }, output: 'a' });

/** A Run Requested of `wf` with event id `id` and more of its detail (runId, input). */
export const runRequest = (id: string, detail: Record<string, unknown>): EventEnvelope => ({
  id, source: 'joinflow', 'detail-type': DetailType.RunRequested, time: new Date(0).toISOString(), detail: { workflow: 'wf', ...detail },
});

/** What to close after each test of the file, last opened first: push closers onto it. */
export function closedAfterEach(): Array<() => unknown> {
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });
  return closers;
}
