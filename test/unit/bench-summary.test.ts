import { describe, expect, it } from 'vitest';
import { measureScenario, median, sampleOf, type ChildOutcome } from '../../bench/summary.ts';

const ok = (sample: Record<string, unknown>, log = 'compiling\n'): ChildOutcome => ({ status: 0, signal: null, stdout: `${log}${JSON.stringify(sample)}\n`, stderr: '' });
/** A runChild that answers with these outcomes in turn, and counts its calls. */
function children(...outcomes: ChildOutcome[]): (() => ChildOutcome) & { calls: number } {
  const run = Object.assign(() => outcomes[run.calls++]!, { calls: 0 });
  return run;
}

describe('npm run bench rows', () => {
  it('takes medians numerically (10 after 9), the mean of the middle two for an even count', () => {
    expect(median([10, 9, 100])).toBe(10);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('summarizes the fresh processes of a scenario: medians, events/s and µs per step from the median time', () => {
    const run = children(
      ok({ events: 20_002, steps: 10_000, ms: 100, peakRssMb: 150, coldMs: 9, stateMb: 1 }),
      ok({ events: 20_002, steps: 10_000, ms: 300, peakRssMb: 170, coldMs: 10, stateMb: 2 }),
      ok({ events: 20_002, steps: 10_000, ms: 200, peakRssMb: 160, coldMs: 100, stateMb: 3 }),
      ok({ events: 20_002, steps: 10_000, ms: 250, peakRssMb: 155, coldMs: 11, stateMb: 4 }),
    );
    const row = measureScenario('chain-10000', 'memory', 4, run);
    expect(run.calls).toBe(4);
    expect(row).toEqual({ name: 'chain-10000', store: 'memory', events: 20_002, steps: 10_000, ms: 225, eventsPerSec: 88_898, usPerStep: 22.5, peakRssMb: 157.5, runs: 4, coldMs: 10.5, stateMb: 2.5 });
  });

  it('reports a scenario whose process failed as a failure with the reason, not as numbers, and stops its runs', () => {
    const run = children(ok({ events: 1, steps: 1, ms: 5, peakRssMb: 90 }), { status: 1, signal: null, stdout: '', stderr: 'Error: chain failed: {"step":"s3"}\n    at run (scenarios.ts:70)\n' }, ok({ events: 1, steps: 1, ms: 5, peakRssMb: 90 }));
    const row = measureScenario('chain-10000', 'memory', 3, run);
    expect(run.calls).toBe(2);
    expect(row).toEqual({ name: 'chain-10000', store: 'memory', runs: 1, error: 'process 2 of 3 exited 1: Error: chain failed: {"step":"s3"}' });
    // Node's report of an uncaught error: the line that names it, not the stack or the version.
    const crash = "node:fs:3005\n  return binding.mkdtemp(prefix);\n                 ^\n\nError: ENOTDIR: not a directory, mkdtemp '/x'\n    at mkdtempSync (node:fs:3005:18)\n\nNode.js v20.20.2\n";
    expect(sampleOf({ status: 1, signal: null, stdout: '', stderr: crash })).toEqual({ error: "exited 1: Error: ENOTDIR: not a directory, mkdtemp '/x'" });
    expect(JSON.parse(JSON.stringify(row))).toEqual(row);
  });

  it('takes no number from a process that was killed, did not run, or printed no measurement', () => {
    expect(sampleOf({ status: null, signal: 'SIGKILL', stdout: '', stderr: '' })).toEqual({ error: 'was killed by SIGKILL' });
    expect(sampleOf({ status: null, signal: null, stdout: '', stderr: 'spawnSync node ENOENT' })).toEqual({ error: 'did not run: spawnSync node ENOENT' });
    expect(sampleOf({ status: 0, signal: null, stdout: 'done\n', stderr: '' })).toEqual({ error: 'printed no measurement (last line: "done")' });
    expect(sampleOf(ok({ events: 1, steps: 1, ms: null, peakRssMb: 90 }))).toHaveProperty('error');
    expect(sampleOf(ok({ events: 1, steps: 1, ms: 2, peakRssMb: 90 }))).toEqual({ sample: { events: 1, steps: 1, ms: 2, peakRssMb: 90 } });
  });
});
