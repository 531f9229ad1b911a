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

/**
 * Runs `joinflow args`, kills it `afterMs` after its first step is reported (or 10 s on), and gives
 * its stderr. `whileAlive` runs just before the kill, while the engine still runs.
 */
async function killAfterFirst(args: string[], afterMs: number, whileAlive?: () => void): Promise<string> {
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
  whileAlive?.();
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

  /**
   * `bad` fails the run once `retr`'s first attempt has failed (its retry then waits 60 s) while
   * `later` waits its 60 s delay: neither of those two starts again.
   */
  /**
   * `bad` fails once `retr` has failed its first attempt (which schedules its retry 60 s on): with
   * `state`, once `joinflow status` shows that failure (the engine has processed retr's exit: only
   * then is its retry waiting); in memory, once retr's process has written its flag.
   */
  function failsWhileWaiting(dir: string, state?: string): string {
    const file = path.join(dir, state ? 'waiting-durable.json' : 'waiting.json');
    const flag = path.join(dir, 'retr-failed');
    const node = process.execPath;
    const ready = state
      ? `(() => { try { const s = JSON.parse(require('node:child_process').execFileSync(${JSON.stringify(node)}, [${JSON.stringify(path.join(root, 'bin/joinflow.js'))}, 'status', 'w1', '--state', ${JSON.stringify(state)}, '--json'], { encoding: 'utf8' })); return s.steps.some((x) => x.step === 'retr' && (x.state === 'failed' || x.attempts > 1)); } catch { return false; } })()`
      : `fs.existsSync(${JSON.stringify(flag)})`;
    writeFileSync(file, JSON.stringify({
      name: 'waiting',
      steps: {
        bad: { executor: { type: 'process', command: node, args: ['-e', `const fs = require('node:fs'); const t = setInterval(() => { if (${ready}) { console.error('bad data'); process.exit(3); } }, 20);`] } },
        later: { delayMs: 60_000, executor: { type: 'simulate', durationMs: 0 } },
        retr: { retry: { maxAttempts: 3, backoffMs: 60_000 }, executor: { type: 'process', command: node, args: ['-e', `require('node:fs').writeFileSync(${JSON.stringify(flag)}, ''); console.error('flaky'); process.exit(1)`] } },
      },
    }));
    return file;
  }

  it('a step waiting for its delay or its retry when the run fails ends as cancelled: counted, and listed by status', () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    const r = joinflow(['run', failsWhileWaiting(dir, state), '--json', '--state', state, '--run-id', 'w1']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'failed', error: { step: 'bad' }, steps: { total: 3, succeeded: 0, failed: 1, cancelled: 2 } });
    const status = JSON.parse(joinflow(['status', 'w1', '--state', state, '--json']).stdout) as { steps: Array<{ step: string; state: string; attempts: number; error?: { message: string } }> };
    const byStep = Object.fromEntries(status.steps.map((s) => [s.step, s]));
    // Neither the delayed step nor the retry ever started: no attempt of theirs is counted.
    expect(byStep['later']).toMatchObject({ state: 'cancelled', attempts: 0, unstarted: { attempt: 1, state: 'cancelled' } });
    // The retry that waited is cancelled; the failure it was to retry is shown.
    expect(byStep['retr']).toMatchObject({ state: 'cancelled', attempts: 1, unstarted: { attempt: 2, state: 'cancelled' }, error: { message: expect.stringContaining('flaky') } });
    const text = joinflow(['status', 'w1', '--state', state]).stdout;
    expect(text).toMatch(/^ {2}cancelled +later +0 attempts; never started \(the run failed first\)$/m);
    expect(text).toMatch(/^ {2}cancelled +retr +1 attempt, [^;\n]+; retry 2 never started \(the run failed first\)$/m);
    expect(byStep['bad']).toMatchObject({ state: 'failed' });
    // Nothing is left to fire: resume has no run to continue.
    const again = joinflow(['resume', '--state', state]);
    expect(again.stderr).toContain('no unfinished runs');
    const memory = joinflow(['run', failsWhileWaiting(dir), '--json', '--memory']);
    expect(JSON.parse(memory.stdout)).toMatchObject({ status: 'failed', steps: { total: 3, failed: 1, cancelled: 2 } });
  });

  it('a step waiting for its delay is listed as waiting, due at its timer (once its engine is gone, if resumed by then); once its run is cancelled, as cancelled', async () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    type Waiting = { step: string; state: string; attempts: number; finishedAt?: number; delay?: { dueAt: number; interrupted?: true } };
    const steps = () => (JSON.parse(joinflow(['status', 'c1', '--state', state, '--json']).stdout) as { run: { interrupted?: true }; steps: Waiting[] });
    let alive: { status: ReturnType<typeof steps>; text: string } | undefined;
    await killAfterFirst(['run', workflow(dir, 60_000), '--state', state, '--run-id', 'c1'], 200, () => {
      alive = { status: steps(), text: joinflow(['status', 'c1', '--state', state]).stdout };
    });
    // While its engine runs, the timer is the engine's: due at its time.
    const before = alive!.status.steps;
    expect(alive!.status.run).not.toHaveProperty('interrupted');
    expect(before.map((s) => [s.step, s.state, s.attempts])).toEqual([['first', 'succeeded', 1], ['second', 'waiting', 0]]);
    // The timer was set when first's completion was processed: delayMs after first ended, or later.
    const dueAt = before[1]!.delay!.dueAt;
    expect(before[1]!.delay).toEqual({ dueAt });
    expect(dueAt - before[0]!.finishedAt!).toBeGreaterThanOrEqual(60_000);
    expect(before[1]).not.toHaveProperty('unstarted');
    const at = new Date(dueAt).toISOString();
    expect(alive!.text).toContain(`\n  waiting    second  0 attempts; delay, due at ${at}\n`);
    // Its engine killed, the timer waits for resume: due then only if the run is resumed by then.
    const after = steps();
    expect(after.run.interrupted).toBe(true);
    expect(after.steps[1]).toMatchObject({ step: 'second', state: 'waiting', attempts: 0, delay: { dueAt, interrupted: true } });
    const text = joinflow(['status', 'c1', '--state', state]).stdout;
    expect(text).toContain(`\n  waiting    second  0 attempts; delay, due at ${at}, if 'joinflow resume c1 --state ${state}' has continued the run by then (else once it does)\n`);
    expect(joinflow(['cancel', 'c1', '--state', state]).code).toBe(0);
    const status = JSON.parse(joinflow(['status', 'c1', '--state', state, '--json']).stdout) as { steps: Array<{ step: string; state: string }> };
    expect(status.steps.map((s) => [s.step, s.state])).toEqual([['first', 'succeeded'], ['second', 'cancelled']]);
  });

  it('is refused when it is not a whole number of ms from 0 to a year', () => {
    const dir = tmp();
    const r = joinflow(['run', workflow(dir, -1)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('steps.second.delayMs');
  });
});
