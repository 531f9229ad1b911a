import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-asl-');
const corpus = path.resolve(root, '../shared/corpora/asl');
const tasks = path.join(root, 'test/fixtures/asl/tasks.ts');
type Result = { status: string; output: unknown; error?: { type: string; message: string; step?: string }; steps: Record<string, number> };

/** Imports a machine (a corpus file name, or a machine object) into a fresh dir; returns the workflow file. */
function imported(machine: string | object, extra: string[] = ['--tasks', tasks]): string {
  const dir = tmp();
  const file = typeof machine === 'string' ? path.join(corpus, machine) : path.join(dir, 'machine.asl.json');
  if (typeof machine !== 'string') writeFileSync(file, JSON.stringify(machine));
  const out = path.join(dir, 'wf.json');
  const r = joinflow(['import', 'asl', file, '-o', out, ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return out;
}

function run(workflow: string, input: unknown, state?: string): Result {
  const r = joinflow(['run', workflow, '--input', JSON.stringify(input), '--json', ...(state ? ['--state', state] : ['--memory'])]);
  expect([0, 1], r.stderr).toContain(r.code);
  return JSON.parse(r.stdout) as Result;
}

describe('joinflow import asl + run: the corpus machines', () => {
  it('choice by data (sfwc path-based-on-data): each input takes its rule\'s branch', () => {
    const wf = imported('sfwc__path-based-on-data.asl.json', []);
    const ran = (input: object) => {
      const r = joinflow(['run', wf, '--input', JSON.stringify(input), '--memory']);
      expect(r.code, r.stderr).toBe(0);
      return r.stderr.split('\n').filter((l) => l.startsWith('ok ')).map((l) => l.split(/\s+/)[1]);
    };
    expect(ran({ type: 'Public', value: 0 })).toEqual(['Choice_State', 'NEXT_STATE_ONE', 'end']);
    expect(ran({ type: 'Private', value: 0 })).toEqual(['Choice_State', 'NEXT_STATE_TWO', 'end']);
    expect(ran({ type: 'Private', value: 25 })).toEqual(['Choice_State', 'NEXT_STATE_TWO', 'end']);
    expect(ran({ type: 'Private', value: 5 })).toEqual(['Choice_State', 'DEFAULT_STATE', 'end']);
  });

  it('a polling loop (aslvalidator job-status-poller) runs until the job is done, or fails the run at its Fail state', () => {
    const wf = imported('aslvalidator__valid-job-status-poller.asl.json');
    const ok = run(wf, { runMs: 60, wait_time: 0.01 });
    expect([ok.status, ok.output]).toEqual(['succeeded', 'SUCCEEDED']);
    const failed = run(wf, { runMs: 10, wait_time: 0.01, fail: true });
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ step: 'Job_Failed', message: 'DescribeJob returned FAILED: AWS Batch Job Failed' });
  });

  it('Parallel branches (statebox fun-with-math) and a Map with InputPath/ResultPath (statebox map)', () => {
    expect(run(imported('statebox__fun-with-math-state-machine.asl.json'), [3, 2]).output).toEqual([5, 1]);
    const shipped = [{ prod: 'R31', 'dest-code': 9511, quantity: 1344 }, { prod: 'S39', 'dest-code': 9511, quantity: 40 }];
    const r = run(imported('statebox__map.asl.json'), { detail: { 'delivery-partner': 'UQS', shipped } });
    expect(r.output).toEqual({ detail: { 'delivery-partner': 'UQS', shipped: shipped.map((s) => ({ ...s, quantity: s.quantity + 1 })) } });
    expect(r.steps['total']).toBe(5); // head, 2 items, join, end
  });

  it('scatter-gather (sfwc): functions picked by the data, a failed item caught inside the Map, a service Task, on the durable store', () => {
    const state = tmp();
    const r = run(imported('sfwc__scatter-gather.asl.json'), { requestDescription: { amount: 10 }, quoteProviders: ['quoteA', 'brokenQuote', 'quoteB'] }, state);
    expect(r.status).toBe('succeeded');
    const out = r.output as { table: string; saved: { requestId: { S: string }; quotes: { S: string } } };
    expect(out.table).toBe('ScatterGatherStack-Quotes4DCFF1CF-M5K0TUIFX7XN');
    expect(out.saved.requestId.S).toMatch(/^[0-9a-f-]{36}$/);
    const quotes = JSON.parse(out.saved.quotes.S) as Array<{ quote?: { Cause: string } }>;
    // A Lambda function's error, as Step Functions reports it: its Cause is the function's error response as JSON.
    expect(JSON.parse(quotes[1]!.quote!.Cause)).toMatchObject({ errorType: 'Error', errorMessage: 'provider down', trace: ['Error: provider down', expect.stringContaining('brokenQuote')] });
    expect(quotes).toEqual([
      { provider: 'A', price: 20 },
      { quote: { Error: 'Error', Cause: quotes[1]!.quote!.Cause } },
      { provider: 'B', price: 30 },
    ]);
  });

  it('retry-with-exponential-backoff (sfwc): a function named by a template placeholder, invoked without a Payload', () => {
    const r = run(imported('sfwc__retry-with-exponential-backoff-sam.asl.json'), { failures: 5 });
    // No Payload in Parameters: the function gets an empty event, so it does not fail.
    expect([r.status, r.output]).toEqual(['succeeded', { body: 'ok', calls: 1 }]);
  });
});

describe('joinflow import asl: Retry and Catch on the engine', () => {
  const machine = {
    StartAt: 'Call',
    States: {
      Call: {
        Type: 'Task', Resource: 'arn:aws:lambda:eu-west-1:123456789012:function:generateRandomResponsesLambda',
        Retry: [{ ErrorEquals: ['InternalServerError'], IntervalSeconds: 1, MaxAttempts: 1 }],
        Catch: [{ ErrorEquals: ['ValidationError'], ResultPath: '$.error', Next: 'Recover' }],
        ResultPath: '$.call', Next: 'Done',
      },
      Recover: { Type: 'Pass', Result: 'recovered', ResultPath: '$.status', Next: 'Done' },
      Done: { Type: 'Succeed' },
    },
  };

  it('retries a matching error with the engine\'s retry, catches another into its Catch state, and fails the run on an error neither matches', () => {
    const wf = imported(machine);
    const dir = path.dirname(wf);
    const retried = run(wf, { counter: path.join(dir, 'a'), failures: 1 });
    expect(retried).toMatchObject({ status: 'succeeded', output: { call: { body: 'ok', calls: 2 } }, steps: { retried: 1 } });
    const caught = run(wf, { counter: path.join(dir, 'b'), failures: 1, error: 'ValidationError' });
    expect(caught.status).toBe('succeeded');
    const cause = (caught.output as { error: { Cause: string } }).error.Cause;
    expect(JSON.parse(cause)).toMatchObject({ errorType: 'ValidationError', errorMessage: 'bad request (call 1)' });
    expect(caught.output).toEqual({ counter: path.join(dir, 'b'), failures: 1, error: { Error: 'ValidationError', Cause: cause }, status: 'recovered' });
    const twice = run(wf, { counter: path.join(dir, 'c'), failures: 2 });
    expect(twice.status).toBe('failed');
    expect(twice.error).toMatchObject({ type: 'NonRetriableStepError', step: 'Call.catch' });
    expect((twice.error as { message: string }).message).toMatch(/^InternalServerError: \{"errorType":"InternalServerError","errorMessage":"try again \(call 2\)","trace":\[/);
  });

  it('a Task the engine retried, failing every attempt with no Catch, fails the run with its own error name', () => {
    const { Catch: _none, ...call } = machine.States.Call;
    const wf = imported({ StartAt: 'Call', States: { Call: call, Done: machine.States.Done } });
    const failed = run(wf, { counter: path.join(path.dirname(wf), 'n'), failures: 2 });
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ type: 'InternalServerError', step: 'Call' });
    expect(JSON.parse((failed.error as { message: string }).message)).toMatchObject({ errorType: 'InternalServerError', errorMessage: 'try again (call 2)' });
  });

  it('gives $$.Execution.StartTime as the run\'s start, the same in every state, on the durable store', () => {
    const wf = imported({
      StartAt: 'First',
      States: {
        First: { Type: 'Pass', Parameters: { 'start.$': '$$.Execution.StartTime' }, ResultPath: '$.first', Next: 'Pause' },
        Pause: { Type: 'Wait', Seconds: 1, Next: 'Second' },
        Second: { Type: 'Pass', Parameters: { 'start.$': '$$.Execution.StartTime', 'entered.$': '$$.State.EnteredTime' }, ResultPath: '$.second', End: true },
      },
    }, []);
    const state = tmp();
    const r = joinflow(['run', wf, '--input', '{}', '--json', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    const { runId, output } = JSON.parse(r.stdout) as { runId: string; output: { first: { start: string }; second: { start: string; entered: string } } };
    const status = joinflow(['status', runId, '--state', state, '--json']);
    const started = (JSON.parse(status.stdout) as { run: { startedAt: number } }).run.startedAt;
    expect(output.first.start).toBe(new Date(started).toISOString());
    expect(output.first.start).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // A second later (the Wait), the same start.
    expect(output.second.start).toBe(output.first.start);
    expect(Date.parse(output.second.entered) - Date.parse(output.second.start)).toBeGreaterThanOrEqual(1000);
  });

  it('joins the ways into a state after a Choice, whichever ran', () => {
    const wf = imported({
      StartAt: 'Check',
      States: {
        Check: { Type: 'Choice', Choices: [{ Variable: '$.n', NumericGreaterThan: 5, Next: 'Big' }], Default: 'Merge' },
        Big: { Type: 'Pass', Parameters: { 'n.$': '$.n', size: 'big' }, Next: 'Merge' },
        Merge: { Type: 'Pass', Parameters: { 'seen.$': '$' }, End: true },
      },
    }, []);
    expect(run(wf, { n: 9 }).output).toEqual({ seen: { n: 9, size: 'big' } });
    expect(run(wf, { n: 1 }).output).toEqual({ seen: { n: 1 } });
  });
});

describe('joinflow import asl: refusals and the files written', () => {
  it('refuses the corpus\'s invalid machine, naming the state, and writes nothing', () => {
    const dir = tmp();
    const r = joinflow(['import', 'asl', path.join(corpus, 'aslvalidator__invalid-missing-terminal-parallel.asl.json'), '-o', path.join(dir, 'wf.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('States.Parallel.Branches[0].States["Wait 20s"] (line 12): a Wait state that does not end its branch needs Next');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('names the line of each refused construct, in a JSON or a YAML machine, and of each warning', () => {
    const dir = tmp();
    const json = path.join(dir, 'm.asl.json');
    // A template key with a dot in it, a state name with a space, and a field the machine lacks.
    writeFileSync(json, [
      '{',
      '  "StartAt": "First",',
      '  "TimeoutSeconds": 30,',
      '  "States": {',
      '    "First": {',
      '      "Type": "Pass",',
      '      "Parameters": { "a.b.$": "$.x.length()" },',
      '      "Next": "Second one"',
      '    },',
      '    "Second one": { "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",',
      '      "Assign": { "v": 1 }, "End": true }',
      '  }',
      '}',
    ].join('\n'));
    const r = joinflow(['import', 'asl', json, '-o', path.join(dir, 'wf.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('States.First.Parameters.a.b.$ (line 7): "$.x.length()": functions such as length() are not supported');
    expect(r.stderr).toContain('States["Second one"].Assign (line 11): workflow variables are not imported');
    expect(r.stderr).toContain('States["Second one"].Resource (line 10): "arn:aws:states:::sqs:sendMessage.waitForTaskToken"');
    const yaml = path.join(dir, 'm.asl.yaml');
    writeFileSync(yaml, 'StartAt: A\nTimeoutSeconds: 30\nStates:\n  A:\n    Type: Wait\n    Seconds: 1\n    Nxt: B\n    End: true\n');
    const y = joinflow(['import', 'asl', yaml, '-o', path.join(dir, 'wf.json')]);
    expect(y.code).toBe(2);
    expect(y.stderr).toContain('States.A.Nxt (line 7): "Nxt" is not a field of a Wait state');
    const ok = path.join(dir, 'ok.asl.yaml');
    writeFileSync(ok, 'StartAt: A\nTimeoutSeconds: 30\nStates:\n  A:\n    Type: Pass\n    End: true\n');
    const warned = joinflow(['import', 'asl', ok, '-o', path.join(dir, 'wf.json')]);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toContain('warning: TimeoutSeconds (line 2): not imported');
  });

  it('asks for the tasks module, names a Task it lacks, and needs -o', () => {
    const dir = tmp();
    const poller = path.join(corpus, 'aslvalidator__valid-job-status-poller.asl.json');
    const none = joinflow(['import', 'asl', poller, '-o', path.join(dir, 'wf.json')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('has 3 Task states: name the module that implements them with --tasks (it exports SubmitJob, CheckJob)');
    const partial = path.join(dir, 'partial.mjs');
    writeFileSync(partial, 'export const SubmitJob = () => ({});\n');
    const lacking = joinflow(['import', 'asl', poller, '-o', path.join(dir, 'wf.json'), '--tasks', partial]);
    expect(lacking.code).toBe(2);
    expect(lacking.stderr).toContain(`States["Get Job Status"] (line 24): --tasks ${partial} exports no function "CheckJob" for this Task`);
    expect(joinflow(['import', 'asl', poller]).stderr).toContain('name the workflow file with -o');
    expect(readdirSync(dir)).toEqual(['partial.mjs']);
  });

  it('refuses to write the steps\' module over the --tasks module, which is left as it was', () => {
    const dir = tmp();
    const own = path.join(dir, 'wf-asl.ts');
    const code = readFileSync(tasks, 'utf8');
    writeFileSync(own, code);
    const r = joinflow(['import', 'asl', path.join(corpus, 'statebox__map.asl.json'), '-o', path.join(dir, 'wf.json'), '--tasks', own]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the steps' module (${own}) would be written over the --tasks module (${own}): choose another output file, or rename the tasks module`);
    expect(readFileSync(own, 'utf8')).toBe(code);
    expect(readdirSync(dir)).toEqual(['wf-asl.ts']);
  });

  // Outside a "type": "module" package a .ts file is CommonJS: its default export sits at default.default.
  it('finds the functions of a TypeScript tasks module\'s default export object, also loaded as CommonJS', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'm.asl.json'), JSON.stringify({ StartAt: 'Save', States: { Save: { Type: 'Task', Resource: 'arn:aws:states:::dynamodb:putItem', Parameters: { 'x.$': '$.x' }, End: true } } }));
    writeFileSync(path.join(dir, 'tasks.ts'), 'export default { Save: (p: { x: number }) => ({ saved: p.x }) };\n');
    const out = path.join(dir, 'saver.json');
    const r = joinflow(['import', 'asl', path.join(dir, 'm.asl.json'), '-o', out, '--tasks', path.join(dir, 'tasks.ts')]);
    expect(r.code, r.stderr).toBe(0);
    expect(run(out, { x: 3 }).output).toEqual({ saved: 3 });
  });

  // Lambda reads a handler's file name up to its first dot: the module's name has none before .ts.
  it('names the steps\' module without a dot before its extension, also for an -o with dots', () => {
    const dir = tmp();
    const r = joinflow(['import', 'asl', path.join(corpus, 'statebox__map.asl.json'), '-o', path.join(dir, 'my.flow.json'), '--tasks', tasks]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['my-flow-asl.ts', 'my.flow.json']);
    expect(readFileSync(path.join(dir, 'my.flow.json'), 'utf8')).toContain('"module": "./my-flow-asl.ts"');
  });

  it('reads a YAML machine and writes a YAML workflow, which runs', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'm.asl.yaml'), [
      'StartAt: Add',
      'States:',
      '  Add: { Type: Task, Resource: "module:Add", InputPath: $.pair, ResultPath: $.sum, Next: Done }',
      '  Done: { Type: Succeed, OutputPath: $.sum }',
    ].join('\n'));
    const out = path.join(dir, 'sum.yaml');
    const r = joinflow(['import', 'asl', path.join(dir, 'm.asl.yaml'), '-o', out, '--tasks', tasks]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['m.asl.yaml', 'sum-asl.ts', 'sum.yaml']);
    expect(run(out, { pair: [2, 40] }).output).toBe(42);
    expect(r.stderr).toMatch(/^sum: /m);
    // In the workflows/<name>/workflow.yaml layout, the workflow is named after its directory.
    mkdirSync(path.join(dir, 'adder'));
    const layout = joinflow(['import', 'asl', path.join(dir, 'm.asl.yaml'), '-o', path.join(dir, 'adder/workflow.yaml'), '--tasks', tasks]);
    expect(layout.code, layout.stderr).toBe(0);
    expect(layout.stderr).toMatch(/^adder: /m);
    expect(readFileSync(path.join(dir, 'adder/workflow.yaml'), 'utf8')).toMatch(/^name: adder$/m);
  });

  it('writes file names into the steps\' module as string text: a quote in the tasks path, a line break in the machine\'s name', () => {
    const dir = tmp();
    mkdirSync(path.join(dir, "o'brien"));
    const quoted = path.join(dir, "o'brien", 'tasks.ts');
    writeFileSync(quoted, readFileSync(tasks));
    // A name that, pasted into the module's first comment line, made lines of code of its own.
    const machine = path.join(dir, 'm\nprocess.stderr.write("INJECTED\\n");\n.asl.yaml');
    writeFileSync(machine, 'StartAt: Add\nStates:\n  Add: { Type: Task, Resource: "module:Add", InputPath: $.pair, Next: Done }\n  Done: { Type: Succeed }\n');
    const out = path.join(dir, 'sum.json');
    const r = joinflow(['import', 'asl', machine, '-o', out, '--tasks', quoted]);
    expect(r.code, r.stderr).toBe(0);
    const module = readFileSync(path.join(dir, 'sum-asl.ts'), 'utf8');
    expect(module).toContain("import * as tasks from './o\\'brien/tasks.ts';");
    expect(module.split('\n')[0]).toBe('// Written by `joinflow import asl m\\u000aprocess.stderr.write("INJECTED\\\\n");\\u000a.asl.yaml`: the handler of every step of sum.json.');
    const ran = joinflow(['run', out, '--input', '{"pair": [2, 40]}', '--json', '--memory']);
    expect(ran.code, ran.stderr).toBe(0);
    expect((JSON.parse(ran.stdout) as Result).output).toBe(42);
    expect(ran.stderr).not.toContain('INJECTED');
  });

  it('writes the module the steps run beside the workflow, importing the tasks relative to it', () => {
    const wf = imported('statebox__map.asl.json');
    const module = readFileSync(wf.replace(/\.json$/, '-asl.ts'), 'utf8');
    expect(module).toContain(`import * as tasks from '${path.relative(path.dirname(wf), tasks)}';`);
    expect(module).toContain('export const handler = aslHandler(tasks);');
    // Outside a project that has joinflow, the module names this package's entry by path (from src/ or dist/ alike).
    const entry = /import \{ aslHandler \} from '([^']+)'/.exec(module)![1]!;
    expect(path.resolve(path.dirname(wf), entry)).toBe(path.join(root, 'src/asl.ts'));
  });
});

describe('workflows/sensor-report (imported from its machine.asl.json)', () => {
  it('is what joinflow import asl writes today, and runs: statistics and outliers in parallel, each sensor calibrated', () => {
    const dir = tmp();
    const out = path.join(dir, 'workflow.json');
    const r = joinflow(['import', 'asl', 'workflows/sensor-report/machine.asl.json', '-o', out, '--tasks', 'workflows/sensor-report/tasks.ts', '--name', 'sensor-report']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(path.join(root, 'workflows/sensor-report/workflow.json'), 'utf8'));
    const ran = joinflow(['run', 'sensor-report', '--input', '@workflows/sensor-report/input.json', '--json', '--memory']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout).output).toEqual({
      status: 'ok',
      summary: '6 readings, mean 15.417',
      stats: { mean: 15.417, min: 9.8, max: 42 },
      outliers: [42],
      sensors: [{ id: 'north', value: 1.75 }, { id: 'south', value: 1.25 }],
    });
    const rejected = joinflow(['run', 'sensor-report', '--input', '{"readings": "none"}', '--json', '--memory']);
    expect(JSON.parse(rejected.stdout)).toMatchObject({ status: 'succeeded', output: { status: 'rejected', reason: 'readings must be an array of finite numbers' } });
    const few = joinflow(['run', 'sensor-report', '--input', '{"readings": [1, 2]}', '--json', '--memory']);
    expect(few.code).toBe(1);
    expect(JSON.parse(few.stdout).error).toMatchObject({ message: 'TooFewReadings: a report needs at least 3 readings' });
  });
});

describe('joinflow import asl: paths that select several values, escapes and intrinsic functions, run', () => {
  it('filters, wildcards and deep scans in templates, a quote escaped in a name, a seeded MathRandom and a tab between arguments', () => {
    const wf = imported({
      StartAt: 'Select',
      States: {
        Select: {
          Type: 'Pass', InputPath: '$.order',
          Parameters: {
            'big.$': "$.items[?(@.price > 10 && @.kind != 'pen')]", 'ids.$': '$.items[*].id', 'prices.$': '$..price',
            'owner.$': "$['it\\'s']", 'seeded.$': 'States.MathRandom(0, 1000000, 42)', 'n.$': 'States.MathAdd(1.6,\t$.n)',
          },
          Next: 'Each',
        },
        Each: {
          Type: 'Map', ItemsPath: '$.big', ItemSelector: { 'id.$': '$$.Map.Item.Value.id', 'all.$': 'States.ArrayLength($.ids)' },
          ItemProcessor: { StartAt: 'Item', States: { Item: { Type: 'Pass', End: true } } }, ResultPath: '$.each', End: true,
        },
      },
    }, []);
    const input = { order: { n: 1, "it's": 'me', items: [{ id: 'a', price: 5, kind: 'book' }, { id: 'b', price: 12, kind: 'pen' }, { id: 'c', price: 30, kind: 'book' }] } };
    const first = run(wf, input);
    expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
    expect(first.output).toEqual({
      big: [{ id: 'c', price: 30, kind: 'book' }], ids: ['a', 'b', 'c'], prices: [5, 12, 30], owner: 'me', n: 3,
      seeded: expect.any(Number), each: [{ id: 'c', all: 3 }],
    });
    expect(run(wf, input).output).toEqual(first.output);
  });
});
