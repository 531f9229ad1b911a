/** `joinflow list`, `status` and `logs` against the embedded engine's state dir, through the real bin. */
import { writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { joinflow } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-local-runs-');

type Run = { runId: string; workflow: string; status: string; startedAt: number; finishedAt?: number; input?: unknown; error?: { step?: string; type: string; message: string } };
type Step = { step: string; item?: number; state: string; attempts: number; startedAt?: number; finishedAt?: number; durationMs?: number; error?: { type: string; message: string } };

describe('list, status and logs of local runs', () => {
  let state = '';
  let failedId = '';
  let okId = '';

  beforeAll(() => {
    state = tmp();
    const failed = joinflow(['run', 'test/fixtures/workflows/process-fail.yaml', '--json', '--state', state]);
    expect(failed.code, failed.stderr).toBe(1);
    failedId = (JSON.parse(failed.stdout) as { runId: string }).runId;
    const ok = joinflow(['run', 'workflows/diamond.ts', '--json', '--input', '{"x":2}', '--state', state]);
    expect(ok.code, ok.stderr).toBe(0);
    okId = (JSON.parse(ok.stdout) as { runId: string }).runId;
    expect(failedId).not.toBe(okId);
  }, 120_000);

  it('list --json has both runs, newest first, with their statuses and no input', () => {
    const r = joinflow(['list', '--json', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    const runs = JSON.parse(r.stdout) as Run[];
    expect(runs.map((x) => [x.runId, x.workflow, x.status])).toEqual([
      [okId, 'diamond', 'succeeded'],
      [failedId, 'process-fail', 'failed'],
    ]);
    for (const x of runs) {
      expect(x).not.toHaveProperty('input');
      expect(x.finishedAt).toBeGreaterThanOrEqual(x.startedAt);
    }
  });

  it('list filters by --status and --workflow, and prints a table', () => {
    let r = joinflow(['list', '--status', 'failed', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(failedId);
    expect(r.stdout).toMatch(/process-fail\s+failed/);
    expect(r.stdout).not.toContain(okId);
    r = joinflow(['list', '--workflow', 'diamond', '--json', '--state', state]);
    expect((JSON.parse(r.stdout) as Run[]).map((x) => x.runId)).toEqual([okId]);
    r = joinflow(['list', '--status', 'cancelled', '--json', '--state', state]);
    expect(JSON.parse(r.stdout)).toEqual([]);
    // A typo in --workflow is no error, but it is told the workflow it may have meant.
    r = joinflow(['list', '--workflow', 'diamnd', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('no runs of workflow "diamnd" (did you mean "diamond"?)\n');
    // A workflow that has runs, none of that --status: said so, not taken for a typo of itself.
    r = joinflow(['list', '--workflow', 'diamond', '--status', 'cancelled', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('no cancelled runs of workflow "diamond"\n');
    r = joinflow(['list', '--status', 'bogus', '--state', state]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--status must be one of');
  });

  it('status shows each step with its state, and the error of the failed one', () => {
    const r = joinflow(['status', failedId, '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`run ${failedId} (process-fail): failed`);
    expect(r.stdout).toMatch(/^ {2}failed +bad +1 attempt/m);
    expect(r.stdout).toMatch(/^ {2}succeeded +ok +1 attempt/m);
    expect(r.stdout).toMatch(/^ {2}cancelled +slow +1 attempt/m);
    expect(r.stdout).toMatch(/ProcessExited: exited with code 3/);
    const ok = joinflow(['status', okId, '--state', state]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`run ${okId} (diamond): succeeded`);
    expect(ok.stdout).toContain('output: ');
    expect(ok.stdout).not.toMatch(/^ {2}(failed|cancelled|dispatched|started) /m);
  });

  it('status --json prints {run, steps}', () => {
    const r = joinflow(['status', failedId, '--json', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { run: Run; steps: Step[] };
    expect(Object.keys(out).sort()).toEqual(['run', 'steps']);
    expect(out.run).toMatchObject({ runId: failedId, workflow: 'process-fail', status: 'failed', error: { step: 'bad', type: 'ProcessExited' } });
    expect(out.run).not.toHaveProperty('input');
    const byStep = Object.fromEntries(out.steps.map((s) => [s.step, s]));
    expect(Object.keys(byStep).sort()).toEqual(['bad', 'ok', 'slow']);
    expect(byStep['bad']).toMatchObject({ state: 'failed', attempts: 1, error: { type: 'ProcessExited' } });
    expect(byStep['bad']!.error!.message).toContain('code 3');
    expect(byStep['ok']).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(byStep['ok']).not.toHaveProperty('error');
    expect(byStep['slow']).toMatchObject({ state: 'cancelled', attempts: 1 });
    // Each step's time: from its first start to its end (a step stopped because the run failed
    // ends when its process is gone, which may be after the run's end).
    for (const s of out.steps) {
      expect(s.durationMs, s.step).toBe(s.finishedAt! - s.startedAt!);
      expect(s.startedAt!, s.step).toBeGreaterThanOrEqual(out.run.startedAt);
    }
    expect(byStep['ok']!.finishedAt!).toBeLessThanOrEqual(out.run.finishedAt!);
  });

  it('logs --step prints the captured stderr of that step only', () => {
    const r = joinflow(['logs', failedId, '--step', 'bad', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('== bad.1 stderr ==');
    expect(r.stdout).toContain('line 1\n');
    expect(r.stdout).toContain('line 40\n');
    expect(r.stdout).not.toContain('slow.');
    const all = joinflow(['logs', failedId, '--state', state]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain('== bad.1 stderr ==');
    // The cancelled step wrote nothing: it has no log files, and its streams show as empty.
    expect(all.stdout).toContain('== slow.1 stdout ==\n(empty)\n== slow.1 stderr ==\n(empty)\n');
  });

  it('logs exits 1 for a run without process logs or an unknown step', () => {
    let r = joinflow(['logs', okId, '--state', state]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`run "${okId}" has no logs`);
    r = joinflow(['logs', failedId, '--step', 'ok', '--state', state]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('has no logs for step "ok"');
  });

  it('exits 1 naming an unknown run', () => {
    for (const command of ['status', 'logs']) {
      const r = joinflow([command, 'no-such-run', '--state', state]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`no run "no-such-run"`);
      expect(r.stdout).toBe('');
    }
  });

  it('exits 2 when the state dir has no state', () => {
    const r = joinflow(['list', '--state', tmp()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no joinflow state in');
  });
});

describe('logs of batch and container command steps run locally', () => {
  it('shows the streams they left empty as (empty), as for process steps', () => {
    const dir = tmp();
    const wf = `${dir}/local-commands.yaml`;
    writeFileSync(wf, [
      'name: local-commands',
      'steps:',
      '  job:',
      "    executor: { type: batch, image: 'tool:1', command: [tool], local: { command: sh, args: [-c, 'echo job-err >&2'] } }",
      '  task:',
      '    needs: [job]',
      "    executor: { type: container, queue: q, command: sh, args: [-c, 'echo task-err >&2'] }",
      '',
    ].join('\n'));
    const state = `${dir}/state`;
    const run = joinflow(['run', wf, '--json', '--state', state]);
    expect(run.code, run.stderr).toBe(0);
    const runId = (JSON.parse(run.stdout) as { runId: string }).runId;
    const r = joinflow(['logs', runId, '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('== job.1 stdout ==\n(empty)\n== job.1 stderr ==\njob-err\n== task.1 stdout ==\n(empty)\n== task.1 stderr ==\ntask-err\n');
  });
});

describe('status of a run with a forEach over an empty array', () => {
  it('lists the forEach step as succeeded over 0 items, while the counts, list and timeline count no execution of it', () => {
    const state = tmp();
    const run = joinflow(['run', 'fanout', '--input', '{"n": 0}', '--json', '--state', state, '--run-id', 'empty-1']);
    expect(run.code, run.stderr).toBe(0);
    // The counts are units of work (forEach items): square had none.
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'succeeded', steps: { total: 2, succeeded: 2 } });
    const json = joinflow(['status', 'empty-1', '--json', '--state', state]);
    expect(json.code, json.stderr).toBe(0);
    const steps = (JSON.parse(json.stdout) as { steps: Array<Step & { items?: number }> }).steps;
    // In dispatch order: square completed with split, before sum was dispatched.
    expect(steps.map((s) => [s.step, s.state, s.attempts, s.items])).toEqual([
      ['split', 'succeeded', 1, undefined],
      ['square', 'succeeded', 0, 0],
      ['sum', 'succeeded', 1, undefined],
    ]);
    expect(steps.find((s) => s.step === 'square')).not.toHaveProperty('durationMs');
    const text = joinflow(['status', 'empty-1', '--state', state]).stdout;
    expect(text).toMatch(/^ {2}succeeded +square +0 attempts; forEach over 0 items$/m);
    expect(joinflow(['list', '--state', state]).stdout).toMatch(/^empty-1 +fanout +succeeded /m);
    expect(joinflow(['timeline', 'empty-1', '--state', state]).stdout).toContain('note: steps that did not run: square (its forEach array was empty)\n');
  });

  it('lists the items of a forEach over a non-empty array, without an items count', () => {
    const state = tmp();
    expect(joinflow(['run', 'fanout', '--input', '{"n": 2}', '--state', state, '--run-id', 'two-1']).code).toBe(0);
    const steps = (JSON.parse(joinflow(['status', 'two-1', '--json', '--state', state]).stdout) as { steps: Array<Step & { items?: number }> }).steps;
    expect(steps.filter((s) => s.step === 'square').map((s) => [s.item, s.state, s.items])).toEqual([[0, 'succeeded', undefined], [1, 'succeeded', undefined]]);
  });
});
