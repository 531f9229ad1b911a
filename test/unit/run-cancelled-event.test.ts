/**
 * Run Cancelled carries `error` {type, message}, as DESIGN.md ("Events") promises for a run's end
 * ("Run Succeeded / Run Failed / Run Cancelled: workflow, runId, output or error") and as the
 * cancelled run's record has it, besides its `reason`. A subscriber that reads `detail.error` of
 * Run Failed and Run Cancelled alike finds it in both.
 */
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import { runCancelledDetail } from '../../src/model/events.ts';
import { closedAfterEach } from '../helpers/engines.ts';

const open = closedAfterEach();

const plan = compileWorkflow(
  { name: 'long', steps: { wait: { executor: { type: 'simulate', durationMs: 3_600_000 } } } },
  { source: 'test' },
);

describe('Run Cancelled', () => {
  it('has the error of the cancelled run beside its reason', () => {
    expect(runCancelledDetail('w', 'r1', 'why')).toEqual({ workflow: 'w', runId: 'r1', reason: 'why', error: { type: 'Cancelled', message: 'why' } });
  });

  it('of engine.cancel carries error {type: Cancelled, message: the reason}, as the run record does', async () => {
    const engine = createEngine({});
    open.push({ engine, state: { close() {} } });
    engine.register(plan);
    const heard: EventEnvelope[] = [];
    engine.bus.subscribe({ 'detail-type': ['Run Cancelled'] }, (events) => {
      heard.push(...events);
    });
    const runId = await engine.start('long', null);
    expect(await engine.cancel(runId, 'no longer needed')).toBe(true);
    await engine.bus.idle();
    expect(heard.map((e) => e.detail)).toEqual([
      { workflow: 'long', runId, reason: 'no longer needed', error: { type: 'Cancelled', message: 'no longer needed' } },
    ]);
    expect((await engine.store.getRun(runId))?.error).toEqual({ type: 'Cancelled', message: 'no longer needed' });
  });
});
