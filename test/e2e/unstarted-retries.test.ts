/**
 * A retry that has not started, through the real bin: `status` counts only the attempts that
 * started and names the retry (due after its backoff, waiting for a free slot, or never started
 * because the run ended first); `--json` gives it as `unstarted`; the timeline has no bar and
 * `logs` no streams for it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinflow, startJoinflow } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { until } from '../helpers/until.ts';

const tmp = tempDirs('jf-unstarted-');

type Step = { step: string; state: string; attempts: number; startedAt?: number; finishedAt?: number; durationMs?: number; error?: { type: string; message: string }; unstarted?: { attempt: number; state: string; dueAt?: number; interrupted?: true } };
type Status = { run: { status: string; finishedAt?: number }; steps: Step[] };

// `retr` fails each attempt and is retried; `slow` runs until the file `stop` appears, then fails (exit 4).
const workflow = (name: string, retry: string) => `name: ${name}
steps:
  retr:
    retry: ${retry}
    executor: { type: process, command: sh, args: [-c, 'exit 3'] }
  slow:
    executor: { type: process, command: sh, args: [-c, 'while [ ! -e stop ]; do sleep 0.05; done; exit 4'] }
`;

function status(dir: string, runId: string): Status | undefined {
  const r = joinflow(['status', runId, '--json'], { cwd: dir });
  return r.code === 0 ? (JSON.parse(r.stdout) as Status) : undefined;
}

const retrOf = (s: Status | undefined): Step | undefined => s?.steps.find((x) => x.step === 'retr');

describe('a retry that has not started', () => {
  it('waiting for its backoff: due at its time; the run cancelled, it never started and is no attempt', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'wf.yaml'), workflow('backoff', '{ maxAttempts: 3, backoffMs: 600000, maxDelayMs: 600000 }'));
    const run = startJoinflow(['run', 'wf.yaml', '--run-id', 'b1'], dir);
    try {
      let seen: Status | undefined;
      await until('retr failed', () => retrOf((seen = status(dir, 'b1')))?.state === 'failed');
      const waiting = retrOf(seen)!;
      expect(waiting).toMatchObject({ state: 'failed', attempts: 1, unstarted: { attempt: 2, state: 'scheduled' }, error: { type: 'ProcessExited', message: 'exited with code 3' } });
      const dueAt = waiting.unstarted!.dueAt!;
      expect(dueAt).toBeGreaterThan(waiting.finishedAt!);
      const text = joinflow(['status', 'b1'], { cwd: dir }).stdout;
      expect(text).toMatch(new RegExp(`^ {2}failed +retr +1 attempt, [^;\\n]+; retry 2 due at ${new Date(dueAt).toISOString().replace(/\./g, '\\.')}\\n {13}ProcessExited: exited with code 3$`, 'm'));

      expect(joinflow(['cancel', 'b1'], { cwd: dir }).code).toBe(0);
      expect((await run.exit).code).toBe(1);
      const ended = status(dir, 'b1')!;
      expect(ended.run.status).toBe('cancelled');
      const retr = retrOf(ended)!;
      expect(retr).toMatchObject({ state: 'cancelled', attempts: 1, unstarted: { attempt: 2, state: 'cancelled' }, error: { type: 'ProcessExited' } });
      // Its time is its one attempt's, not the wait until the run's end.
      expect(retr.finishedAt).toBe(waiting.finishedAt);
      expect(retr.durationMs).toBe(retr.finishedAt! - retr.startedAt!);
      expect(retrOf(ended)!.unstarted).not.toHaveProperty('dueAt');
      expect(joinflow(['status', 'b1'], { cwd: dir }).stdout).toMatch(/^ {2}cancelled +retr +1 attempt, [^;\n]+; retry 2 never started \(the run was cancelled\)\n {13}ProcessExited: exited with code 3$/m);

      const timeline = JSON.parse(joinflow(['timeline', 'b1', '--json'], { cwd: dir }).stdout) as { executions: Array<{ step: string; attempt: number }> };
      expect(timeline.executions.map((e) => `${e.step}#${e.attempt}`).sort()).toEqual(['retr#1', 'slow#1']);
      const logs = joinflow(['logs', 'b1', '--step', 'retr'], { cwd: dir });
      expect(logs.stdout).toBe('== retr.1 stdout ==\n(empty)\n== retr.1 stderr ==\n(empty)\n');
    } finally {
      run.child.kill();
      await run.exit;
    }
  }, 120_000);

  it("waiting for its backoff when its engine is gone: due then only if 'joinflow resume' has continued the run by then", async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'wf.yaml'), `name: gone
steps:
  retr:
    retry: { maxAttempts: 3, backoffMs: 600000, maxDelayMs: 600000 }
    executor: { type: process, command: sh, args: [-c, 'exit 3'] }
`);
    const run = startJoinflow(['run', 'wf.yaml', '--run-id', 'g1'], dir);
    try {
      await until('retr failed', () => retrOf(status(dir, 'g1'))?.state === 'failed');
    } finally {
      run.child.kill('SIGKILL');
      await run.exit;
    }
    const retr = retrOf(status(dir, 'g1'))!;
    expect(retr.unstarted).toEqual({ attempt: 2, state: 'scheduled', dueAt: expect.any(Number), interrupted: true });
    const at = new Date(retr.unstarted!.dueAt!).toISOString();
    expect(joinflow(['status', 'g1'], { cwd: dir }).stdout).toContain(`; retry 2 due at ${at}, if 'joinflow resume g1' has continued the run by then (else once it does)\n`);
  }, 120_000);

  it('waiting for a free slot: waiting to start; the run failed, it never started and is no attempt', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'wf.yaml'), workflow('queued', '{ maxAttempts: 3, backoffMs: 1 }'));
    // One process at a time: once retr's first attempt failed, slow holds the slot and the retry queues behind it.
    const run = startJoinflow(['run', 'wf.yaml', '--run-id', 'q1', '--concurrency', 'process=1'], dir);
    try {
      let seen: Status | undefined;
      // Its retry, not its first attempt (dispatched an instant before it starts).
      await until('retr\'s retry dispatched, not started', () => {
        const unstarted = retrOf((seen = status(dir, 'q1')))?.unstarted;
        return unstarted?.state === 'dispatched' && unstarted.attempt === 2;
      });
      expect(retrOf(seen)).toMatchObject({ state: 'dispatched', attempts: 1, unstarted: { attempt: 2, state: 'dispatched' }, error: { type: 'ProcessExited' } });
      expect(joinflow(['status', 'q1'], { cwd: dir }).stdout).toMatch(/^ {2}dispatched +retr +1 attempt, [^;\n]+; retry 2 waiting to start\n {13}ProcessExited: exited with code 3$/m);

      writeFileSync(path.join(dir, 'stop'), '');
      expect((await run.exit).code).toBe(1);
      const ended = status(dir, 'q1')!;
      expect(ended.run.status).toBe('failed');
      expect(retrOf(ended)).toMatchObject({ state: 'cancelled', attempts: 1, unstarted: { attempt: 2, state: 'cancelled' }, error: { type: 'ProcessExited', message: 'exited with code 3' } });
      expect(joinflow(['status', 'q1'], { cwd: dir }).stdout).toMatch(/^ {2}cancelled +retr +1 attempt, [^;\n]+; retry 2 never started \(the run failed first\)$/m);
    } finally {
      run.child.kill();
      await run.exit;
    }
  }, 120_000);
});
