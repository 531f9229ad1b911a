/**
 * `joinflow run --input @file` on the durable store keeps the input once in state.db (run_inputs;
 * its Run Requested in the journal refers to it), written once: the end of the run, which updates
 * the run's row, leaves no copy of it in free pages. Every reader still gives the Run Requested
 * with its input; gc takes the input with the run.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { joinflow } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-input-once-');

/** What state.db holds of `marker`: in journal rows, in run rows, in run inputs, and the bytes of its pages in use. */
function stored(state: string, marker: string) {
  const db = new Database(path.join(state, 'state.db'), { readonly: true });
  try {
    const journal = db.prepare<[], Buffer>('SELECT facts FROM journal').pluck().all().filter((f) => f.includes(marker)).length;
    const runs = db.prepare<[], string | null>('SELECT input FROM runs').pluck().all().filter((i) => i?.includes(marker)).length;
    const inputs = db.prepare<[], string>('SELECT input FROM run_inputs').pluck().all().filter((i) => i.includes(marker)).length;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    const pages = (db.pragma('page_count', { simple: true }) as number) - free;
    const size = db.pragma('page_size', { simple: true }) as number;
    return { journal, runs, inputs, inUse: pages * size, free: free * size };
  } finally {
    db.close();
  }
}

describe('a large input on the durable store', () => {
  it('is kept once, read back whole by events tail, and goes with its run at gc', () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    writeFileSync(path.join(dir, 'w.yaml'), 'name: w\nsteps:\n  a: { executor: { type: simulate, durationMs: 1, output: done } }\n');
    const marker = 'input-of-big-1-3c9e';
    const input = { marker, blob: 'z'.repeat(4_000_000) };
    writeFileSync(path.join(dir, 'in.json'), JSON.stringify(input));
    const r = joinflow(['run', 'w.yaml', '--input', '@in.json', '--state', state, '--run-id', 'big-1', '--json'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ runId: 'big-1', status: 'succeeded' });

    const once = stored(state, marker);
    expect(once).toMatchObject({ journal: 0, runs: 0, inputs: 1 });
    // Written twice, the pages in use would hold 8 MB of it.
    expect(once.inUse).toBeGreaterThan(4_000_000);
    expect(once.inUse).toBeLessThan(6_000_000);
    // The run's row rewritten at its end with the input in it would have left 4 MB free.
    expect(once.free).toBeLessThan(500_000);

    const tail = joinflow(['events', 'tail', '--from-start', '--no-follow', '--state', state], { cwd: dir });
    expect(tail.code).toBe(0);
    const events = tail.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(events.map((e) => e['detail-type'])).toEqual(['Run Requested', 'Step Started', 'Step Completed', 'Run Succeeded']);
    expect(Object.keys(events[0].detail)).toEqual(['workflow', 'runId', 'input']);
    expect(events[0].detail).toEqual({ workflow: 'w', runId: 'big-1', input });

    const status = joinflow(['status', 'big-1', '--state', state, '--json'], { cwd: dir });
    expect(JSON.parse(status.stdout)).toMatchObject({ run: { runId: 'big-1', status: 'succeeded', output: { a: 'done' } }, steps: [{ step: 'a', state: 'succeeded' }] });

    // The same run id again, with another input: reported, not run, and nothing new logged.
    writeFileSync(path.join(dir, 'other.json'), JSON.stringify({ marker: 'other-input' }));
    const again = joinflow(['run', 'w.yaml', '--input', '@other.json', '--state', state, '--run-id', 'big-1'], { cwd: dir });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('(with its own input: the --input given is not used)');
    expect(stored(state, 'other-input')).toMatchObject({ journal: 0, runs: 0, inputs: 0 });
    expect(joinflow(['events', 'tail', '--from-start', '--no-follow', '--state', state], { cwd: dir }).stdout).toBe(tail.stdout);

    expect(joinflow(['gc', '--state', state], { cwd: dir }).code).toBe(0);
    const gone = stored(state, marker);
    expect(gone).toMatchObject({ journal: 0, runs: 0, inputs: 0 });
    expect(gone.inUse).toBeLessThan(1_000_000);
  });
});
