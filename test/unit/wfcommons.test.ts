import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { importWfCommons, sanitizeWorkflowName } from '../../src/importers/wfcommons.ts';
import { WorkflowSchema } from '../../src/model/workflow.ts';
import { problemsOf } from '../helpers/problems.ts';

const CORPUS = new URL('../../../shared/corpora/wfcommons/', import.meta.url);
const load = (file: string): unknown => JSON.parse(readFileSync(new URL(file, CORPUS), 'utf8'));

/** The numbers in /work/shared/corpora/SOURCES.md; critical path in seconds there. */
const TRACES = [
  { file: 'montage-chameleon-2mass-005d-001.json', tasks: 58, edges: 114, depth: 8, cp: 21.385, schema: '1.5' },
  { file: 'blast-chameleon-small-001.json', tasks: 43, edges: 120, depth: 3, cp: 10.413, schema: '1.5' },
  { file: 'seismology-chameleon-1000p-001.json', tasks: 1001, edges: 1000, depth: 2, cp: 5.437, schema: '1.5' },
  { file: 'epigenomics-chameleon-ilmn-6seq-50k-001.json', tasks: 1695, edges: 2108, depth: 9, cp: 1084.123, schema: '1.5' },
  { file: '1000genome-chameleon-2ch-100k-001.schema14.json', tasks: 52, edges: 76, depth: 3, cp: 204.686, schema: '1.4' },
] as const;

type RawTask = { id?: string; name?: string; parents?: string[]; children?: string[] };

/** The identifiers the trace's parents/children use, in the trace's order. */
function traceIds(trace: unknown): string[] {
  const wf = (trace as { workflow: { tasks?: RawTask[]; specification?: { tasks: RawTask[] } } }).workflow;
  return wf.specification ? wf.specification.tasks.map((t) => t.id!) : wf.tasks!.map((t) => t.name!);
}


describe('importWfCommons on the corpus', () => {
  for (const t of TRACES) {
    it(`${t.file}: ${t.tasks} tasks, ${t.edges} edges, depth ${t.depth}, critical path ${t.cp}s`, () => {
      const trace = load(t.file);
      const { workflow, stats } = importWfCommons(trace);
      expect(stats.tasks).toBe(t.tasks);
      expect(stats.edges).toBe(t.edges);
      expect(stats.depth).toBe(t.depth);
      expect(stats.criticalPathMs / 1000).toBeCloseTo(t.cp, 3);
      expect(stats.schemaVersion).toBe(t.schema);

      // Same ids, same order: ids come from the trace unchanged.
      const ids = Object.keys(workflow.steps);
      expect(ids).toEqual(traceIds(trace));

      let needsCount = 0;
      for (const [id, step] of Object.entries(workflow.steps)) {
        for (const dep of step.needs ?? []) {
          expect(workflow.steps, `${id} needs ${dep}`).toHaveProperty([dep]);
          needsCount++;
        }
        expect(step.needs).toEqual([...(step.needs ?? [])].sort());
        expect(step.executor.type).toBe('simulate');
      }
      expect(needsCount).toBe(t.edges);
      expect(WorkflowSchema.safeParse(workflow).success).toBe(true);
    });
  }

  it('reads runtimes from the right place and keeps 1.4 names as ids', () => {
    const genome = importWfCommons(load('1000genome-chameleon-2ch-100k-001.schema14.json')).workflow;
    expect(genome.name).toBe('1000genome-20200401T035039Z-0');
    expect(genome.steps['individuals_ID0000001']).toMatchObject({
      description: 'individuals',
      needs: [],
      executor: { type: 'simulate', durationMs: 53600 },
    });
    expect(genome.steps['frequency_ID0000052']?.needs).toEqual(['individuals_merge_ID0000023', 'sifting_ID0000024']);

    const blast = importWfCommons(load('blast-chameleon-small-001.json'), { name: 'blast' }).workflow;
    expect(blast.name).toBe('blast');
    const split = blast.steps['split_fasta_ID000001'];
    expect(split?.description).toBeUndefined();
    expect(split?.executor).toEqual({ type: 'simulate', durationMs: 0.054023 * 1000 });
  });
});

describe('importWfCommons on hand-made traces', () => {
  it('accepts a 1.4 trace whose tasks list only children', () => {
    const trace = {
      name: 'only children!',
      schemaVersion: '1.4',
      workflow: {
        tasks: [
          { name: 'a', id: 'ID1', children: ['b', 'c'], runtime: 2 },
          { name: 'b', id: 'ID2', children: ['d'], runtimeInSeconds: 3 },
          { name: 'c', id: 'ID3', children: ['d'], runtimeInSeconds: 1.5 },
          { name: 'd', id: 'ID4' },
        ],
      },
    };
    const { workflow, stats } = importWfCommons(trace);
    expect(workflow.name).toBe('only-children-');
    expect(Object.keys(workflow.steps)).toEqual(['a', 'b', 'c', 'd']);
    expect(workflow.steps['a']).toEqual({ needs: [], executor: { type: 'simulate', durationMs: 2000 } });
    expect(workflow.steps['d']).toEqual({ needs: ['b', 'c'], executor: { type: 'simulate', durationMs: 0 } });
    expect(stats).toEqual({ tasks: 4, edges: 4, depth: 3, criticalPathMs: 5000, schemaVersion: '1.4', filesDropped: 0 });
  });

  it('warns of tasks without a runtime (taken as 0 s) and of a schema version it does not know', () => {
    const trace = {
      name: 'gaps',
      schemaVersion: '9.9',
      workflow: { tasks: [{ name: 'a', id: 'a', children: ['b'], runtime: 2 }, { name: 'b', id: 'b', runtime: null }, { name: 'c', id: 'c' }] },
    };
    const { stats, warnings } = importWfCommons(trace);
    expect(stats.criticalPathMs).toBe(2000);
    expect(warnings).toEqual([
      { path: 'workflow.tasks[1].runtime', message: 'no runtime (and 1 more task): taken as 0 s' },
      { path: 'schemaVersion', message: '"9.9": not a WfFormat version joinflow knows (1.0, 1.1, 1.2, 1.3, 1.4, 1.5); read as 1.4 by its layout' },
    ]);
    expect(importWfCommons({ ...trace, schemaVersion: '1.4', workflow: { tasks: [{ name: 'a', id: 'a', runtime: 1 }] } }).warnings).toEqual([]);
  });

  it('takes the union when parents and children disagree (1.5)', () => {
    const trace = {
      name: 'disagree',
      schemaVersion: '1.5',
      workflow: {
        specification: {
          tasks: [
            { id: 'x', name: 'x', parents: [], children: ['y'] },
            // y does not list x; z lists y as parent but y does not list z as child.
            { id: 'y', name: 'y', parents: [], children: [] },
            { id: 'z', name: 'sum', parents: ['y'], children: [] },
            { id: 'w', name: 'w', parents: ['x'], children: ['z'] },
          ],
        },
        execution: {
          tasks: [
            { id: 'x', runtimeInSeconds: 1 },
            { id: 'y', runtimeInSeconds: 10 },
            { id: 'z', runtimeInSeconds: 0.25 },
            { id: 'w', runtimeInSeconds: 4 },
          ],
        },
      },
    };
    const { workflow, stats } = importWfCommons(trace);
    expect(workflow.steps['y']?.needs).toEqual(['x']);
    expect(workflow.steps['z']?.needs).toEqual(['w', 'y']);
    expect(workflow.steps['z']?.description).toBe('sum');
    expect(workflow.steps['w']?.needs).toEqual(['x']);
    expect(stats).toEqual({ tasks: 4, edges: 4, depth: 3, criticalPathMs: 11250, schemaVersion: '1.5', filesDropped: 0 });
  });

  it('names the path of an unknown parent and of an unknown child', () => {
    const problems = problemsOf(() =>
      importWfCommons({
        name: 'unknown',
        workflow: {
          specification: {
            tasks: [
              { id: 'a', parents: [] },
              { id: 'b', parents: ['a'] },
              { id: 'c', parents: ['a'] },
              { id: 'd', parents: ['b', 'ghost'], children: ['phantom'] },
            ],
          },
        },
      }),
    );
    expect(problems).toEqual([
      { path: 'workflow.specification.tasks[3].parents[1]', message: 'unknown task "ghost"' },
      { path: 'workflow.specification.tasks[3].children[0]', message: 'unknown task "phantom"' },
    ]);
  });

  it('names the members of a cycle', () => {
    const problems = problemsOf(() =>
      importWfCommons({
        workflow: {
          tasks: [
            { name: 'start', parents: [] },
            { name: 'p', parents: ['start', 'r'] },
            { name: 'q', parents: ['p'] },
            { name: 'r', children: ['p'], parents: ['q'] },
            { name: 'after', parents: ['r'] },
          ],
        },
      }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]?.path).toBe('workflow.tasks[1]');
    expect(problems[0]?.message).toBe('dependency cycle: p -> q -> r -> p (1 more task on or after a cycle)');
  });

  it('rejects input that is not an object', () => {
    for (const bad of [null, 'trace', [{ workflow: {} }], 42]) {
      const problems = problemsOf(() => importWfCommons(bad));
      expect(problems).toHaveLength(1);
      expect(problems[0]?.path).toBe('');
      expect(problems[0]?.message).toMatch(/^a WfCommons trace must be a JSON object, got /);
    }
    expect(() => importWfCommons(null)).toThrow(/invalid workflow definition \(1 problem\)/);
  });

  it('rejects a trace without a tasks array', () => {
    expect(problemsOf(() => importWfCommons({ workflow: { tasks: {} } }))).toEqual([
      { path: 'workflow.tasks', message: 'must be an array of tasks, got an object' },
    ]);
  });

  it('lists every problem at once: missing ids, bad ids, duplicates, bad runtimes', () => {
    const problems = problemsOf(() =>
      importWfCommons({
        workflow: {
          specification: {
            tasks: [{ id: 'ok' }, { name: 'no-id' }, { id: '-bad' }, { id: 'ok' }, 'nope'],
          },
          execution: {
            tasks: [
              { id: 'ok', runtimeInSeconds: -1 },
              { id: '-bad', runtimeInSeconds: Number.POSITIVE_INFINITY },
              { id: 'stray', runtimeInSeconds: 1 },
            ],
          },
        },
      }),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'workflow.execution.tasks[0].runtimeInSeconds',
      'workflow.specification.tasks[1].id',
      'workflow.specification.tasks[2].id',
      'workflow.execution.tasks[1].runtimeInSeconds',
      'workflow.specification.tasks[3].id',
      'workflow.specification.tasks[4]',
      'workflow.execution.tasks[2].id',
    ]);
    expect(problems[0]?.message).toMatch(/-1/);
    expect(problems[2]?.message).toMatch(/"-bad" is not a valid step id/);
    expect(problems[4]?.message).toBe('duplicate task id "ok" (first at workflow.specification.tasks[0])');
    expect(problems[5]?.message).toBe('a task must be an object, got the string "nope"');
    expect(problems[6]?.message).toMatch(/unknown task "stray"/);
  });

  it('says why a finite runtime too large for milliseconds is refused', () => {
    const problems = problemsOf(() => importWfCommons({ workflow: { specification: { tasks: [{ id: 'a' }] }, execution: { tasks: [{ id: 'a', runtimeInSeconds: 1e308 }] } } }));
    expect(problems.map((p) => p.message)).toEqual(['runtime must be a finite, non-negative number of seconds, small enough to count in milliseconds, got 1e+308']);
  });

  it('checks an explicit name and sanitizes a derived one', () => {
    const trace = { name: 'x', workflow: { tasks: [{ name: 'a' }] } };
    expect(problemsOf(() => importWfCommons(trace, { name: 'has space' }))[0]?.path).toBe('options.name');
    expect(sanitizeWorkflowName('--my flow/v2')).toBe('my-flow-v2');
    expect(sanitizeWorkflowName('_ok.name')).toBe('_ok.name');
    // Accents are dropped and a run of unusable characters is one dash (it was "t--2").
    expect(sanitizeWorkflowName('Été 2')).toBe('Ete-2');
    expect(sanitizeWorkflowName('a  b\u{1F600}c')).toBe('a-b-c');
    expect(sanitizeWorkflowName('...')).toBe('wfcommons');
    expect(sanitizeWorkflowName('a'.repeat(100))).toHaveLength(64);
    expect(importWfCommons({ workflow: { tasks: [{ name: 'a' }] } }).workflow.name).toBe('wfcommons');
  });
});
