/** Timelines from trace files: WfCommons traces (ideal or measured schedule) and joinflow's own trace. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TimelineInputError, timelineFromJson, timelineFromRunTrace, toTrace } from '../../src/timeline/trace-file.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { summarizeTimeline } from '../../src/timeline/timeline.ts';
import { parseTime } from '../../src/timeline/wfcommons-timeline.ts';

const CORPUS = new URL('../../../shared/corpora/wfcommons/', import.meta.url);
const load = (file: string): unknown => JSON.parse(readFileSync(new URL(file, CORPUS), 'utf8'));

/** A WfFormat 1.5 trace: a (2 s) -> b (3 s), c (1 s) -> d (1 s). */
function smallTrace(executedAt?: Record<string, string>) {
  const spec = [
    { id: 'a_ID01', name: 'a_ID01', parents: [], children: ['b_ID02', 'c_ID03'] },
    { id: 'b_ID02', name: 'b_ID02', parents: ['a_ID01'] },
    { id: 'c_ID03', name: 'c_ID03', parents: ['a_ID01'] },
    { id: 'd_ID04', name: 'd_ID04', parents: ['b_ID02', 'c_ID03'] },
  ];
  const runtimes: Record<string, number> = { a_ID01: 2, b_ID02: 3, c_ID03: 1, d_ID04: 1 };
  return {
    name: 'small',
    schemaVersion: '1.5',
    workflow: {
      specification: { tasks: spec, files: [] },
      execution: {
        makespanInSeconds: 9,
        tasks: spec.map((t) => ({
          id: t.id,
          runtimeInSeconds: runtimes[t.id],
          command: { program: t.id.split('_')[0] },
          ...(executedAt?.[t.id] === undefined ? {} : { executedAt: executedAt[t.id] }),
        })),
      },
    },
  };
}

describe('lanes in a joinflow timeline trace', () => {
  it('are written and read back, and refused when not a whole number of items', () => {
    const t = timelineFromJson({
      format: 'joinflow-timeline', version: 1, title: 't', workflow: 'w', startedAt: 0, schedule: 'measured',
      needs: { each: [] }, lanes: { each: 2 }, executions: [{ step: 'each', item: 0, attempt: 1, kind: 'simulate', status: 'succeeded', start: 0, end: 1 }],
    }, 'lanes.json');
    expect(t.lanes).toEqual({ each: 2 });
    expect(toTrace(t).lanes).toEqual({ each: 2 });
    expect(() => timelineFromJson({ ...toTrace(t), lanes: { each: 0 } }, 'bad.json')).toThrow(/bad\.json: invalid joinflow timeline trace[^]*lanes\.each/);
  });
});

describe('WfCommons traces', () => {
  it('without start times: the ideal schedule, said so, and makespan = critical path', () => {
    const t = timelineFromJson(smallTrace(), 'small.json');
    expect(t.schedule).toBe('ideal');
    expect(t.executions.map((e) => [e.step, e.start, e.end, e.category])).toEqual([
      ['a_ID01', 0, 2000, 'a'],
      ['c_ID03', 2000, 3000, 'c'],
      ['b_ID02', 2000, 5000, 'b'],
      ['d_ID04', 5000, 6000, 'd'],
    ]);
    expect(t.notes.join('\n')).toMatch(/no task start times: ideal schedule/);
    expect(t.notes.join('\n')).toContain('makespan of 9 s');
    const s = summarizeTimeline(t);
    expect(s).toMatchObject({ makespanMs: 6000, criticalPathMs: 6000, overheadMs: 0 });
    expect(s.criticalPath.map((i) => t.executions[i]!.step)).toEqual(['a_ID01', 'b_ID02', 'd_ID04']);
  });

  it('charts a trace that would not import as a workflow to run (no tasks)', () => {
    const trace = smallTrace();
    trace.workflow.specification.tasks = [];
    (trace.workflow.execution as { tasks: unknown[] }).tasks = [];
    const t = timelineFromJson(trace, 'empty.json');
    expect(t.executions).toEqual([]);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 0, criticalPathMs: 0, criticalPath: [] });
  });

  it('with executedAt on every task: the measured schedule and its overhead', () => {
    const t = timelineFromJson(
      smallTrace({ a_ID01: '2021-03-23T06:00:00Z', b_ID02: '2021-03-23T06:00:03Z', c_ID03: '2021-03-23T06:00:02Z', d_ID04: '20210323T060007+0000' }),
      'small.json',
    );
    expect(t.schedule).toBe('measured');
    expect(t.notes.join('\n')).not.toMatch(/ideal/);
    const s = summarizeTimeline(t);
    // a 0-2 s, b 3-6 s, c 2-3 s, d 7-8 s: 8 s from the first start, 6 s of it on a -> b -> d.
    expect(s).toMatchObject({ makespanMs: 8000, criticalPathMs: 6000, overheadMs: 2000 });
  });

  it('when only some tasks have executedAt, falls back to the ideal schedule and counts them', () => {
    const t = timelineFromJson(smallTrace({ a_ID01: '2021-03-23T06:00:00Z' }), 'small.json');
    expect(t.schedule).toBe('ideal');
    expect(t.notes[0]).toContain('3 of 4 tasks have no executedAt');
  });

  it('an executedAt that is not a time is named by its path and value, not counted as missing', () => {
    const t = timelineFromJson(smallTrace({ a_ID01: 'yesterday', b_ID02: '2021-03-23T06:00:00Z' }), 'small.json');
    expect(t.schedule).toBe('ideal');
    expect(t.notes[0]).toContain('3 of 4 tasks have no executedAt that is a time');
    expect(t.notes[1]).toBe('not a time (ISO 8601 or epoch seconds): workflow.execution.tasks[0].executedAt "yesterday"');
  });

  it('a task whose id is an Object.prototype name (__proto__, constructor) is charted like any other', () => {
    const trace = {
      name: 'proto',
      schemaVersion: '1.5',
      workflow: {
        specification: { tasks: [{ id: '__proto__', name: '__proto__', parents: [] }, { id: 'b', name: 'b', parents: ['__proto__'] }, { id: 'constructor', name: 'constructor', parents: ['b'] }], files: [] },
        execution: { tasks: [{ id: '__proto__', runtimeInSeconds: 100 }, { id: 'b', runtimeInSeconds: 1 }, { id: 'constructor', runtimeInSeconds: 2 }] },
      },
    };
    const t = timelineFromJson(JSON.parse(JSON.stringify(trace)), 'proto.json');
    expect(t.executions.map((e) => e.step).sort()).toEqual(['__proto__', 'b', 'constructor']);
    expect(Object.hasOwn(t.needs, '__proto__')).toBe(true);
    const s = summarizeTimeline(t);
    expect(s.makespanMs).toBe(103_000);
    expect(s.criticalPathMs).toBe(103_000);
  });

  it.each([
    ['montage-chameleon-2mass-005d-001.json', 58, 21_385, 8],
    ['epigenomics-chameleon-ilmn-6seq-50k-001.json', 1695, 1_084_123, 9],
    ['1000genome-chameleon-2ch-100k-001.schema14.json', 52, 204_686, 3],
  ])('%s: one execution per task, critical path as in SOURCES.md', (file, tasks, cpMs, depth) => {
    const t = timelineFromJson(load(file), file);
    expect(t.executions).toHaveLength(tasks);
    const s = summarizeTimeline(t);
    expect(s.criticalPathMs).toBeCloseTo(cpMs, 3);
    expect(s.makespanMs).toBeCloseTo(cpMs, 3);
    expect(s.criticalPath).toHaveLength(depth);
  });

  it('a 1.4 trace takes categories from the tasks', () => {
    const t = timelineFromJson(load('1000genome-chameleon-2ch-100k-001.schema14.json'), 'g.json');
    expect(new Set(t.executions.map((e) => e.category))).toEqual(new Set(['individuals', 'individuals_merge', 'sifting', 'mutation_overlap', 'frequency']));
  });

  it('a malformed WfCommons trace names the file and the JSON path', () => {
    const bad = { workflow: { tasks: [{ name: 'a', runtimeInSeconds: -1 }] } };
    expect(() => timelineFromJson(bad, 'bad.json')).toThrowError(/^bad\.json: invalid WfCommons trace \(1 problem\):\n {2}- workflow\.tasks\[0\]\.runtimeInSeconds: runtime must be/);
  });
});

describe('joinflow timeline trace', () => {
  const source = timelineFromJson(smallTrace(), 'small.json');

  it('round-trips: the document reads back to the same timeline, summary recomputed', () => {
    const doc = JSON.parse(JSON.stringify(toTrace(source))) as Record<string, unknown>;
    expect(doc).toMatchObject({ format: 'joinflow-timeline', version: 1, schedule: 'ideal', summary: { makespanMs: 6000, criticalPathMs: 6000 } });
    const back = timelineFromJson({ ...doc, summary: { makespanMs: 1 } }, 'rt.json');
    expect(back).toEqual(source);
    expect(summarizeTimeline(back)).toEqual(summarizeTimeline(source));
  });

  it('an invalid document lists the paths of its problems', () => {
    const doc = toTrace(source) as unknown as { executions: Array<Record<string, unknown>> };
    doc.executions[1]!['status'] = 'done';
    doc.executions[2]!['start'] = 'soon';
    let message = '';
    try {
      timelineFromJson(doc, 'x.json');
    } catch (e) {
      expect(e).toBeInstanceOf(TimelineInputError);
      message = (e as Error).message;
    }
    expect(message).toMatch(/^x\.json: invalid joinflow timeline trace \(2 problems\):\n/);
    expect(message).toContain('  - executions[1].status: ');
    expect(message).toContain('  - executions[2].start: ');
  });

  it('refuses what no run could have written: a start before the run, an execution twice, needs in a cycle, a time beyond dates', () => {
    // A fresh timeline: the test above changes the executions `source` shares with its trace.
    const fresh = timelineFromJson(smallTrace(), 'small.json');
    const doc = JSON.parse(JSON.stringify(toTrace(fresh))) as { startedAt: number; needs: Record<string, string[]>; executions: Array<Record<string, unknown>> };
    doc.executions[0]!['start'] = doc.startedAt - 5_000;
    doc.executions.push({ ...doc.executions[1]! });
    const [first, second] = Object.keys(doc.needs);
    doc.needs[first!] = [second!];
    doc.needs[second!] = [first!];
    const messageOf = (d: unknown): string => {
      try {
        timelineFromJson(d, 'bad.json');
      } catch (e) {
        return (e as Error).message;
      }
      return '(accepted)';
    };
    const message = messageOf(doc);
    expect(message).toContain(`executions[0].start: starts before the run's startedAt (${doc.startedAt})`);
    expect(message).toContain(`executions[${doc.executions.length - 1}]: the same execution (step, item, attempt) as executions[1]`);
    expect(message).toContain('needs: steps wait for each other in a cycle:');
    const huge = JSON.parse(JSON.stringify(toTrace(fresh))) as { executions: Array<Record<string, unknown>> };
    huge.executions[2]!['end'] = 1e300;
    expect(messageOf(huge)).toContain("executions[2].end: must be milliseconds within JavaScript's date range");
    // A status left out is required; a wrong one is not one of the statuses.
    const unmarked = JSON.parse(JSON.stringify(toTrace(fresh))) as { executions: Array<Record<string, unknown>> };
    delete unmarked.executions[1]!['status'];
    unmarked.executions[2]!['status'] = 'done';
    expect(messageOf(unmarked)).toContain('executions[1].status: is required: one of "succeeded", "failed", "cancelled", "running"');
    expect(messageOf(unmarked)).toContain('executions[2].status: Invalid option: expected one of "succeeded"|"failed"|"cancelled"|"running"');
  });

  it('names every problem of an execution, and what no run could have written beside fields that are invalid', () => {
    const fresh = timelineFromJson(smallTrace(), 'small.json');
    const doc = JSON.parse(JSON.stringify(toTrace(fresh))) as { startedAt: number; needs: Record<string, string[]>; executions: Array<Record<string, unknown>> };
    // One execution wrong in four ways; another starting before the run; a cycle in needs.
    Object.assign(doc.executions[1]!, { status: 'done', attempt: 0, start: doc.startedAt + 9_000, end: doc.startedAt + 1_000, colour: 'red' });
    doc.executions[2]!['start'] = doc.startedAt - 5;
    const [first, second] = Object.keys(doc.needs);
    doc.needs[first!] = [second!];
    doc.needs[second!] = [first!];
    let message = '';
    try {
      timelineFromJson(doc, 'x.json');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'x.json: invalid joinflow timeline trace (6 problems):',
      '  - needs: steps wait for each other in a cycle: ' + message.split('cycle: ')[1]!.split('\n')[0],
      '  - executions[1].attempt: must be greater than 0 (got 0)',
      '  - executions[1].status: Invalid option: expected one of "succeeded"|"failed"|"cancelled"|"running"',
      '  - executions[1]: Unrecognized key: "colour"',
      '  - executions[1].end: ends before it starts',
      `  - executions[2].start: starts before the run's startedAt (${doc.startedAt})`,
    ]);
  });

  it("words an .int() field's safe-integer bound as its other bounds (zod's 'Too big: expected int to be <=9007199254740991')", () => {
    const fresh = timelineFromJson(smallTrace(), 'small.json');
    const doc = JSON.parse(JSON.stringify(toTrace(fresh))) as { executions: Array<Record<string, unknown>> };
    doc.executions[0]!['attempt'] = 1e300;
    doc.executions[1]!['item'] = -1e300;
    expect(() => timelineFromJson(doc, 'x.json')).toThrowError(
      'x.json: invalid joinflow timeline trace (3 problems):\n' +
        '  - executions[0].attempt: must be at most 9,007,199,254,740,991 (got 1e+300)\n' +
        '  - executions[1].item: must be at least -9,007,199,254,740,991 (got -1e+300)\n' +
        '  - executions[1].item: must be at least 0 (got -1e+300)',
    );
  });

  it('refuses a run --trace array and anything else, saying what it expected', () => {
    expect(() => timelineFromJson([{ step: 'a', attempt: 1, status: 'succeeded', start: 1, end: 2 }], 'r.json')).toThrowError(
      /r\.json: a 'joinflow run --trace' file has no step graph: name the workflow that ran with --workflow/,
    );
    expect(() => timelineFromJson({ hello: 1 }, 'h.json')).toThrowError(/h\.json: neither a WfCommons trace .* nor a joinflow timeline trace/);
  });
});

describe("'joinflow run --trace' files, with the plan of the workflow that ran", () => {
  const plan = compileWorkflow({
    name: 'fan',
    steps: {
      split: { executor: { type: 'simulate', durationMs: 1 } },
      square: { needs: ['split'], forEach: 'split', executor: { type: 'process', command: 'true' } },
      sum: { needs: ['square'], executor: { type: 'simulate', durationMs: 1 } },
    },
  }, { source: 'fan.json' });
  const records = [
    { step: 'split', attempt: 1, status: 'succeeded', start: 100, end: 110 },
    { step: 'square', item: 1, attempt: 1, status: 'succeeded', start: 112, end: 150 },
    { step: 'square', item: 0, attempt: 1, status: 'failed', start: 111, end: 120, placement: 'lambda' },
    { step: 'square', item: 0, attempt: 2, status: 'succeeded', start: 121, end: 130, placement: 'batch-cpu' },
    { step: 'sum', attempt: 1, status: 'succeeded', start: 155, end: 160 },
  ];

  it('takes the step graph and kinds from the plan, and the critical path follows it', () => {
    const t = timelineFromRunTrace(records, 'r.json', plan);
    expect(t.needs).toEqual({ split: [], square: ['split'], sum: ['square'] });
    expect(t.startedAt).toBe(100);
    expect(t.executions.map((e) => [e.step, e.item, e.attempt, e.kind, e.placement])).toEqual([
      ['split', undefined, 1, 'simulate', undefined],
      ['square', 0, 1, 'function', 'lambda'],
      ['square', 1, 1, 'process', undefined],
      ['square', 0, 2, 'batch', 'batch-cpu'],
      ['sum', undefined, 1, 'simulate', undefined],
    ]);
    const s = summarizeTimeline(t);
    expect(s.makespanMs).toBe(60);
    expect(s.criticalPath.map((i) => `${t.executions[i]!.step}${t.executions[i]!.item ?? ''}`)).toEqual(['split', 'square1', 'sum']);
    expect(s.criticalPathMs).toBe(10 + 38 + 5);
    expect(t.notes.join(' ')).toContain('executions only');
    // Written as a timeline trace, it reads back without the plan.
    expect(summarizeTimeline(timelineFromJson(toTrace(t), 't.json'))).toEqual(s);
  });

  it('names every invalid record by its path, and steps the workflow does not have', () => {
    const bad = [{ ...records[0], attempt: 0 }, { ...records[1], status: 'ok' }, { ...records[4], end: 1 }];
    expect(() => timelineFromRunTrace(bad, 'r.json', plan)).toThrowError(/^r\.json: invalid 'joinflow run --trace' file for workflow "fan" \(3 problems\):\n  - \[0\]\.attempt: .*\n  - \[1\]\.status: /);
    expect(() => timelineFromRunTrace([...records, { ...records[4], step: 'nope' }], 'r.json', plan)).toThrowError(/r\.json: .*\n  - \[5\]\.step: step "nope" is not a step of workflow "fan"/);
    // Every problem at once, each at its record: an end before the start, a bad placement, an item that does not fit.
    const more = [{ ...records[0], end: 1 }, { ...records[1], placement: 'moon' }, { ...records[2], item: undefined }];
    let message = '';
    try {
      timelineFromRunTrace(more, 'r.json', plan);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('  - [0].end: ends before it starts');
    expect(message).toContain('  - [1].placement: ');
    // The valid records are checked against the plan at the same time, in record order.
    expect(message).toContain('  - [2].item: step "square" runs once per item (forEach): its records need an item');
    expect(message.indexOf('[1].placement')).toBeLessThan(message.indexOf('[2].item'));
    expect(() => timelineFromRunTrace([{ ...records[2], item: undefined }], 'r.json', plan)).toThrowError(/  - \[0\]\.item: step "square" runs once per item \(forEach\): its records need an item/);
    expect(() => timelineFromRunTrace([{ ...records[0], item: 3 }], 'r.json', plan)).toThrowError(/  - \[0\]\.item: step "split" has no forEach/);
    // Names that are Object.prototype's are unknown steps too, not a crash.
    for (const step of ['constructor', '__proto__', 'toString']) {
      expect(() => timelineFromRunTrace([{ ...records[0], step }], 'r.json', plan)).toThrowError(new RegExp(`  - \\[0\\]\\.step: step "${step}" is not a step of workflow "fan"`));
    }
    // A second record of the same execution would put it on the critical path twice.
    expect(() => timelineFromRunTrace([...records, records[2]], 'r.json', plan)).toThrowError(/  - \[5\]: the same execution as record \[2\] \(step "square", item 0, attempt 1\); a run has one record per attempt/);
    // Ten are listed; the count says how many more there are.
    const many = Array.from({ length: 14 }, (_, i) => ({ ...records[0], step: `gone${i}` }));
    expect(() => timelineFromRunTrace(many, 'r.json', plan)).toThrowError(/  - \[9\]\.step: step "gone9" is not a step of workflow "fan"\n  \.\.\. and 4 more$/);
    expect(() => timelineFromRunTrace([], 'empty.json', plan)).toThrowError(/^empty\.json: the run trace has no executions: nothing to chart$/);
    expect(() => timelineFromRunTrace({ format: 'joinflow-timeline' }, 't.json', plan)).toThrowError(/t\.json: --workflow goes with a 'joinflow run --trace' file/);
  });

  it('names every problem of a record, also where the fields that are valid do not fit the workflow', () => {
    const messageOf = (json: unknown): string => {
      try {
        timelineFromRunTrace(json, 'r.json', plan);
      } catch (e) {
        expect(e).toBeInstanceOf(TimelineInputError);
        return (e as Error).message;
      }
      return '(accepted)';
    };
    const bad = [
      records[0],
      // A bad attempt, an end before the start, and a step the workflow does not have.
      { step: 'nope', attempt: 0, status: 'succeeded', start: 10, end: 5 },
      // A bad placement and an item on a step without forEach.
      { ...records[0], item: 3, placement: 'moon' },
      // Not a record, and one with fields left out.
      5,
      { step: 'sum', attempt: 1 },
      // A bad status on a second record of an execution.
      { ...records[0], status: 'ok' },
    ];
    expect(messageOf(bad).split('\n')).toEqual([
      `r.json: invalid 'joinflow run --trace' file for workflow "fan" (11 problems):`,
      '  - [1].attempt: must be greater than 0 (got 0)',
      '  - [1].end: ends before it starts',
      '  - [1].step: step "nope" is not a step of workflow "fan"',
      '  - [2].placement: Invalid option: expected one of "lambda"|"batch-cpu"|"batch-gpu"',
      '  - [2].item: step "split" has no forEach: its records have no item',
      '  - [3]: Invalid input: expected object, received number',
      '  - [4].status: is required: one of "succeeded", "failed", "cancelled"',
      '  - [4].start: is required (expected number)',
      '  - [4].end: is required (expected number)',
      '  - [5].status: Invalid option: expected one of "succeeded"|"failed"|"cancelled"',
      '  ... and 1 more',
    ]);
    // The eleventh: the same execution as a valid record, though its own status is bad.
    expect(messageOf([records[2], { ...records[2], status: 'ok' }])).toContain('  - [1]: the same execution as record [0] (step "square", item 0, attempt 1); a run has one record per attempt');
  });
});

describe('parseTime', () => {
  it('reads ISO 8601, the basic form and epoch seconds', () => {
    expect(parseTime('2020-04-01T03:50:43Z')).toBe(Date.UTC(2020, 3, 1, 3, 50, 43));
    expect(parseTime('20200401T035043+0000')).toBe(Date.UTC(2020, 3, 1, 3, 50, 43));
    expect(parseTime('20200401T055043+0200')).toBe(Date.UTC(2020, 3, 1, 3, 50, 43));
    expect(parseTime(1585713043.5)).toBe(1585713043500);
    expect(parseTime('yesterday')).toBeUndefined();
    expect(parseTime(null)).toBeUndefined();
  });

  it('reads a time without a zone as UTC, whatever the time zone of the machine', () => {
    const tz = process.env['TZ'];
    process.env['TZ'] = 'America/New_York';
    try {
      expect(parseTime('2024-01-01T00:00:20')).toBe(Date.UTC(2024, 0, 1, 0, 0, 20));
      expect(parseTime('2024-01-01 00:00:20.5')).toBe(Date.UTC(2024, 0, 1, 0, 0, 20, 500));
      expect(parseTime('20240101T000020')).toBe(Date.UTC(2024, 0, 1, 0, 0, 20));
      expect(parseTime('2024-01-01T00:00:20-05:00')).toBe(Date.UTC(2024, 0, 1, 5, 0, 20));
    } finally {
      if (tz === undefined) delete process.env['TZ'];
      else process.env['TZ'] = tz;
    }
  });
});
