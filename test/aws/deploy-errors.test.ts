/** deploy/lib.cjs: a stack that cannot be built is said once, before serverless reports each ${file()} that needed it. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileWorkflow, serializePlan } from '../../src/compiler/compile.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';
import { root } from '../helpers/cli.ts';
import { cleanPackages, slsPackage } from '../helpers/serverless.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-deploy-errors-');
afterAll(() => cleanPackages());

/** A plans directory holding `workflows`, compiled. */
function plansDir(...workflows: WorkflowInput[]): string {
  const dir = path.join(tmp(), 'triggers');
  mkdirSync(dir);
  for (const w of workflows) {
    const plan = compileWorkflow(w, { source: `workflows/${w.name}.yaml` });
    writeFileSync(path.join(dir, `${plan.workflow}.json`), serializePlan(plan));
  }
  return dir;
}

/** Calls the generators of deploy/ as serverless does: each reference on its own, concurrently. */
function generate(calls: Array<[string, string]>, env: Record<string, string> = {}, custom: object = {}) {
  const script = `
    const vars = { 'self:service': 'joinflow', 'sls:stage': 'dev', 'self:provider.region': 'us-east-1' };
    const resolvers = { resolveVariable: async (v) => vars[v], resolveConfigurationProperty: async () => (${JSON.stringify(custom)}) };
    const calls = ${JSON.stringify(calls)}.map(([file, name]) => require(${JSON.stringify(path.join(root, 'deploy'))} + '/' + file)[name](resolvers));
    Promise.all(calls).then(() => console.log('built'));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('joinflow: cannot build the stack'));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lines };
}

/**
 * 30 container queues with long names: the processor's environment lists each queue's URL, over
 * 4 KB. (Step functions and job definitions are not listed: the processor derives their names.)
 */
const crowded: WorkflowInput = {
  name: 'crowded',
  steps: Object.fromEntries(
    Array.from({ length: 30 }, (_, i) => [`step-${i}`, { executor: { type: 'container', queue: `queue-${String(i).padStart(2, '0')}-${'n'.repeat(31)}`, command: 'true' } }]),
  ),
};

describe('deploy model errors', () => {
  it('print one line naming the stage and the problem, and exit 1', () => {
    const script = `
      const { context } = require(${JSON.stringify(path.join(root, 'deploy/lib.cjs'))});
      const vars = { 'self:service': 'joinflow', 'sls:stage': 'dev', 'self:provider.region': 'us-east-1' };
      context({ resolveVariable: async (v) => vars[v], resolveConfigurationProperty: async () => ({ ruleBudget: 5 }) }).then(() => console.log('built'));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('built');
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('joinflow: cannot build the stack'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^joinflow: cannot build the stack of stage "dev": 0 subscriptions leave room for only 5 trigger rules, fewer than the \d+ workflows: deploy them as several services$/);
  });

  it('a ruleBudget that leaves no room for joinflow\'s own two rules is refused, naming it', () => {
    const script = `
      const { context } = require(${JSON.stringify(path.join(root, 'deploy/lib.cjs'))});
      const vars = { 'self:service': 'joinflow', 'sls:stage': 'dev', 'self:provider.region': 'us-east-1' };
      context({ resolveVariable: async (v) => vars[v], resolveConfigurationProperty: async () => ({ ruleBudget: 299 }) }).then(() => console.log('built'));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('built');
    expect(r.stderr).toContain("custom.joinflow.ruleBudget 299 leaves no room for joinflow's own two rules on the event bus (the Lambda-result bridge's and the unrouted events'): at most 298 of EventBridge's 300 rules per bus");
  });

  it('a Lambda environment over 4 KB is said once, without stack frames, though every function refers to it', () => {
    const triggers = plansDir(crowded);
    const calls = ['processor', 'timer', 'lambdaResultBridge', 'batchStateBridge', 's3StartBridge'].map((): [string, string] => ['functions.cjs', 'environment']);
    const r = generate([...calls, ['functions.cjs', 'steps'], ['iam.cjs', 'resources']], { JOINFLOW_TRIGGERS_DIR: triggers });
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('built');
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^joinflow: cannot build the stack of stage "dev": the environment of joinflow-dev-processor would be about \d+ bytes, over Lambda's 4096: 30 container queues are listed in it; use fewer queue names, or deploy the workflows as several services \(stages\)$/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('a GPU step no allowed instance type holds is said once, from whichever generator builds the model', () => {
    const big: WorkflowInput = { name: 'big', steps: { train: { executor: { type: 'batch', image: 'train:1', gpus: 4, vcpus: 8, memoryMb: 60_000 } } } };
    const r = generate([['batch.cjs', 'resources'], ['iam.cjs', 'resources'], ['functions.cjs', 'environment']], { JOINFLOW_TRIGGERS_DIR: plansDir(big) });
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([expect.stringContaining('cannot build the stack of stage "dev": step big/train asks for 4 GPUs, 8 vCPUs and 60000 MiB')]);
  });

  it('a stage name with a dot or an underscore is refused (serverless only warns, and the queue names would fail)', () => {
    for (const stage of ['v1.2', 'dev_1']) {
      const script = `
        const { context } = require(${JSON.stringify(path.join(root, 'deploy/lib.cjs'))});
        const vars = { 'self:service': 'joinflow', 'sls:stage': ${JSON.stringify(stage)}, 'self:provider.region': 'us-east-1' };
        context({ resolveVariable: async (v) => vars[v], resolveConfigurationProperty: async () => ({}) }).then(() => console.log('built'));
      `;
      const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`joinflow: cannot build the stack of stage "${stage}": the stage name "${stage}" may have only letters, digits and dashes`);
    }
  });

  // Lambda's Node.js runtime reads "dir/my.steps.go" as module "my", export "steps.go": the function could never load.
  it('a handler file name with a dot before its extension is refused, naming the step, the module and a name that works', () => {
    const dotted: WorkflowInput = { name: 'dotted', steps: { go: { executor: { type: 'function', module: 'handlers/my.steps.ts', export: 'run' } } } };
    const r = generate([['functions.cjs', 'steps'], ['iam.cjs', 'resources']], { JOINFLOW_TRIGGERS_DIR: plansDir(dotted) });
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([
      'joinflow: cannot build the stack of stage "dev": step dotted/go: handler module workflows/handlers/my.steps.ts: Lambda reads a handler\'s file name up to its first dot, ' +
        'so it would look for a module "my" exporting "steps.run" and fail every invocation: rename the file without a dot before its extension (my-steps.ts)',
    ]);
  });

  // serverless-esbuild said "Compilation failed for function alias stepGoneA...: Please ensure you
  // have an index file with ext .ts or .js" among stack frames, naming neither step nor module.
  it('a handler module that is not there is refused before bundling, naming the module and its steps', () => {
    const gone: WorkflowInput = {
      name: 'gone',
      steps: {
        a: { executor: { type: 'function', module: 'handlers/moved-away.ts', export: 'a' } },
        b: { needs: ['a'], executor: { type: 'function', module: 'handlers/moved-away.ts', export: 'b' } },
        c: { needs: ['b'], executor: { type: 'function', module: 'handlers/diamond.ts', export: 'nodeA' } },
      },
    };
    const r = generate([['functions.cjs', 'steps'], ['iam.cjs', 'resources']], { JOINFLOW_TRIGGERS_DIR: plansDir(gone) });
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('built');
    expect(r.lines).toEqual([
      `joinflow: cannot build the stack of stage "dev": handler module workflows/handlers/moved-away.ts of steps gone/a, gone/b does not exist (looked for ${path.join(root, 'workflows/handlers/moved-away.ts')}): ` +
        "it was moved, renamed or deleted since 'joinflow compile'; restore it, or fix the workflow and compile again",
    ]);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  // serverless-esbuild zipped such a function empty: it deployed, and every invocation failed to import its handler.
  it('a handler module outside the service directory is refused (its function would be packaged empty)', () => {
    const outside: WorkflowInput = { name: 'outside', steps: { go: { executor: { type: 'function', module: '../../elsewhere/h.ts', export: 'run' } } } };
    const r = generate([['functions.cjs', 'steps'], ['iam.cjs', 'resources']], { JOINFLOW_TRIGGERS_DIR: plansDir(outside) });
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([
      `joinflow: cannot build the stack of stage "dev": handler module ../elsewhere/h.ts of step outside/go is outside the service directory (${root}): ` +
        "serverless packages only files under it, so its functions would be deployed empty and fail every invocation; move the module into the project and run 'joinflow compile' again",
    ]);
  });

  it('`serverless package` says the environment problem once', () => {
    let message = '';
    try {
      slsPackage({ JOINFLOW_TRIGGERS_DIR: plansDir(crowded) });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^serverless package failed \(1\)/);
    expect(message.match(/joinflow: cannot build the stack of stage "test": the environment of joinflow-test-processor would be about \d+ bytes/g)).toHaveLength(1);
    expect(message).not.toMatch(/^\s+at /m);
  }, 300_000);
});
