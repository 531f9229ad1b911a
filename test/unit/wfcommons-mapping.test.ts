/**
 * The WfCommons importer's mapping lookup (by program too), its reports of unmapped tasks and of
 * keys that match nothing, and its refusal of workflows that `joinflow run` would refuse.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateWorkflow } from '../../src/compiler/validate.ts';
import { importWfCommons } from '../../src/importers/wfcommons.ts';
import { parseExecutorMapping, singleExecutorMapping } from '../../src/importers/wfcommons-executors.ts';
import { problemsOf } from '../helpers/problems.ts';

const corpus = path.resolve(import.meta.dirname, '../../../shared/corpora/wfcommons');
const load = (file: string): unknown => JSON.parse(readFileSync(path.join(corpus, file), 'utf8'));
const MONTAGE = 'montage-chameleon-2mass-005d-001.json';
const EPIGENOMICS = 'epigenomics-chameleon-ilmn-6seq-50k-001.json';
const EPIGENOMICS_TYPES = ['chr21', 'fast2bfq', 'fastqSplit', 'filterContams', 'mapMerge', 'map', 'pileup', 'sol2sanger'];


/** A 1.5 trace of independent tasks: [id, runtime, program?]. */
function trace15(tasks: Array<[string, number, string?]>): unknown {
  return {
    workflow: {
      specification: { tasks: tasks.map(([id]) => ({ id })) },
      execution: { tasks: tasks.map(([id, runtimeInSeconds, program]) => ({ id, runtimeInSeconds, ...(program ? { command: { program, arguments: [] } } : {}) })) },
    },
  };
}

describe('WfCommons mapping: lookup by program', () => {
  it('maps Epigenomics by its 8 task types, the programs of the recorded commands', () => {
    const tasks = Object.fromEntries(EPIGENOMICS_TYPES.map((p) => [p, { type: 'process', command: 'tool {program} {runtime*0.001}' }]));
    const { workflow, warnings } = importWfCommons(load(EPIGENOMICS), { executors: parseExecutorMapping({ tasks }), files: false });
    const steps = Object.entries(workflow.steps);
    expect(steps).toHaveLength(1695);
    expect(warnings).toEqual([]);
    const first = workflow.steps['fast2bfq_fast2bfq_080603_ILMN-GA001_0003_205WWAAXX_TAQ1_s_1_sequence_1_ID0000002']!;
    expect(first.executor).toMatchObject({ type: 'process', command: 'tool', args: ['fast2bfq', expect.any(String)] });
    const programs = new Set(steps.map(([, s]) => (s.executor as { args: string[] }).args[0]));
    expect([...programs].sort()).toEqual([...EPIGENOMICS_TYPES].sort());
  });

  it('tries id, name, category, then program: a program shared by categories loses to the category', () => {
    const trace = {
      schemaVersion: '1.4',
      workflow: {
        tasks: [
          { name: 'split_ID01', category: 'split', runtimeInSeconds: 1, command: { program: 'python', arguments: [] } },
          { name: 'merge_ID02', category: 'merge', runtimeInSeconds: 1, command: { program: 'python', arguments: [] }, parents: ['split_ID01'] },
          { name: 'named_ID03', category: 'merge', runtimeInSeconds: 1, command: { program: 'python', arguments: [] } },
        ],
      },
    };
    const mapping = parseExecutorMapping({
      tasks: {
        named_ID03: { type: 'process', command: 'by-name' },
        split: { type: 'process', command: 'by-category' },
        python: { type: 'process', command: 'by-program' },
      },
    });
    const { workflow } = importWfCommons(trace, { executors: mapping });
    expect(workflow.steps['split_ID01']!.executor).toMatchObject({ command: 'by-category' });
    expect(workflow.steps['merge_ID02']!.executor).toMatchObject({ command: 'by-program' });
    expect(workflow.steps['named_ID03']!.executor).toMatchObject({ command: 'by-name' });
  });
});

describe('WfCommons mapping: what it does not cover', () => {
  it('groups Epigenomics\' unmapped tasks by program, in a short message', () => {
    const [problem, ...more] = problemsOf(() => importWfCommons(load(EPIGENOMICS), { executors: parseExecutorMapping({ tasks: { fast2bfq: { type: 'process', command: 'true' } } }) }));
    expect(more).toEqual([]);
    expect(problem).toEqual({
      path: 'mapping.tasks',
      message: 'no executor for 1275 of 1695 tasks, by program: chr21 (1 task), fastqSplit (6 tasks), filterContams (420 tasks), mapMerge (7 tasks), map (420 tasks), pileup (1 task), sol2sanger (420 tasks): add keys under "tasks" (a task id, name, category or program) or give a "default" entry',
    });
  });

  it('names at most 8 groups and counts the rest', () => {
    const trace = trace15(Array.from({ length: 20 }, (_, i) => [`t${i}_ID1`, 1] as [string, number]));
    const [problem] = problemsOf(() => importWfCommons(trace, { executors: parseExecutorMapping({ tasks: { t0: { type: 'process', command: 'x' } } }) }));
    expect(problem!.message).toBe(
      'no executor for 19 of 20 tasks, by category: t1 (1 task), t2 (1 task), t3 (1 task), t4 (1 task), t5 (1 task), t6 (1 task), t7 (1 task), t8 (1 task), and 11 more (11 tasks): add keys under "tasks" (a task id, name, category or program) or give a "default" entry',
    );
  });

  it('warns of a key that matches no task when a default takes the tasks, with a suggestion', () => {
    const mapping = parseExecutorMapping({ tasks: { mProjekt: { type: 'process', command: 'p' }, mAdd: { type: 'process', command: 'a' } }, default: { type: 'simulate' } });
    const { workflow, warnings } = importWfCommons(load(MONTAGE), { executors: mapping });
    expect(warnings).toEqual([
      {
        path: 'mapping.tasks.mProjekt',
        message: 'matches no task id, name, category or program of the trace (did you mean "mProject"?); the tasks it was meant for get the "default" entry',
      },
    ]);
    expect(workflow.steps['mAdd_ID0000018']!.executor).toMatchObject({ command: 'a' });
  });

  it('refuses a key that matches no task when there is no default, with the tasks it leaves', () => {
    const mapping = parseExecutorMapping({ tasks: { mprojekt: { type: 'process', command: 'p' }, nothingLikeIt: { type: 'process', command: 'n' } } });
    const found = problemsOf(() => importWfCommons(load(MONTAGE), { executors: mapping }));
    expect(found.slice(0, 2)).toEqual([
      { path: 'mapping.tasks.mprojekt', message: 'matches no task id, name, category or program of the trace (did you mean "mProject"?)' },
      { path: 'mapping.tasks.nothingLikeIt', message: 'matches no task id, name, category or program of the trace' },
    ]);
    expect(found[2]!.message).toMatch(/^no executor for 58 of 58 tasks, by category: mProject \(12 tasks\), /);
  });

  it('counts a key as used when it matches a task id, name, category or program', () => {
    const mapping = parseExecutorMapping({
      tasks: { mAdd_ID0000018: { type: 'process', command: 'i' }, mViewer: { type: 'process', command: 'c' } },
      default: { type: 'simulate' },
    });
    expect(importWfCommons(load(MONTAGE), { executors: mapping }).warnings).toEqual([]);
    const byProgram = parseExecutorMapping({ tasks: { map: { type: 'process', command: 'm' } }, default: { type: 'simulate' } });
    expect(importWfCommons(load(EPIGENOMICS), { executors: byProgram }).warnings).toEqual([]);
  });
});

describe('WfCommons import: only workflows that run', () => {
  it('refuses an empty trace', () => {
    expect(problemsOf(() => importWfCommons({ workflow: { specification: { tasks: [] } } }))).toEqual([
      { path: 'workflow.specification.tasks', message: 'has no tasks, and a workflow needs at least one step' },
    ]);
    expect(problemsOf(() => importWfCommons({ workflow: { tasks: [] } }))[0]!.path).toBe('workflow.tasks');
  });

  it('refuses the task id __proto__, at the task', () => {
    expect(problemsOf(() => importWfCommons(trace15([['ok', 1], ['__proto__', 1]])))).toEqual([
      { path: 'workflow.specification.tasks[1]', message: 'step "__proto__": "__proto__" is reserved in JavaScript objects and cannot be a step id: rename the step' },
    ]);
  });

  it('refuses a runtime over 14 days for a command step, at the runtime; simulating it is fine', () => {
    const trace = trace15([['a', 1], ['long', 1_300_000]]);
    expect(problemsOf(() => importWfCommons(trace, { executors: singleExecutorMapping('process', 'sleep 1') }))).toEqual([
      {
        path: 'workflow.execution.tasks[1].runtimeInSeconds',
        message: 'step "long", resources.expectedSeconds (its recorded runtime, which a step that runs a command gets as its expected time): must be at most 14 days (1,209,600 s)',
      },
    ]);
    expect(importWfCommons(trace).workflow.steps['long']!.executor).toEqual({ type: 'simulate', durationMs: 1_300_000_000 });
  });

  it('refuses a scaled runtime too large for a number (it would be written as null)', () => {
    const mapping = parseExecutorMapping({ default: { type: 'simulate', scale: 1e10 } });
    expect(problemsOf(() => importWfCommons(trace15([['a', 1e300]]), { executors: mapping }))).toEqual([
      { path: 'workflow.execution.tasks[0].runtimeInSeconds', message: 'task "a": runtime 1e+300 s times scale 10000000000 is too large a duration to simulate' },
    ]);
  });

  it('what it returns passes the validation run uses, for every trace of the corpus', () => {
    for (const file of [MONTAGE, EPIGENOMICS, 'blast-chameleon-small-001.json', 'seismology-chameleon-1000p-001.json', '1000genome-chameleon-2ch-100k-001.schema14.json']) {
      const { workflow, warnings } = importWfCommons(load(file), { executors: singleExecutorMapping('process', 'sleep {runtime*0.01}') });
      expect(validateWorkflow(workflow).problems, file).toEqual([]);
      expect(warnings).toEqual([]);
    }
  });
});

describe('WfCommons import: --executor simulate', () => {
  it('is the default import: file lists dropped unless asked for', () => {
    const simulated = importWfCommons(load(MONTAGE), { executors: singleExecutorMapping('simulate', undefined) });
    expect(simulated.workflow).toEqual(importWfCommons(load(MONTAGE)).workflow);
    expect(Object.values(simulated.workflow.steps).filter((s) => s.files !== undefined)).toEqual([]);
    const kept = importWfCommons(load(MONTAGE), { executors: singleExecutorMapping('simulate', undefined), files: true });
    expect(Object.values(kept.workflow.steps).filter((s) => s.files !== undefined)).toHaveLength(58);
  });
});

describe('WfCommons import: check: false', () => {
  it('skips the checks run makes, for readers that only chart a trace', () => {
    expect(importWfCommons({ workflow: { tasks: [] } }, { check: false }).workflow.steps).toEqual({});
    expect(Object.keys(importWfCommons(trace15([['__proto__', 1]]), { check: false }).workflow.steps)).toEqual(['__proto__']);
  });
});
