/**
 * The hot path's structural checks of event details (model/events.ts) accept exactly what their
 * zod schemas accept: zod runs only for rejected events, to say what is wrong.
 */
import { describe, expect, it } from 'vitest';
import {
  isRunRequested,
  isStepCompleted,
  isStepFailed,
  RunRequestedSchema,
  StepCompletedSchema,
  StepFailedSchema,
} from '../../src/model/events.ts';

const ABSENT = Symbol('absent');
const ODD = [ABSENT, undefined, null, '', ' ', 'x', 'a:b.c-d_e', 'sp ace', 'x'.repeat(128), 'x'.repeat(129), '🚀', 0, -0, 1, 2, -1, 1.5, 2 ** 53, 2 ** 53 + 2, 1e308, NaN, Infinity, -Infinity, true, false, [], {}, ['a'], { type: 'E', message: 'm' }, { type: 'E' }, { type: 1, message: 'm' }];

/** Every detail made by choosing, for each field, either a typical value or one of the odd ones. */
function* details(typical: Record<string, unknown>): Generator<Record<string, unknown>> {
  const fields = Object.keys(typical);
  for (const field of fields) {
    for (const v of ODD) {
      const d: Record<string, unknown> = { ...typical };
      if (v === ABSENT) delete d[field];
      else d[field] = v;
      yield d;
    }
  }
  yield typical;
}

const cases = [
  { name: 'Run Requested', fast: isRunRequested, schema: RunRequestedSchema, typical: { workflow: 'wf', runId: 'run-1', input: { n: 1 } } },
  { name: 'Step Completed', fast: isStepCompleted, schema: StepCompletedSchema, typical: { workflow: 'wf', runId: 'r', step: 's', attempt: 1, item: 0, items: 3, placement: 'lambda', output: null } },
  { name: 'Step Failed', fast: isStepFailed, schema: StepFailedSchema, typical: { workflow: 'wf', runId: 'r', step: 's', attempt: 2, item: 4, placement: 'batch-gpu', retrying: false, error: { type: 'E', message: 'm' } } },
];

describe('fast event checks', () => {
  for (const c of cases) {
    it(`${c.name}: accepts exactly what the schema accepts`, () => {
      let accepted = 0;
      let total = 0;
      for (const d of details(c.typical)) {
        const expected = c.schema.safeParse(d).success;
        expect({ detail: d, accepted: c.fast(d) }).toEqual({ detail: d, accepted: expected });
        if (expected) accepted++;
        total++;
      }
      // Both outcomes are exercised.
      expect(accepted).toBeGreaterThan(0);
      expect(accepted).toBeLessThan(total);
    });
  }
});
