/**
 * Which executor each imported WfCommons task gets: a mapping (YAML/JSON, validated here with zod
 * because it is user input) from task id, task name, category (mProject) or the program of its
 * recorded command (Epigenomics' fast2bfq, whose categories are per-file names) to an executor spec
 * whose command and env values are templates (command-template.ts), plus an optional default.
 * Pure: the CLI reads the file; this interprets the parsed value.
 */
import { z } from 'zod';
import { issueMessage, pathKey, UsageError, type Problem } from '../model/errors.ts';
import {
  BatchExecutorSchema,
  ContainerExecutorSchema,
  FunctionExecutorSchema,
  RetrySchema,
  type ExecutorInput,
  type RetrySpec,
} from '../model/workflow.ts';
import {
  expandCommand,
  expandValue,
  parseCommandTemplate,
  parseValueTemplate,
  type CommandTemplate,
  type Result,
  type TemplateFacts,
  type ValueTemplate,
} from './command-template.ts';

const template = z.string().min(1, 'must be a command template, e.g. "node tool.mjs {category} --in {inputs}"');
const env = z.record(z.string(), z.string()).default({});
const common = { timeoutMs: z.number().int().positive().optional(), retry: RetrySchema.optional() };

const SimulateEntrySchema = z.strictObject({
  type: z.literal('simulate'),
  /** Multiplies the recorded runtime. */
  scale: z.number().finite().nonnegative().default(1),
  ...common,
});
const ProcessEntrySchema = z.strictObject({ type: z.literal('process'), command: template, env, cwd: z.string().min(1).optional(), ...common });
const ContainerEntrySchema = z.strictObject({
  type: z.literal('container'),
  queue: ContainerExecutorSchema.shape.queue,
  command: template.optional(),
  module: z.string().min(1).optional(),
  export: z.string().min(1).optional(),
  env,
  cwd: z.string().min(1).optional(),
  ...common,
}).refine((e) => (e.module === undefined) !== (e.command === undefined), { message: 'give exactly one of "command" and "module"' });
const BatchEntrySchema = z.strictObject({
  type: z.literal('batch'),
  image: BatchExecutorSchema.shape.image,
  command: template.optional(),
  vcpus: BatchExecutorSchema.shape.vcpus,
  memoryMb: BatchExecutorSchema.shape.memoryMb,
  gpus: BatchExecutorSchema.shape.gpus,
  env,
  /** The command that stands in for the job on the embedded engine. */
  local: template.optional(),
  cwd: z.string().min(1).optional(),
  ...common,
});
const FunctionEntrySchema = z.strictObject({ type: z.literal('function'), module: FunctionExecutorSchema.shape.module, export: z.string().min(1).optional(), ...common });

const EntrySchema = z.discriminatedUnion('type', [SimulateEntrySchema, ProcessEntrySchema, ContainerEntrySchema, BatchEntrySchema, FunctionEntrySchema]);

/** A mapping file as written. */
export const ExecutorMappingSchema = z.strictObject({
  /** Keep the tasks' input/output file lists as step `files` (default true with a mapping). */
  files: z.boolean().optional(),
  /** Task id, task name, category or program -> executor (see entryFor for the order). */
  tasks: z.record(z.string(), EntrySchema).default({}),
  /** For tasks no key matches; without it they are an error. */
  default: EntrySchema.optional(),
});

type Entry = z.infer<typeof EntrySchema>;

/** An entry with its templates parsed. */
type Compiled = { entry: Entry; command?: CommandTemplate; local?: CommandTemplate; env: Array<[string, ValueTemplate]> };

/** A parsed, checked mapping. */
export type ExecutorMapping = { files: boolean | undefined; tasks: Map<string, Compiled>; fallback: Compiled | undefined };

/** Options of {@link parseExecutorMapping}. */
export type MappingOptions = {
  /** Where the mapping came from, for messages (a file name or "--command"). */
  source?: string;
  /** Rewrites `cwd` and `module` paths (relative to the mapping) to be relative to the workflow. */
  relocate?: (p: string) => string;
};

/** Checks a mapping; throws UsageError listing every problem with its path. */
export function parseExecutorMapping(raw: unknown, options: MappingOptions = {}): ExecutorMapping {
  const source = options.source ?? 'mapping';
  const parsed = ExecutorMappingSchema.safeParse(raw);
  const problems: Problem[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push({ path: issue.path.map(pathKey).join('.'), message: issueMessage(issue, raw) });
    // The templates' own problems too, in one report: not one round of fixes for each kind.
    const seen = new Set(problems.map((p) => p.path));
    for (const p of rawTemplateProblems(raw)) if (!seen.has(p.path)) problems.push(p);
    throw mappingError(source, problems);
  }
  const relocate = options.relocate ?? ((p: string) => p);
  const compile = (entry: Entry, path: string): Compiled => ({ entry: relocateEntry(entry, relocate), ...templatesOf(entry, path, problems) });
  const tasks = new Map(Object.entries(parsed.data.tasks).map(([k, e]) => [k, compile(e, `tasks.${k}`)]));
  const fallback = parsed.data.default && compile(parsed.data.default, 'default');
  if (problems.length > 0) throw mappingError(source, problems);
  return { files: parsed.data.files, tasks, fallback };
}

/** The mapping of `--executor KIND --command TEMPLATE`: that executor for every task. */
export function singleExecutorMapping(kind: string, command: string | undefined): ExecutorMapping {
  if (kind === 'simulate') {
    if (command !== undefined) throw new UsageError('--executor simulate runs no command: drop --command, or use --executor process');
    // The same as no --executor at all: simulate steps stage nothing, so their file lists go too.
    return parseExecutorMapping({ files: false, default: { type: 'simulate' } }, { source: '--executor' });
  }
  if (kind !== 'process' && kind !== 'container') {
    throw new UsageError(`--executor ${kind}: use process or container (or simulate, the default); batch and function steps need a --mapping file`);
  }
  if (command === undefined) throw new UsageError(`--executor ${kind} needs --command 'PROGRAM ARGS…' (placeholders: {id} {name} {category} {runtime} {runtime*F} {program} {inputs} {outputs} {arguments})`);
  return parseExecutorMapping({ default: { type: kind, command } }, { source: '--command' });
}

/**
 * The mapping entry of a task, most specific key first: its id, its name, its category, the
 * program of its recorded command, then the default. Category comes before program because a
 * program may serve several categories (a wrapper such as python); program is what names the
 * task type where categories are per-task names (Epigenomics).
 */
export function entryFor(mapping: ExecutorMapping, facts: TemplateFacts): Compiled | undefined {
  const byProgram = facts.program === undefined ? undefined : mapping.tasks.get(facts.program);
  return mapping.tasks.get(facts.id) ?? mapping.tasks.get(facts.name) ?? mapping.tasks.get(facts.category) ?? byProgram ?? mapping.fallback;
}

/** What a mapped task becomes: its executor, and the step fields the entry sets. */
export type Assigned = { executor: ExecutorInput; timeoutMs?: number; retry?: RetrySpec };

/** Builds one task's executor from its entry. */
export function assignExecutor(compiled: Compiled, facts: TemplateFacts): Result<Assigned> {
  const e = compiled.entry;
  const extra = { ...(e.timeoutMs === undefined ? {} : { timeoutMs: e.timeoutMs }), ...(e.retry === undefined ? {} : { retry: e.retry }) };
  const done = (executor: ExecutorInput): Result<Assigned> => ({ ok: true, value: { executor, ...extra } });
  if (e.type === 'simulate') {
    const durationMs = facts.runtimeSeconds * 1000 * e.scale;
    // JSON would write an infinite duration as null, which no workflow accepts.
    if (!Number.isFinite(durationMs)) return { ok: false, error: `task "${facts.id}": runtime ${facts.runtimeSeconds} s times scale ${e.scale} is too large a duration to simulate` };
    return done({ type: 'simulate', durationMs });
  }
  if (e.type === 'function') return done({ type: 'function', module: e.module, ...(e.export === undefined ? {} : { export: e.export }) });
  const envs: Record<string, string> = {};
  for (const [k, t] of compiled.env) {
    const v = expandValue(t, facts);
    if (!v.ok) return v;
    envs[k] = v.value;
  }
  const argv = compiled.command ? expandCommand(compiled.command, facts) : undefined;
  if (argv && !argv.ok) return argv;
  const cwd = e.cwd === undefined ? {} : { cwd: e.cwd };
  if (e.type === 'process') {
    const [command, ...args] = argv!.value;
    return done({ type: 'process', command: command!, args, env: envs, ...cwd });
  }
  if (e.type === 'container') {
    const queue = e.queue === undefined ? {} : { queue: e.queue };
    if (e.module !== undefined) return done({ type: 'container', ...queue, module: e.module, ...(e.export === undefined ? {} : { export: e.export }) });
    const [command, ...args] = argv!.value;
    return done({ type: 'container', ...queue, command: command!, args, env: envs, ...cwd });
  }
  let local: { command: string; args: string[] } | undefined;
  if (compiled.local) {
    const l = expandCommand(compiled.local, facts);
    if (!l.ok) return l;
    const [command, ...args] = l.value;
    local = { command: command!, args };
  }
  return done({
    type: 'batch',
    image: e.image,
    ...(argv ? { command: argv.value } : {}),
    vcpus: e.vcpus,
    memoryMb: e.memoryMb,
    gpus: e.gpus,
    env: envs,
    ...(local ? { local: { ...local, ...cwd } } : {}),
  });
}

/**
 * The parsed command and env templates of an entry, whichever kind takes them; each that does not
 * parse adds a problem. Also used on the raw entries of a mapping the schema refused, for the
 * fields that are strings there.
 */
function templatesOf(entry: Record<string, unknown>, path: string, problems: Problem[]): Omit<Compiled, 'entry'> {
  const out: Omit<Compiled, 'entry'> = { env: [] };
  if (entry['type'] === 'simulate' || entry['type'] === 'function') return out;
  const fields = entry['type'] === 'batch' ? (['command', 'local'] as const) : (['command'] as const);
  for (const field of fields) {
    const text = entry[field];
    if (typeof text !== 'string' || text === '') continue;
    const t = parseCommandTemplate(text);
    if (t.ok) out[field] = t.value;
    else problems.push({ path: `${path}.${field}`, message: t.error });
  }
  const env = entry['env'];
  if (typeof env !== 'object' || env === null || Array.isArray(env)) return out;
  for (const [k, v] of Object.entries(env)) {
    if (typeof v !== 'string') continue;
    const t = parseValueTemplate(v);
    if (t.ok) out.env.push([k, t.value]);
    else problems.push({ path: `${path}.env.${k}`, message: t.error });
  }
  return out;
}

/** Problems of the templates in a mapping the schema refused, in the entries where there are strings. */
function rawTemplateProblems(raw: unknown): Problem[] {
  const problems: Problem[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(raw)) return problems;
  const entries: Array<[string, unknown]> = isObject(raw['tasks']) ? Object.entries(raw['tasks']).map(([k, e]) => [`tasks.${k}`, e]) : [];
  if (raw['default'] !== undefined) entries.push(['default', raw['default']]);
  for (const [path, entry] of entries) if (isObject(entry)) templatesOf(entry, path, problems);
  return problems;
}

function relocateEntry(entry: Entry, relocate: (p: string) => string): Entry {
  const moved = { ...entry };
  if ('cwd' in moved && moved.cwd !== undefined) moved.cwd = relocate(moved.cwd);
  if ('module' in moved && moved.module !== undefined) moved.module = relocate(moved.module);
  return moved;
}

function mappingError(source: string, problems: Problem[]): UsageError {
  const lines = problems.map((p) => `  - ${p.path ? `${p.path}: ` : ''}${p.message}`);
  return new UsageError(`${source}: invalid executor mapping (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
}
