/** `joinflow import wfcommons|cwl|asl <file>`: a WfCommons trace (simulate steps, or mapped executors), a CWL workflow or an Amazon States Language machine -> a joinflow workflow. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { importWfCommons } from '../importers/wfcommons.ts';
import { parseExecutorMapping, singleExecutorMapping, type ExecutorMapping } from '../importers/wfcommons-executors.ts';
import { UsageError, WorkflowDefinitionError, type Problem } from '../model/errors.ts';
import type { WorkflowInput } from '../model/workflow.ts';
import { workflowOutput, refuseOverwrite, writeOutput } from './input.ts';
import { parseJsonStrict } from '../adapters/local/plain-json.ts';
import { WORKFLOW_NAME_PATTERN, WORKFLOW_NAME_RULE } from '../model/workflow.ts';

/** Runs `joinflow import`; resolves with the exit code. */
export async function importCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      name: { type: 'string' },
      executor: { type: 'string' },
      image: { type: 'string' },
      command: { type: 'string' },
      mapping: { type: 'string' },
      tasks: { type: 'string' },
      files: { type: 'boolean', default: false },
      'no-files': { type: 'boolean', default: false },
    },
  });
  const [format, file, ...extra] = positionals;
  // The flag's mistake, said as the flag's (not as a problem of the file being imported), by every importer.
  if (values.name !== undefined && !WORKFLOW_NAME_PATTERN.test(values.name)) {
    throw new UsageError(`--name "${values.name}": must be ${WORKFLOW_NAME_RULE}`);
  }
  if (format === 'asl') {
    if (file === undefined || extra.length > 0) throw new UsageError('name exactly one state machine: joinflow import asl <machine.asl.json> -o <workflow.json> [--tasks MODULE]');
    for (const flag of ['executor', 'image', 'command', 'mapping'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag} does not apply to joinflow import asl`);
    if (values.files || values['no-files']) throw new UsageError('--files and --no-files apply to joinflow import wfcommons only');
    return (await import('./import-asl.ts')).importAslFile(file, values);
  }
  if (values.tasks !== undefined) throw new UsageError('--tasks applies to joinflow import asl only');
  if (format === 'cwl') {
    if (file === undefined || extra.length > 0) throw new UsageError('name exactly one CWL file: joinflow import cwl <workflow.cwl>');
    if (values.command !== undefined || values.mapping !== undefined || values.files || values['no-files']) {
      throw new UsageError('--command, --mapping, --files and --no-files apply to joinflow import wfcommons only');
    }
    return (await import('./import-cwl.ts')).importCwlFile(file, values);
  }
  if (values.image !== undefined) throw new UsageError('--image applies to joinflow import cwl only');
  if (format !== 'wfcommons') {
    throw new UsageError(format === undefined ? 'name the format: joinflow import wfcommons <trace.json>, joinflow import cwl <workflow.cwl> or joinflow import asl <machine.asl.json>' : `unknown format "${format}" (supported: wfcommons, cwl, asl)`);
  }
  if (file === undefined || extra.length > 0) throw new UsageError('name exactly one trace file');
  if (values.out !== undefined) {
    workflowOutput('-o', values.out);
    refuseOverwrite(values.out, file, 'the trace being imported');
    if (values.mapping !== undefined) refuseOverwrite(values.out, values.mapping, 'the mapping file');
  }
  let trace: unknown;
  try {
    trace = parseJsonStrict(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`${file}: cannot read a JSON trace: ${(error as Error).message}`);
  }
  if (values.files && values['no-files']) throw new UsageError('give --files or --no-files, not both');
  const executors = mappingFrom(values);
  // Problems in the mapping are reported as `mapping.tasks…`: name the file instead.
  const where = (p: Problem): Problem =>
    values.mapping !== undefined && p.path.startsWith('mapping.') ? { ...p, path: `${values.mapping}: ${p.path.slice('mapping.'.length)}` } : p;
  let imported: ReturnType<typeof importWfCommons>;
  try {
    imported = importWfCommons(trace, {
      ...(values.name === undefined ? {} : { name: values.name }),
      ...(executors ? { executors } : {}),
      ...(values['no-files'] ? { files: false } : values.files ? { files: true } : {}),
    });
  } catch (error) {
    // Nothing is written: the trace's problems, named by the trace file.
    if (error instanceof WorkflowDefinitionError) throw new WorkflowDefinitionError(error.problems.map(where), file);
    throw error;
  }
  const { workflow, stats, warnings } = imported;
  if (executors) await checkHandlerModules(workflow, values.out, values.mapping ?? file);
  for (const w of warnings.map(where)) process.stderr.write(`joinflow import: warning: ${w.path}: ${w.message}\n`);
  // JSON, or YAML for a .yaml/.yml file, as import cwl writes.
  const text = values.out !== undefined && /\.ya?ml$/i.test(values.out) ? toYaml(workflow, { lineWidth: 0 }) : `${JSON.stringify(workflow, null, 2)}\n`;
  if (values.out !== undefined) writeOutput('-o', values.out, text);
  else process.stdout.write(text);
  process.stderr.write(
    `${workflow.name}: ${stats.tasks} task${stats.tasks === 1 ? '' : 's'}, ${stats.edges} edge${stats.edges === 1 ? '' : 's'}, depth ${stats.depth}, ` +
      `critical path ${(stats.criticalPathMs / 1000).toFixed(3)} s (WfFormat ${stats.schemaVersion})\n`,
  );
  if (executors) {
    const kinds = new Map<string, number>();
    for (const s of Object.values(workflow.steps)) kinds.set(s.executor.type, (kinds.get(s.executor.type) ?? 0) + 1);
    const withFiles = Object.values(workflow.steps).filter((s) => s.files !== undefined).length;
    const dropped = stats.filesDropped > 0 ? ` (file lists dropped for ${stats.filesDropped} step(s) that run a handler: only command steps stage files)` : '';
    process.stderr.write(`${workflow.name}: ${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')} step(s), ${withFiles} with data files${dropped}\n`);
  }
  return 0;
}

/**
 * The handler modules that mapped function, container and auto steps name, checked as run and
 * plan check them (the file is there, loads, and exports the function), relative to where the
 * workflow is written (the current directory for stdout). Each module's problem once, however
 * many tasks use it; nothing is written when there is one.
 */
async function checkHandlerModules(workflow: WorkflowInput, out: string | undefined, source: string): Promise<void> {
  const [{ resolveModules }, { compileWorkflow }] = await Promise.all([import('../adapters/local/workflow-files.ts'), import('../compiler/compile.ts')]);
  const file = out === undefined ? path.join(process.cwd(), 'workflow.json') : path.resolve(out);
  const modules = await resolveModules(workflow, file, process.cwd());
  if (Object.keys(modules).length === 0) return;
  try {
    compileWorkflow(workflow, { source: out ?? 'stdout', modules });
  } catch (error) {
    if (!(error instanceof WorkflowDefinitionError)) throw error;
    const seen = new Set<string>();
    const problems = error.problems.filter((p) => !seen.has(p.message) && seen.add(p.message));
    throw new WorkflowDefinitionError(problems, source);
  }
}


type Flags = { executor?: string | undefined; command?: string | undefined; mapping?: string | undefined; out?: string | undefined };

/** The executor mapping the flags ask for, or undefined for the default (simulate everything). */
function mappingFrom(values: Flags): ExecutorMapping | undefined {
  if (values.mapping !== undefined) {
    if (values.executor !== undefined || values.command !== undefined) throw new UsageError('give either --mapping FILE or --executor/--command, not both');
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(values.mapping, 'utf8'), { uniqueKeys: true });
    } catch (error) {
      const pos = (error as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
      const message = (error as Error).message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new UsageError(`${values.mapping}${pos ? `:${pos.line}:${pos.col}` : ''}: cannot read the mapping (YAML or JSON): ${message}`);
    }
    if (raw === null || raw === undefined) {
      throw new UsageError(`${values.mapping}: the mapping is empty: give it tasks: {<task id, name, category or program>: executor} and/or default: executor`);
    }
    // Paths in the mapping are relative to the mapping file; in the workflow, to the workflow file.
    const from = path.dirname(path.resolve(values.mapping));
    const to = values.out === undefined ? process.cwd() : path.dirname(path.resolve(values.out));
    const relocate = (p: string): string => {
      if (path.isAbsolute(p)) return p;
      const rel = path.relative(to, path.resolve(from, p)).split(path.sep).join('/');
      return rel === '' ? '.' : rel;
    };
    return parseExecutorMapping(raw, { source: values.mapping, relocate });
  }
  if (values.executor !== undefined) return singleExecutorMapping(values.executor, values.command);
  if (values.command !== undefined) return singleExecutorMapping('process', values.command);
  return undefined;
}
