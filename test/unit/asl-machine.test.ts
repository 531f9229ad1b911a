import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { aslHandler } from '../../src/asl.ts';
import { compileMachine } from '../../src/importers/asl/compile.ts';
import { checkMachine, type Scope } from '../../src/importers/asl/machine.ts';
import { root } from '../helpers/cli.ts';

const corpus = path.resolve(root, '../shared/corpora/asl');
const load = (f: string) => JSON.parse(readFileSync(path.join(corpus, f), 'utf8')) as Scope;
const files = readdirSync(corpus).filter((f) => f.endsWith('.asl.json'));

describe('checking ASL machines', () => {
  it('takes every valid machine of the corpus and refuses the invalid one, naming the state', () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const f of files.filter((x) => !x.includes('invalid-'))) expect(checkMachine(load(f)).problems, f).toEqual([]);
    expect(checkMachine(load('aslvalidator__invalid-missing-terminal-parallel.asl.json')).problems).toEqual([{
      path: 'States.Parallel.Branches[0].States["Wait 20s"]',
      message: 'a Wait state that does not end its branch needs Next (the state after it); otherwise give it End: true',
    }]);
  });

  it('lists every problem with its path: unknown targets (with a hint) and what is not imported; a state a typo cuts off is not also called unreachable', () => {
    const { problems, warnings } = checkMachine({
      StartAt: 'A', TimeoutSeconds: 30,
      States: {
        A: { Type: 'Task', Resource: 'arn:aws:states:::batch:submitJob.sync', Next: 'b', Assign: { x: 1 } },
        B: { Type: 'Wait', Next: 'A' },
        C: { Type: 'Map', ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' }, StartAt: 'X', States: { X: { Type: 'Pass', End: true } } }, ItemReader: {}, End: true },
        D: { Type: 'Sleep' },
        E: { Type: 'Choice', Choices: [{ Variable: '$.x', StringEquals: 'y', Next: 'A' }], Default: 'Nowhere' },
      },
    });
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'States.A.Assign: workflow variables are not imported: pass the data along with ResultPath',
      'States.A.Next: there is no state "b" in the machine (did you mean "B"?)',
      'States.A.Resource: "arn:aws:states:::batch:submitJob.sync": the .sync and .waitForTaskToken integration patterns are not imported (joinflow calls the task and takes its result)',
      'States.B: a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath',
      'States.C.ItemReader: a distributed Map reading from S3 is not imported: give the items in the input (ItemsPath)',
      'States.C.ItemProcessor.ProcessorConfig.Mode: "DISTRIBUTED" is not imported: only INLINE Map states (items from the input)',
      'States.D.Type: "Sleep" is not a state type: one of Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map',
      'States.E.Default: there is no state "Nowhere" in the machine',
    ]);
    // With every target right, states nothing leads to are unreachable.
    expect(checkMachine({ StartAt: 'A', States: { A: { Type: 'Pass', End: true }, B: { Type: 'Succeed' } } }).problems).toEqual([
      { path: 'States.B', message: 'is not reachable from StartAt "A"' },
    ]);
    // A typo gets the nearest name; "__proto__" cannot name a state.
    expect(checkMachine({ StartAt: 'Validate', States: { Validate: { Type: 'Pass', Next: 'Chek' }, Check: { Type: 'Choice', Choices: [{ Variable: '$.n', NumericGreaterThan: 2, Next: 'Done' }], Default: 'Fial' }, Fail: { Type: 'Fail' }, Done: { Type: 'Succeed' } } }).problems).toEqual([
      { path: 'States.Validate.Next', message: 'there is no state "Chek" in the machine (did you mean "Check"?)' },
      { path: 'States.Check.Default', message: 'there is no state "Fial" in the machine (did you mean "Fail"?)' },
    ]);
    expect(checkMachine(JSON.parse('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "__proto__"}, "__proto__": {"Type": "Succeed"}}}')).problems).toEqual([
      { path: 'States.__proto__', message: '"__proto__" is reserved in JavaScript objects and cannot name a state here: rename the state' },
    ]);
    // A Fail state's ErrorPath and CausePath: a path or an intrinsic function; one it does not know is refused.
    expect(checkMachine({ StartAt: 'F', States: { F: { Type: 'Fail', ErrorPath: '$.code', CausePath: "States.Format('failed: {}', $.why)" } } }).problems).toEqual([]);
    expect(checkMachine({ StartAt: 'F', States: { F: { Type: 'Fail', CausePath: 'States.Nope($.why)' } } }).problems.map((p) => p.path)).toEqual(['States.F.CausePath']);
    // Error and ErrorPath (Cause and CausePath) are one or the other, as Step Functions validates them.
    expect(checkMachine({ StartAt: 'F', States: { F: { Type: 'Fail', Error: 'E', ErrorPath: '$.code', Cause: 'c', CausePath: '$.why' } } }).problems).toEqual([
      { path: 'States.F', message: 'a Fail state gives Error or ErrorPath, not both' },
      { path: 'States.F', message: 'a Fail state gives Cause or CausePath, not both' },
    ]);
    // A Wait's Timestamp: a date alone (which Date.parse takes) is not one.
    const wait = (Timestamp: string) => checkMachine({ StartAt: 'W', States: { W: { Type: 'Wait', Timestamp, End: true } } }).problems.map((p) => `${p.path}: ${p.message}`);
    expect(wait('2026-03-14T01:59:00Z')).toEqual([]);
    expect(wait('2026-03-14T01:59:00.5+01:00')).toEqual([]);
    for (const bad of ['2026-03-14', '2026-03-14t01:59:00z', '2026-03-14 01:59:00Z', '2026-02-30T01:59:00Z x', '2026-02-30T01:59:00Z', '2026-03-14T24:00:00Z']) {
      expect(wait(bad)).toEqual(['States.W.Timestamp: must be an RFC 3339 timestamp with its time and zone, such as "2026-03-14T01:59:00Z"']);
    }
    // A catcher's ResultPath, like a state's, places the error in the data, never in the context object.
    expect(checkMachine({ StartAt: 'T', States: { T: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:f', Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$$.Execution.err', Next: 'D' }], End: true }, D: { Type: 'Succeed' } } }).problems)
      .toEqual([{ path: 'States.T.Catch[0].ResultPath', message: 'cannot write to the context object ($$)' }]);
    // A Wait of fixed Seconds waits on joinflow's timer, which waits at most a year: said at the state, not at the step it becomes.
    const seconds = (Seconds: number) => checkMachine({ StartAt: 'W', States: { W: { Type: 'Wait', Seconds, End: true } } }).problems.map((p) => `${p.path}: ${p.message}`);
    expect(seconds(31_536_000)).toEqual([]);
    expect(seconds(40_000_000)).toEqual(['States.W.Seconds: at most 31536000 (a year) is imported: joinflow\'s timer waits no longer, got 40000000']);
    expect(warnings.map((w) => w.path)).toEqual(['TimeoutSeconds']);
    expect(checkMachine({ QueryLanguage: 'JSONata', StartAt: 'A', States: { A: { Type: 'Succeed' } } }).problems).toEqual([
      { path: 'QueryLanguage', message: 'JSONata is not imported; joinflow takes the JSONPath mode of ASL' },
    ]);
    // More retries than a step may have: said at the retrier, not at the step it would make.
    const retried = (n: number) => checkMachine({ StartAt: 'A', States: { A: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:f', Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: n }], End: true } } }).problems;
    expect(retried(1e9)).toEqual([{ path: 'States.A.Retry[0].MaxAttempts', message: 'at most 999 retries are imported (joinflow runs a step at most 1000 times), got 1000000000' }]);
    expect(retried(999)).toEqual([]);
    // A state may name the JSONPath mode, as the machine may; States.ALL only in the last retrier or catcher.
    const task = { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:f', QueryLanguage: 'JSONPath', End: true };
    expect(checkMachine({ StartAt: 'A', States: { A: task } }).problems).toEqual([]);
    expect(checkMachine({ StartAt: 'A', States: { A: { ...task, QueryLanguage: 'JSONata' } } }).problems).toEqual([{ path: 'States.A.QueryLanguage', message: 'JSONata is not imported; joinflow takes the JSONPath mode of ASL' }]);
    expect(checkMachine({ StartAt: 'A', States: {
      A: { ...task, End: undefined, Next: 'B', Retry: [{ ErrorEquals: ['States.ALL'] }, { ErrorEquals: ['X'] }], Catch: [{ ErrorEquals: ['States.ALL'], Next: 'B' }, { ErrorEquals: ['Y'], Next: 'B' }] },
      B: { Type: 'Succeed' },
    } }).problems).toEqual([
      { path: 'States.A.Retry[0].ErrorEquals', message: 'States.ALL must be in the last retrier: the ones after it could never apply' },
      { path: 'States.A.Catch[0].ErrorEquals', message: 'States.ALL must be in the last catcher: the ones after it could never apply' },
    ]);
  });
});

describe('compiling ASL machines to workflows', () => {
  const compiled = (m: Scope) => {
    expect(checkMachine(m).problems).toEqual([]);
    const { workflow } = compileMachine(m, 'm', './m.asl.ts');
    compileWorkflow(workflow, { source: 'test' });
    return workflow;
  };

  it('runs a loop of states in one step, and the states around it in steps of their own', () => {
    const wf = compiled(load('aslvalidator__valid-job-status-poller.asl.json'));
    expect(Object.keys(wf.steps)).toEqual(['Submit_Job', 'Wait_X_Seconds', 'Job_Failed', 'Get_Final_Job_Status', 'end']);
    const loop = wf.steps['Wait_X_Seconds']!;
    expect(loop.description).toBe('the loop of states "Wait X Seconds", "Get Job Status", "Job Complete?"');
    expect((loop.executor as { params: { exits: unknown } }).params.exits).toEqual({ 'Job Failed': 'Job_Failed', 'Get Final Job Status': 'Get_Final_Job_Status' });
    // After a step that may go two ways, a step runs only if it was named next.
    expect(wf.steps['Job_Failed']).toMatchObject({ needs: ['Wait_X_Seconds'], when: { results: { Wait_X_Seconds: { next: ['Job_Failed'] } } } });
    expect(wf.steps['end']).toMatchObject({ needs: ['Get_Final_Job_Status'] });
    expect(wf.output).toBe('end');
    // A Task with one retrier gets the engine's retry (1 + MaxAttempts attempts).
    expect(wf.steps['Submit_Job']!.retry).toEqual({ maxAttempts: 4, backoffMs: 1000, factor: 2, maxDelayMs: 31_536_000_000 });
    // The loop waits in its handler: its step (and so its Lambda function) gets Lambda's longest
    // time-out, not joinflow's default of 60 s, which would stop the poll after a minute on AWS.
    expect(loop.timeoutMs).toBe(900_000);
    expect(wf.steps['Job_Failed']!.timeoutMs).toBeUndefined();
  });

  it('gives a step that may sleep in its handler Lambda\'s longest time-out, unless a Task\'s TimeoutSeconds bounds it', () => {
    const sleepy = { Type: 'Wait', SecondsPath: '$.s', End: true };
    const LAMBDA_MAX_MS = 900_000;
    const wf = compiled({ StartAt: 'Hold', States: {
      Hold: { Type: 'Wait', Seconds: 30, Next: 'Poll' },
      Poll: { Type: 'Wait', SecondsPath: '$.s', Next: 'Twice' },
      Twice: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:f', Retry: [{ ErrorEquals: ['A'] }, { ErrorEquals: ['B'] }], Next: 'Each' },
      Each: { Type: 'Map', ItemProcessor: { StartAt: 'W', States: { W: sleepy } }, Next: 'Plain' },
      Plain: { Type: 'Map', ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, Next: 'Both' },
      Both: { Type: 'Parallel', Branches: [{ StartAt: 'W', States: { W: sleepy } }], Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Done' }], Next: 'Done' },
      Done: { Type: 'Pass', End: true },
    } });
    const timeouts = Object.fromEntries(Object.entries(wf.steps).map(([id, s]) => [id, s.timeoutMs]));
    expect(timeouts).toEqual({
      Hold: undefined, Poll: LAMBDA_MAX_MS, Twice: LAMBDA_MAX_MS, Each: undefined, 'Each.items': LAMBDA_MAX_MS, 'Each.join': undefined,
      Plain: undefined, 'Plain.items': undefined, 'Plain.join': undefined, Both: LAMBDA_MAX_MS, Done: undefined, end: undefined,
    });
  });

  it('fans a Parallel out into head, branch and join steps, and a Map into head, forEach and join steps', () => {
    const math = compiled(load('statebox__fun-with-math-state-machine.asl.json'));
    expect(Object.keys(math.steps)).toEqual(['FunWithMath', 'FunWithMath.0.Add', 'FunWithMath.1.Subtract', 'FunWithMath.join', 'end']);
    expect(math.steps['FunWithMath.join']!.needs).toEqual(['FunWithMath', 'FunWithMath.0.Add', 'FunWithMath.1.Subtract']);
    const map = compiled(load('statebox__map.asl.json'));
    expect(Object.keys(map.steps)).toEqual(['Validate-All', 'Validate-All.items', 'Validate-All.join', 'end']);
    expect(map.steps['Validate-All.items']).toMatchObject({ needs: ['Validate-All'] });
    // Its MaxConcurrency is 0: no limit, as in Step Functions.
    expect(map.steps['Validate-All.items']!.forEach).toEqual({ step: 'Validate-All', path: 'items' });
  });

  it("runs a Map's items at most MaxConcurrency at once (the forEach's maxConcurrency), and refuses one that is not a whole number", () => {
    const map = (max: unknown): Scope => ({ StartAt: 'M', States: { M: { Type: 'Map', MaxConcurrency: max, ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, End: true } } });
    expect(compiled(map(2)).steps['M.items']!.forEach).toEqual({ step: 'M', path: 'items', maxConcurrency: 2 });
    expect(checkMachine(map(2)).warnings).toEqual([]);
    for (const bad of [-1, 1.5, '2']) {
      expect(checkMachine(map(bad)).problems, String(bad)).toEqual([{ path: 'States.M.MaxConcurrency', message: 'must be a whole number, 0 or more (0: no limit)' }]);
    }
  });

  it('gives a Task with Catch a catch step, and a merge after a choice a when over each way in', () => {
    const wf = compiled({ StartAt: 'C', States: {
      C: { Type: 'Choice', Choices: [{ Variable: '$.a', BooleanEquals: true, Next: 'T' }], Default: 'M' },
      T: { Type: 'Task', Resource: 'f', Catch: [{ ErrorEquals: ['States.ALL'], Next: 'M' }], Next: 'M' },
      M: { Type: 'Pass', End: true },
    } });
    expect(wf.steps['T']).toMatchObject({ catch: 'T.catch', needs: ['C'] });
    expect(wf.steps['T.catch']!.needs).toBeUndefined();
    expect(wf.steps['M']).toMatchObject({
      needs: ['C', 'T', 'T.catch'],
      when: { $or: [{ results: { C: { next: ['M'] } } }, { results: { T: { next: ['M'] } } }, { results: { 'T.catch': { next: ['M'] } } }] },
    });
  });

  it('waits a Wait of fixed Seconds on the engine\'s timer (delayMs): its handler does not sleep', async () => {
    const wf = compiled({ StartAt: 'Hold', States: {
      Hold: { Type: 'Wait', Seconds: 3600, Next: 'Poll' },
      Poll: { Type: 'Wait', SecondsPath: '$.s', End: true },
    } });
    expect(wf.steps['Hold']).toMatchObject({ delayMs: 3_600_000, executor: { params: { delayed: true } } });
    expect(wf.steps['Poll']!.delayMs).toBeUndefined();
    const params = (wf.steps['Hold']!.executor as { params: unknown }).params;
    // Were it to sleep its hour, this would time out.
    await expect(aslHandler()({ input: { s: 0 }, results: {}, params }, { runId: 'r', workflow: 'm' })).resolves.toEqual({ next: 'Poll', enter: 'Poll', end: false, output: { s: 0 } });
  });

  it('reads the run and the workflow from the event\'s joinflow metadata on Lambda, whose context has neither', async () => {
    const wf = compiled({ StartAt: 'Who', States: { Who: { Type: 'Pass', Parameters: { 'run.$': '$$.Execution.Id', 'machine.$': '$$.StateMachine.Name', 'state.$': '$$.State.Name' }, End: true } } });
    const params = (wf.steps['Who']!.executor as { params: unknown }).params;
    const event = { input: {}, results: {}, params, joinflow: { workflow: 'orders', runId: 'run-7', step: 'Who', attempt: 1, maxAttempts: 1 } };
    await expect(aslHandler()(event, { awsRequestId: 'x' } as never)).resolves.toMatchObject({ end: true, output: { run: 'run-7', machine: 'orders', state: 'Who' } });
  });

  it('gives $$.Execution.StartTime as the run\'s start, in ISO 8601 with milliseconds, from the context or (on Lambda) the event\'s metadata', async () => {
    const wf = compiled({ StartAt: 'When', States: { When: { Type: 'Pass', Parameters: { 'start.$': '$$.Execution.StartTime' }, End: true } } });
    const params = (wf.steps['When']!.executor as { params: unknown }).params;
    const at = Date.UTC(2026, 2, 26, 20, 14, 13, 192);
    await expect(aslHandler()({ input: {}, results: {}, params }, { runId: 'r', workflow: 'm', runStartedAt: at }))
      .resolves.toMatchObject({ output: { start: '2026-03-26T20:14:13.192Z' } });
    const event = { input: {}, results: {}, params, joinflow: { workflow: 'm', runId: 'r', step: 'When', attempt: 1, maxAttempts: 1, runStartedAt: at + 8 } };
    await expect(aslHandler()(event, { awsRequestId: 'x' } as never)).resolves.toMatchObject({ output: { start: '2026-03-26T20:14:13.200Z' } });
  });

  it('retries a Task of several retriers in its handler, each counting its own, with a time-out over all its attempts', () => {
    const retry = [{ ErrorEquals: ['A'], MaxAttempts: 1 }, { ErrorEquals: ['B'], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2 }];
    const wf = compiled({ StartAt: 'T', States: {
      T: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:f', TimeoutSeconds: 2, Retry: retry, Next: 'U' },
      // The same numbers in both retriers: still two budgets, so still in the handler.
      U: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:f', Retry: [{ ErrorEquals: ['A'], MaxAttempts: 2 }, { ErrorEquals: ['B'], MaxAttempts: 2 }], Next: 'V' },
      V: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:f', TimeoutSeconds: 2, Retry: [{ ErrorEquals: ['A'], MaxAttempts: 2 }], End: true },
    } });
    expect(wf.steps['T']!.retry).toBeUndefined();
    expect(wf.steps['U']!.retry).toBeUndefined();
    // 5 attempts of at most 2 s, the waits between them (1 s; 1, 2 and 4 s), and 5 s more.
    expect(wf.steps['T']!.timeoutMs).toBe((5 * 2 + 1 + 7 + 5) * 1000);
    // Retried by the engine: each attempt has its own time-out.
    expect(wf.steps['V']).toMatchObject({ retry: { maxAttempts: 3 }, timeoutMs: 7000 });
  });

  it('gives the context object ($$) to a Parallel\'s input and join and a Map\'s join, and the engine\'s retry number to RetryCount', async () => {
    const wf = compiled({ StartAt: 'P', States: {
      P: { Type: 'Parallel', Parameters: { 'id.$': '$$.Execution.Id', 'v.$': '$.v' }, Branches: [{ StartAt: 'A', States: { A: { Type: 'Pass', End: true } } }], ResultSelector: { 'first.$': '$[0]', 'state.$': '$$.State.Name' }, ResultPath: '$.par', Next: 'M' },
      M: { Type: 'Map', ItemsPath: '$.list', ItemProcessor: { StartAt: 'B', States: { B: { Type: 'Pass', End: true } } }, ResultSelector: { 'all.$': '$', 'exec.$': '$$.Execution.Id' }, Next: 'T' },
      T: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:f', Parameters: { 'rc.$': '$$.State.RetryCount' }, Retry: [{ ErrorEquals: ['X'] }], End: true },
    } });
    const params = (id: string) => (wf.steps[id]!.executor as { params: unknown }).params;
    const context = { runId: 'run-9', workflow: 'm' };
    const handler = aslHandler({ f: (e: unknown) => e });
    const head = await handler({ input: { v: 1, list: [1, 2] }, results: {}, params: params('P') }, context);
    expect(head).toMatchObject({ output: { id: 'run-9', v: 1 } });
    const branch = await handler({ input: {}, results: { P: head }, params: params('P.0.A') }, context);
    const joined = await handler({ input: {}, results: { P: head, 'P.0.A': branch }, params: params('P.join') }, context);
    expect(joined).toMatchObject({ output: { v: 1, list: [1, 2], par: { first: { id: 'run-9', v: 1 }, state: 'P' } } });
    const mapHead = await handler({ input: {}, results: { 'P.join': joined }, params: params('M') }, context);
    const mapJoin = await handler({ input: {}, results: { M: mapHead, 'M.items': [1, 2] }, params: params('M.join') }, context);
    expect(mapJoin).toMatchObject({ output: { all: [1, 2], exec: 'run-9' } });
    // The engine's third attempt is the Task's second retry.
    await expect(handler({ input: {}, results: { 'M.join': mapJoin }, params: params('T') }, { ...context, attempt: 3 })).resolves.toMatchObject({ output: { rc: 2 } });
  });

  describe('waits longer than a JavaScript timer can (2^31 - 1 ms, about 24.8 days)', () => {
    afterEach(() => {
      vi.useRealTimers();
    });
    const DAY = 86_400_000;

    it('does not time a Task out at once for a TimeoutSeconds of more than 24.8 days', async () => {
      vi.useFakeTimers();
      const wf = compiled({ StartAt: 'T', States: { T: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:slow', TimeoutSeconds: 30 * 86_400, End: true } } });
      const slow = () => new Promise((resolve) => setTimeout(() => resolve('done'), 10));
      const out = aslHandler({ slow })({ input: {}, results: {}, params: (wf.steps['T']!.executor as { params: unknown }).params }, { runId: 'r', workflow: 'm' });
      const settled = out.then((v) => ({ v }), (e: Error) => ({ e: e.message }));
      await vi.advanceTimersByTimeAsync(20);
      await expect(settled).resolves.toEqual({ v: { next: null, end: true, output: 'done' } });
    });

    it('leaves no timer behind once a Task with a TimeoutSeconds has finished', async () => {
      vi.useFakeTimers();
      const wf = compiled({ StartAt: 'T', States: { T: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:quick', TimeoutSeconds: 3600, End: true } } });
      const out = await aslHandler({ quick: async () => 'done' })({ input: {}, results: {}, params: (wf.steps['T']!.executor as { params: unknown }).params }, { runId: 'r', workflow: 'm' });
      expect(out).toEqual({ next: null, end: true, output: 'done' });
      expect(vi.getTimerCount()).toBe(0);
    });

    it('a Wait until a time 30 days ahead waits, in its handler, instead of going on at once', async () => {
      vi.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') });
      const wf = compiled({ StartAt: 'W', States: { W: { Type: 'Wait', TimestampPath: '$.at', End: true } } });
      let done = false;
      void aslHandler()({ input: { at: '2030-01-31T00:00:00Z' }, results: {}, params: (wf.steps['W']!.executor as { params: unknown }).params }, { runId: 'r', workflow: 'm' })
        .finally(() => (done = true));
      await vi.advanceTimersByTimeAsync(29 * DAY);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(DAY);
      expect(done).toBe(true);
    });
  });

  it('makes step ids of any state names, unique', () => {
    const wf = compiled({ StartAt: 'a b', States: { 'a b': { Type: 'Pass', Next: 'a_b' }, a_b: { Type: 'Pass', Next: '-x' }, '-x': { Type: 'Pass', Next: 'end' }, end: { Type: 'Succeed' } } });
    expect(Object.keys(wf.steps)).toEqual(['a_b', 'a_b-2', '_x', 'end', 'end-2']);
  });
});
