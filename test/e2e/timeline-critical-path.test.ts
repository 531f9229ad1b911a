/**
 * `joinflow timeline` of `joinflow run --memory --trace` files through the real bin: the critical
 * path follows the predecessor that finished last (a retried step's back-off included), passes
 * through a forEach over an empty array, and `-o` never overwrites the file being read.
 */
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { joinflow } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-timeline-cp-');

const BACKOFF = `name: backoff
steps:
  a: { executor: { type: process, command: sh, args: ['-c','[ "$JOINFLOW_ATTEMPT" -ge 2 ] || exit 1; echo 1'] }, retry: { maxAttempts: 2, backoffMs: 500 } }
  b: { executor: { type: simulate, durationMs: 100 } }
  c: { needs: [a, b], executor: { type: simulate, durationMs: 10 } }
`;

const EMPTY = `name: empty
steps:
  split: { executor: { type: simulate, durationMs: 200, output: [] } }
  each: { needs: [split], forEach: split, executor: { type: simulate, durationMs: 50 } }
  sum: { needs: [each], executor: { type: simulate, durationMs: 20 } }
`;

type Exec = { step: string; item?: number; attempt: number; start: number; end: number };
type Trace = { executions: Exec[]; summary: { makespanMs: number; criticalPathMs: number; overheadMs: number; criticalPath: Array<{ step: string; attempt: number }> } };

/** Runs `workflow` in `dir` (a --memory run's process steps write under its .joinflow) with --trace. */
function traced(dir: string, name: string, workflow: string): { file: string; trace: string } {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, workflow);
  const trace = path.join(dir, `${name}.trace.json`);
  const run = joinflow(['run', file, '--memory', '--trace', trace], { cwd: dir });
  expect(run.code, run.stderr).toBe(0);
  return { file, trace };
}

/** The timeline trace (`--json`) of a run trace, checked for numbers that add up. */
function timeline(dir: string, trace: string, workflow: string): Trace {
  const r = joinflow(['timeline', trace, '--workflow', workflow, '--json'], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  const t = JSON.parse(r.stdout) as Trace;
  const byKey = new Map(t.executions.map((e) => [`${e.step}#${e.attempt}`, e]));
  const chain = t.summary.criticalPath.map((c) => byKey.get(`${c.step}#${c.attempt}`)!);
  expect(t.summary.criticalPathMs).toBe(chain.reduce((sum, e) => sum + e.end - e.start, 0));
  expect(t.summary.overheadMs).toBe(t.summary.makespanMs - t.summary.criticalPathMs);
  for (let k = 1; k < chain.length; k++) expect(chain[k]!.start).toBeGreaterThanOrEqual(chain[k - 1]!.end);
  return t;
}

describe('joinflow timeline critical path of run traces', () => {
  let dir = '';
  let backoff: { file: string; trace: string };
  let empty: { file: string; trace: string };

  beforeAll(() => {
    dir = tmp();
    backoff = traced(dir, 'backoff', BACKOFF);
    empty = traced(dir, 'empty', EMPTY);
  }, 120_000);

  it('a join waits for the retried step that finished last: its back-off is overhead on the path', () => {
    const t = timeline(dir, backoff.trace, backoff.file);
    expect(t.summary.criticalPath.map((c) => `${c.step}#${c.attempt}`)).toEqual(['a#1', 'a#2', 'c#1']);
    expect(t.summary.overheadMs).toBeGreaterThanOrEqual(500);
    const r = joinflow(['timeline', backoff.trace, '--workflow', backoff.file], { cwd: dir });
    expect(r.stdout).toMatch(/^critical path +[\d.]+ ms \(3 executions: a -> a #2 -> c\)$/m);
  });

  it('a forEach over an empty array passes the chain through to the step it iterates', () => {
    const t = timeline(dir, empty.trace, empty.file);
    expect(t.summary.criticalPath.map((c) => c.step)).toEqual(['split', 'sum']);
    expect(t.summary.criticalPathMs).toBeGreaterThanOrEqual(220);
  });

  it('-o naming the trace or the workflow being read (or a link to it) exits 2 and leaves it as it was', () => {
    const before = readFileSync(backoff.trace, 'utf8');
    const link = path.join(dir, 'link.json');
    symlinkSync(backoff.trace, link);
    for (const out of [backoff.trace, `${dir}/./${path.basename(backoff.trace)}`, link]) {
      const r = joinflow(['timeline', backoff.trace, '--workflow', backoff.file, '-o', out], { cwd: dir });
      expect(r.code, out).toBe(2);
      expect(r.stderr).toContain(`-o ${out}: is the trace being read (${backoff.trace}); write the output to another file`);
    }
    expect(readFileSync(backoff.trace, 'utf8')).toBe(before);
    // A workflow written as JSON.
    const wf = path.join(dir, 'backoff.json');
    const compiled = { name: 'backoff', steps: { a: { executor: { type: 'simulate', durationMs: 1 } }, b: { executor: { type: 'simulate', durationMs: 1 } }, c: { needs: ['a', 'b'], executor: { type: 'simulate', durationMs: 1 } } } };
    writeFileSync(wf, JSON.stringify(compiled));
    const r = joinflow(['timeline', backoff.trace, '--workflow', wf, '-o', wf], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`-o ${wf}: is the workflow being read (${wf})`);
    expect(JSON.parse(readFileSync(wf, 'utf8'))).toEqual(compiled);
    // A timeline trace re-rendered onto itself.
    const exported = path.join(dir, 'export.json');
    expect(joinflow(['timeline', backoff.trace, '--workflow', backoff.file, '-o', exported], { cwd: dir }).code).toBe(0);
    const text = readFileSync(exported, 'utf8');
    expect(joinflow(['timeline', exported, '-o', exported], { cwd: dir }).code).toBe(2);
    expect(readFileSync(exported, 'utf8')).toBe(text);
  });
});
