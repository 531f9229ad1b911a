/**
 * Child process of definitions.test.ts: builds each case, compiles it and reports what happened.
 * It runs apart from vitest so that a hang can be stopped and a crash observed: a synchronous
 * loop cannot be interrupted in-process, and a V8 fatal error takes the whole process down.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadDefinition, compileFile } from '../../src/adapters/local/workflow-files.ts';
import { compileWorkflow, serializePlan } from '../../src/compiler/compile.ts';
import { WorkflowDefinitionError } from '../../src/model/errors.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import { objectCase, type DefinitionCase, type Expectation } from './definition-cases.ts';
import { PINNED } from './definition-pinned.ts';
import { textCase } from './definition-text.ts';

/** Which case to run: pinned cases by position, generated ones by index. */
export type CaseRequest = { type: 'case'; set: 'pinned' | 'object' | 'text'; index: number };

/** What the harness reports for one case; `failures` lists every broken rule. */
export type CaseReport = {
  type: 'report';
  label: string;
  via: 'compileWorkflow' | 'loadDefinition' | 'compileFile';
  outcome: 'compiled' | 'rejected' | 'threw';
  ms: number;
  /** Whether the case carried an expected outcome (a single mutation of a valid seed, or pinned). */
  checked: boolean;
  failures: string[];
};

/** Object.prototype members added, removed or replaced while the cases ran, and probe keys that leak to `{}`. */
export type PrototypeReport = { type: 'prototype'; changed: string[]; leaked: string[] };

const PROBES = ['polluted', 'isAdmin', 'x', 'k', 'nested', 'self'];

export function buildCase(seed: number, request: Omit<CaseRequest, 'type'>): DefinitionCase {
  if (request.set === 'pinned') return PINNED[request.index]!;
  if (request.set === 'text') return textCase(seed, request.index);
  const c = objectCase(seed, request.index);
  return { kind: 'object', label: c.label, definition: c.def, ...(c.expect ? { expect: c.expect } : {}) };
}

function prototypeMembers(): Map<string, unknown> {
  const members = new Map<string, unknown>();
  for (const name of Object.getOwnPropertyNames(Object.prototype)) {
    const d = Object.getOwnPropertyDescriptor(Object.prototype, name)!;
    members.set(name, d.get ?? d.value);
  }
  return members;
}

function prototypeChanges(before: Map<string, unknown>): string[] {
  const after = prototypeMembers();
  const names = new Set([...before.keys(), ...after.keys()]);
  return [...names].filter((n) => before.get(n) !== after.get(n) || before.has(n) !== after.has(n)).sort();
}

const short = (s: string, n = 300): string => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

type Outcome = { plan: TriggerPlan; definition: unknown } | { error: unknown };

/** Checks one compile outcome against the contract; returns the broken rules. */
function judge(first: Outcome, second: () => Promise<Outcome>, expect: Expectation | undefined, file: string | undefined): Promise<{ outcome: CaseReport['outcome']; failures: string[] }> {
  return (async () => {
    const failures: string[] = [];
    if ('error' in first) {
      const e = first.error;
      if (!(e instanceof WorkflowDefinitionError)) {
        return { outcome: 'threw', failures: [`threw ${(e as Error)?.constructor?.name ?? typeof e}: ${short(String((e as Error)?.message ?? e))}`] };
      }
      const problems = e.problems.map((p) => `${p.path}: ${p.message}`);
      if (e.problems.length === 0) failures.push('WorkflowDefinitionError without problems');
      for (const p of e.problems) if (typeof p.message !== 'string' || p.message.trim() === '') failures.push(`problem at ${short(p.path, 80)} has an empty message`);
      if (file !== undefined && !(e.file !== undefined && e.file.endsWith(path.basename(file)) && e.message.startsWith(`${e.file}: `))) {
        failures.push(`error does not name the file: ${short(e.message, 120)}`);
      }
      if (expect && 'compiles' in expect) failures.push(`expected a plan, got: ${short(problems.join(' | '))}`);
      if (expect && 'fails' in expect) {
        const f = expect.fails;
        if (!problems.some((p) => (typeof f === 'string' ? p.startsWith(f) : f.test(p)))) {
          failures.push(`expected a problem ${typeof f === 'string' ? `starting "${short(f, 80)}"` : String(f)}, got: ${short(problems.join(' | '))}`);
        }
      }
      return { outcome: 'rejected', failures };
    }
    if (expect && 'fails' in expect) failures.push(`expected a WorkflowDefinitionError (${String(expect.fails)}), but it compiled`);
    let text1: string;
    try {
      text1 = serializePlan(first.plan);
    } catch (error) {
      return { outcome: 'threw', failures: [...failures, `compiled, but the plan does not serialize: ${(error as Error).constructor.name}: ${short((error as Error).message)}`] };
    }
    const again = await second();
    if ('error' in again) return { outcome: 'threw', failures: [...failures, `second compile failed: ${short(String(again.error))}`] };
    if (serializePlan(again.plan) !== text1) failures.push('second compile gave a different plan');
    const declared = stepKeys(first.definition);
    const planned = Object.keys(first.plan.steps);
    const dispatched = first.plan.triggers.filter((t) => t.action.type === 'dispatch').map((t) => t.id);
    if (declared !== undefined && (declared.join('\n') !== planned.join('\n') || planned.join('\n') !== dispatched.join('\n'))) {
      failures.push(`plan steps ${short(JSON.stringify(planned), 120)} / dispatch triggers ${short(JSON.stringify(dispatched), 120)} differ from the definition's ${short(JSON.stringify(declared), 120)}`);
    }
    return { outcome: 'compiled', failures };
  })();
}

function stepKeys(definition: unknown): string[] | undefined {
  const steps = (definition as { steps?: unknown } | null)?.steps;
  return typeof steps === 'object' && steps !== null ? Object.keys(steps) : undefined;
}

async function outcomeOf(run: () => Promise<{ plan: TriggerPlan; definition: unknown }>): Promise<Outcome> {
  try {
    return await run();
  } catch (error) {
    return { error };
  }
}

async function runCase(dir: string, c: DefinitionCase, n: number): Promise<Omit<CaseReport, 'type' | 'label' | 'checked'>> {
  const started = performance.now();
  if (c.kind === 'object') {
    const opts = { source: 'workflows/fuzz.yaml', ...(c.modules ? { modules: c.modules } : {}) };
    const compile = () => outcomeOf(async () => ({ plan: compileWorkflow(c.definition, opts), definition: c.definition }));
    const verdict = await judge(await compile(), compile, c.expect, undefined);
    return { via: 'compileWorkflow', ...verdict, ms: performance.now() - started };
  }
  const file = path.join(dir, `case-${n}${c.ext}`);
  writeFileSync(file, c.text);
  try {
    const compile = c.via === 'compileFile'
      ? () => outcomeOf(async () => {
          const plan = await compileFile(file, dir);
          let definition: unknown;
          try {
            definition = await loadDefinition(file);
          } catch {
            definition = undefined;
          }
          return { plan, definition };
        })
      : () => outcomeOf(async () => {
          const definition = await loadDefinition(file);
          return { plan: compileWorkflow(definition, { source: file }), definition };
        });
    const verdict = await judge(await compile(), compile, c.expect, file);
    return { via: c.via, ...verdict, ms: performance.now() - started };
  } finally {
    rmSync(file, { force: true });
  }
}

function main(): void {
  const seed = Number(process.argv[2]);
  const dir = mkdtempSync(path.join(tmpdir(), 'jf-fuzz-defs-'));
  writeFileSync(path.join(dir, 'handler.mjs'), 'export const handler = () => 1;\nexport const other = async () => 2;\n');
  const before = prototypeMembers();
  let n = 0;
  process.on('message', (message: CaseRequest | { type: 'finish' }) => {
    if (message.type === 'finish') {
      rmSync(dir, { recursive: true, force: true });
      const plain: Record<string, unknown> = {};
      const report: PrototypeReport = { type: 'prototype', changed: prototypeChanges(before), leaked: PROBES.filter((k) => k in plain) };
      process.send!(report, () => process.exit(0));
      return;
    }
    const c = buildCase(seed, message);
    void runCase(dir, c, n++).then((r) => process.send!({ type: 'report', label: short(c.label, 400), checked: c.expect !== undefined, ...r } satisfies CaseReport));
  });
  process.send!({ type: 'ready', dir });
}

// Only when started by definitions.test.ts: vitest's own workers also have an IPC channel.
if (process.env['JOINFLOW_FUZZ_HARNESS'] === '1' && process.send !== undefined) main();
