/** `delayMs`: a step starts that long after it is ready, on the engine's durable timer. */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-delay-');
type Record_ = { step: string; status: string; start: number; end: number };

function workflow(dir: string, delayMs: number): string {
  const file = path.join(dir, 'later.yaml');
  writeFileSync(file, [
    'name: later',
    'steps:',
    '  first: { executor: { type: simulate, durationMs: 0, output: 1 } }',
    `  second: { needs: [first], delayMs: ${delayMs}, executor: { type: simulate, durationMs: 0, output: 2 } }`,
  ].join('\n'));
  return file;
}

/** Runs `joinflow args`, kills it `afterMs` after its first step is reported (or 10 s on), and gives its stderr. */
async function killAfterFirst(args: string[], afterMs: number): Promise<string> {
  const child = spawn(process.execPath, [path.join(root, 'bin/joinflow.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let stderr = '';
  await new Promise<void>((resolve) => {
    const done = setTimeout(resolve, 10_000);
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/ok\s+first/.test(stderr)) setTimeout(() => (clearTimeout(done), resolve()), afterMs);
    });
  });
  child.kill('SIGKILL');
  await exited;
  return stderr;
}

describe('delayMs', () => {
  it('starts the step no sooner than delayMs after its needs completed', () => {
    const dir = tmp();
    const trace = path.join(dir, 'trace.json');
    const r = joinflow(['run', workflow(dir, 400), '--json', '--trace', trace, '--state', path.join(dir, 'state')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', output: { second: 2 }, steps: { total: 2, retried: 0 } });
    const records = JSON.parse(readFileSync(trace, 'utf8')) as Record_[];
    const first = records.find((x) => x.step === 'first')!;
    const second = records.find((x) => x.step === 'second')!;
    expect(second.start - first.end).toBeGreaterThanOrEqual(400);
  });

  it('keeps a waiting step through a crash: resume runs it, and the run succeeds', async () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    const file = workflow(dir, 1500);
    // Killed once the first step is reported: the second is then waiting on its timer.
    const stderr = await killAfterFirst(['run', file, '--state', state, '--run-id', 'r1'], 200);
    expect(stderr).not.toMatch(/ok\s+second/);
    const r = joinflow(['resume', 'r1', '--state', state, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', output: { second: 2 }, steps: { total: 2 } });
  });

  // setTimeout takes at most 2^31-1 ms (24.8 days) and fires a longer delay after 1 ms.
  it('waits a delay longer than 24.8 days: the step has not started 300 ms later', async () => {
    const dir = tmp();
    const file = workflow(dir, 30 * 86_400_000);
    const stderr = await killAfterFirst(['run', file, '--memory'], 300);
    expect(stderr).toMatch(/ok\s+first/);
    expect(stderr).not.toMatch(/ok\s+second/);
    expect(stderr).not.toContain('TimeoutOverflowWarning');
  });

  it('does not time out a step at once when its timeoutMs is longer than 24.8 days', () => {
    const dir = tmp();
    const file = path.join(dir, 'patient.yaml');
    writeFileSync(file, [
      'name: patient',
      'steps:',
      '  wait: { timeoutMs: 3000000000, executor: { type: simulate, durationMs: 50, output: 1 } }',
    ].join('\n'));
    const r = joinflow(['run', file, '--json', '--memory']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', output: { wait: 1 } });
    expect(r.stderr).not.toContain('TimeoutOverflowWarning');
  });

  it('is refused when it is not a whole number of ms from 0 to a year', () => {
    const dir = tmp();
    const r = joinflow(['run', workflow(dir, -1)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('steps.second.delayMs');
  });
});
