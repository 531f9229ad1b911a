/** Critical-path-first scheduling: upward ranks, the task queue, and the engine under a limit. */
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { TaskQueue } from '../../src/adapters/local/task-queue.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { Task } from '../../src/ports.ts';
import { upwardRanks } from '../../src/runtime/priority.ts';

const sim = (durationMs: number, needs: string[] = []) => ({ needs, executor: { type: 'simulate' as const, durationMs } });

describe('upward ranks', () => {
  it('are a step\'s expected time plus the longest chain after it', () => {
    const plan = compileWorkflow(
      { name: 'r', steps: { root: sim(5), a: sim(1, ['root']), b: sim(50, ['root']), c: sim(30, ['b']), d: sim(10, ['a', 'c']) } },
      { source: 'r.yaml' },
    );
    expect(Object.fromEntries(upwardRanks(plan))).toEqual({ d: 10, c: 40, b: 90, a: 11, root: 95 });
  });

  it('use expectedSeconds where the duration is not known, and 1 ms otherwise; deep chains do not overflow', () => {
    const plan = compileWorkflow(
      {
        name: 'x',
        steps: {
          p: { executor: { type: 'process', command: 'true' }, resources: { expectedSeconds: 2 } },
          q: { needs: ['p'], executor: { type: 'process', command: 'true' } },
        },
      },
      { source: 'x.yaml' },
    );
    expect(Object.fromEntries(upwardRanks(plan))).toEqual({ q: 1, p: 2001 });
    const steps: Record<string, ReturnType<typeof sim>> = { s0: sim(1) };
    for (let i = 1; i < 20_000; i++) steps[`s${i}`] = sim(1, [`s${i - 1}`]);
    expect(upwardRanks(compileWorkflow({ name: 'deep', steps }, { source: 'd.yaml' })).get('s0')).toBe(20_000);
  });
});

describe('task queue', () => {
  it('pops the highest priority first, in arrival order among equals', () => {
    const q = new TaskQueue();
    const t = (step: string) => ({ step }) as Task;
    [['a', 1], ['b', 5], ['c', 5], ['d', 0], ['e', 9], ['f', 1]].forEach(([s, p]) => q.push(t(s as string), p as number));
    const out: string[] = [];
    for (let task = q.pop(); task; task = q.pop()) out.push(task.step);
    expect(out).toEqual(['e', 'b', 'c', 'a', 'f', 'd']);
  });
});

describe('the engine under a concurrency limit', () => {
  it('starts the ready step with the longest chain ahead of it first', async () => {
    // a and b are ready together; a comes first in the file, b heads the critical path.
    const plan = compileWorkflow(
      { name: 'cp', steps: { root: sim(1), a: sim(20, ['root']), b: sim(20, ['root']), c: sim(20, ['b']), d: sim(20, ['c']) } },
      { source: 'cp.yaml' },
    );
    const engine = createEngine({ concurrency: { simulate: 1 }, trace: true });
    engine.register(plan);
    const r = await engine.run('cp', null);
    await engine.close();
    expect(r.status).toBe('succeeded');
    const order = [...r.trace].sort((x, y) => x.start - y.start).map((t) => t.step);
    expect(order).toEqual(['root', 'b', 'a', 'c', 'd']);
  });
});
