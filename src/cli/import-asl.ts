/**
 * `joinflow import asl <machine.asl.json> -o <workflow.json> [--tasks MODULE] [--name N]`: an
 * Amazon States Language machine -> a workflow, plus the module its steps run (`<out>-asl.ts`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { compileWorkflow } from '../compiler/compile.ts';
import { compileMachine } from '../importers/asl/compile.ts';
import { taskKeys } from '../importers/asl/interpret.ts';
import { withLines } from '../importers/asl/lines.ts';
import { checkMachine, statePath, type Scope } from '../importers/asl/machine.ts';
import { UsageError, WorkflowDefinitionError, type Problem } from '../model/errors.ts';
import { WORKFLOW_NAME_PATTERN, WORKFLOW_NAME_RULE } from '../model/workflow.ts';
import { importModule } from '../adapters/local/workflow-files.ts';
import { taskFunctions } from '../importers/asl/interpret.ts';
import { workflowOutput, writeOutput } from './input.ts';
import { parseJsonStrict } from '../adapters/local/plain-json.ts';

export type ImportAslFlags = { out?: string; name?: string; tasks?: string };

/** This package's `joinflow/asl` entry (its source, from src/cli/ or dist/cli/), for a module written where `joinflow` does not resolve. */
const ENTRY = path.resolve(import.meta.dirname, '../../src/asl.ts');

export async function importAslFile(file: string, flags: ImportAslFlags): Promise<number> {
  if (flags.out === undefined) throw new UsageError('joinflow import asl writes two files, the workflow and the module its steps run: name the workflow file with -o (e.g. -o workflows/orders.json)');
  const out = workflowOutput('-o', flags.out);
  let machine: unknown;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
    machine = /\.ya?ml$/i.test(file) ? parseYaml(text) : parseJsonStrict(text);
  } catch (error) {
    throw new UsageError(`${file}: cannot read a state machine: ${(error as Error).message}`);
  }
  const { problems, warnings } = checkMachine(machine);
  // Each problem names its construct by path and by line in the file.
  if (problems.length > 0) throw new WorkflowDefinitionError(withLines(text, machine, problems), file);
  const scope = machine as Scope & { Comment?: string };
  const base = path.basename(out).replace(/\.(?:json|ya?ml)$/i, '');
  // No dot before the extension: Lambda's Node.js runtime reads a handler's file name up to its
  // first dot (`workflow.asl.handler` would be module `workflow`, export `asl.handler`).
  const moduleFile = path.join(path.dirname(out), `${base.replaceAll('.', '-')}-asl.ts`);
  for (const [target, what] of [[out, 'the workflow'], [moduleFile, 'the steps\' module']] as const) {
    if (same(target, file)) throw new UsageError(`-o ${flags.out}: ${what} would be written over the machine being imported (${file}): choose another output file`);
    if (flags.tasks !== undefined && same(target, flags.tasks)) {
      throw new UsageError(`-o ${flags.out}: ${what} (${target}) would be written over the --tasks module (${flags.tasks}): choose another output file, or rename the tasks module`);
    }
  }

  const tasks = taskRefs(scope, '');
  let tasksImport: string | undefined;
  if (flags.tasks !== undefined) {
    const abs = path.resolve(flags.tasks);
    if (!statSync(abs, { throwIfNoEntry: false })?.isFile()) throw new UsageError(`--tasks ${flags.tasks}: no such file`);
    let exported: Set<string>;
    try {
      exported = new Set(Object.keys(taskFunctions((await importModule(abs)) as Record<string, unknown>)));
    } catch (error) {
      throw new UsageError(`--tasks ${flags.tasks}: cannot load: ${(error as Error).message}`);
    }
    const missing: Problem[] = tasks.filter((t) => t.keys.length > 0 && !t.keys.some((k) => exported.has(k)))
      .map((t) => ({ path: t.path, message: `--tasks ${flags.tasks} exports no function ${t.keys.map((k) => `"${k}"`).join(' or ')} for this Task` }));
    if (missing.length > 0) throw new WorkflowDefinitionError(withLines(text, machine, missing), file);
    tasksImport = relativeImport(path.dirname(moduleFile), abs);
  } else if (tasks.length > 0) {
    const names = [...new Set(tasks.map((t) => (t.keys.length ? t.keys[0] : `(a function chosen at run time by ${t.path})`)))];
    throw new UsageError(`${file} has ${tasks.length} Task state${tasks.length === 1 ? '' : 's'}: name the module that implements them with --tasks (it exports ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''})`);
  }
  for (const t of tasks) if (t.keys.length === 0) warnings.push({ path: t.path, message: 'the function is chosen at run time (FunctionName.$): the tasks module must export every function the input can name' });

  // The name of -o's file, or of its directory in the `workflows/<name>/workflow.json` layout
  // (every machine imported that way would otherwise be called "workflow").
  const named = base === 'workflow' ? path.basename(path.dirname(path.resolve(out))) : base;
  const name = flags.name ?? (named.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[.-]+/, '').slice(0, 64) || 'machine');
  if (!WORKFLOW_NAME_PATTERN.test(name)) throw new UsageError(`--name "${name}": must be ${WORKFLOW_NAME_RULE}`);
  const { workflow, stats } = compileMachine(scope, name, `./${path.basename(moduleFile)}`);
  // Never write a workflow that does not compile: a problem here is joinflow's, not the machine's.
  compileWorkflow(workflow, { source: file });

  const entry = resolvesJoinflow(path.dirname(path.resolve(moduleFile))) ? 'joinflow/asl' : relativeImport(path.dirname(moduleFile), ENTRY);
  const module = [
    `// Written by \`joinflow import asl ${jsEscape(path.basename(file))}\`: the handler of every step of ${jsEscape(path.basename(out))}.`,
    '// Import the machine again rather than editing this file.',
    `import { aslHandler } from '${jsEscape(entry)}';`,
    ...(tasksImport ? [`import * as tasks from '${jsEscape(tasksImport)}';`, '', 'export const handler = aslHandler(tasks);'] : ['', 'export const handler = aslHandler();']),
    '',
  ].join('\n');
  const body = /\.ya?ml$/i.test(out) ? toYaml(workflow, { lineWidth: 0 }) : `${JSON.stringify(workflow, null, 2)}\n`;
  writeOutput('-o', moduleFile, module);
  writeOutput('-o', out, body);
  for (const w of withLines(text, machine, warnings)) process.stderr.write(`joinflow import: warning: ${w.path}: ${w.message}\n`);
  process.stderr.write(`${name}: ${stats.states} state${stats.states === 1 ? '' : 's'} -> ${stats.steps} steps in ${out}, run by ${moduleFile}\n`);
  return 0;
}

type TaskRef = { path: string; keys: string[] };

/** Every Task state, with the export names that can implement it (none when FunctionName.$ picks it at run time). */
function taskRefs(scope: Scope, at: string): TaskRef[] {
  const out: TaskRef[] = [];
  for (const [name, st] of Object.entries(scope.States)) {
    const p = statePath(at, name);
    if (st.Type === 'Task') out.push({ path: p, keys: taskKeys(name, st, (st['Parameters'] as Record<string, unknown> | undefined)?.['FunctionName']) });
    if (Array.isArray(st['Branches'])) (st['Branches'] as Scope[]).forEach((b, i) => out.push(...taskRefs(b, `${p}.Branches[${i}].`)));
    const sub = (st['ItemProcessor'] ?? st['Iterator']) as Scope | undefined;
    if (sub) out.push(...taskRefs(sub, `${p}.${st['ItemProcessor'] ? 'ItemProcessor' : 'Iterator'}.`));
  }
  return out;
}

/** Whether `import 'joinflow/asl'` works from `dir`: this package itself, or installed in a node_modules above. */
function resolvesJoinflow(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'node_modules', 'joinflow', 'package.json'))) return true;
    const pkg = path.join(d, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'joinflow') return true;
      } catch {
        // An unreadable package.json says nothing about joinflow: keep looking up.
      }
    }
    if (path.dirname(d) === d) return false;
  }
}

/**
 * A file name as the text of a single-quoted JavaScript string, also safe in a line comment: a
 * quote in a directory's name would end the string, and a line break in a file's name would
 * start a line of code in the module written.
 */
function jsEscape(text: string): string {
  return text.replace(/[\\'\x00-\x1f\x7f\u2028\u2029]/g, (c) => (c === '\\' || c === "'" ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

function relativeImport(fromDir: string, file: string): string {
  const rel = path.relative(path.resolve(fromDir), file).split(path.sep).join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

function same(a: string, b: string): boolean {
  const x = statSync(a, { throwIfNoEntry: false });
  const y = statSync(b, { throwIfNoEntry: false });
  return x !== undefined && y !== undefined && x.dev === y.dev && x.ino === y.ino;
}
