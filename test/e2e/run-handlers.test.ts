/** `joinflow run --handlers MODULE`: every handler step takes its handler from MODULE, by its export name. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinflow } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-run-handlers-');

/** A project whose workflow `greet` has two function steps in workflows/handlers/real.mjs. */
function project(): string {
  const dir = tmp();
  mkdirSync(path.join(dir, 'workflows/handlers'), { recursive: true });
  writeFileSync(
    path.join(dir, 'workflows/greet.yaml'),
    [
      'name: greet',
      'output: shout',
      'steps:',
      '  hello:',
      '    executor: {type: function, module: ./handlers/real.mjs, export: hello}',
      '  shout:',
      '    needs: [hello]',
      '    executor: {type: function, module: ./handlers/real.mjs, export: shout}',
      '  count:',
      '    needs: [shout]',
      '    executor: {type: simulate, durationMs: 0, output: 3}',
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(dir, 'workflows/handlers/real.mjs'), "export const hello = async () => ({ text: 'real' });\nexport const shout = async (e) => ({ text: e.results.hello.text.toUpperCase() });\n");
  writeFileSync(path.join(dir, 'stubs.mjs'), "export const hello = async () => ({ text: 'stub' });\nexport const shout = async (e) => ({ text: `${e.results.hello.text}!` });\n");
  writeFileSync(path.join(dir, 'partial.mjs'), "export const hello = async () => ({ text: 'stub' });\n");
  writeFileSync(path.join(dir, 'workflows/sim.yaml'), 'name: sim\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 0}\n');
  return dir;
}

describe('joinflow run --handlers', () => {
  it('runs the handler steps with the module\'s exports instead of their own, durable and in memory', () => {
    const cwd = project();
    const own = joinflow(['run', 'greet', '--memory', '--json'], { cwd });
    expect(JSON.parse(own.stdout).output).toEqual({ text: 'REAL' });
    for (const flags of [['--memory'], []]) {
      const stubbed = joinflow(['run', 'greet', ...flags, '--json', '--handlers', 'stubs.mjs'], { cwd });
      expect(stubbed.code, stubbed.stderr).toBe(0);
      expect(JSON.parse(stubbed.stdout)).toMatchObject({ status: 'succeeded', output: { text: 'stub!' }, steps: { total: 3, succeeded: 3 } });
    }
  });

  it('refuses a module without a step\'s export, naming the step and what the module exports, and a missing module', () => {
    const cwd = project();
    const partial = joinflow(['run', 'greet', '--memory', '--handlers', 'partial.mjs'], { cwd });
    expect(partial.code).toBe(2);
    expect(partial.stderr).toContain('steps.shout.executor.export: "partial.mjs" has no function export "shout" (it exports: hello)');
    const missing = joinflow(['run', 'greet', '--memory', '--handlers', 'nope.mjs'], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--handlers nope.mjs: no such file');
    const dir = joinflow(['run', 'greet', '--memory', '--handlers', 'workflows'], { cwd });
    expect(dir.code).toBe(2);
    expect(dir.stderr).toContain('--handlers workflows: not a file');
  });

  it('says so when the workflow has no handler step to replace, and runs it', () => {
    const cwd = project();
    const r = joinflow(['run', 'sim', '--memory', '--handlers', 'stubs.mjs'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('--handlers stubs.mjs: workflows/sim.yaml has no step with a handler module (function, auto or container handler): nothing to replace');
  });
});
