/**
 * Reads workflow files (TypeScript/JavaScript modules, YAML, JSON), checks the handler modules
 * they name, and compiles them. The compiler stays pure: this is where the I/O happens.
 */
import { existsSync, readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CST } from 'yaml';
import { jsonMessage, lineColumn, plainJson } from './plain-json.ts';
import { RESOLUTION_ERRORS } from './ts-transpiler.ts';
import { yaml } from './yaml-lazy.ts';
import { compileWorkflow } from '../../compiler/compile.ts';
import { suggest, type ModuleInfo } from '../../compiler/validate.ts';
import { isWorkflowBuilder } from '../../model/builder.ts';
import { UsageError, WorkflowDefinitionError, type Problem } from '../../model/errors.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import { checkSubscriptions } from '../../runtime/subscriptions.ts';

const MODULE_EXT = ['.ts', '.mts', '.js', '.mjs'];
const DATA_EXT = ['.yaml', '.yml', '.json'];
const WORKFLOW_EXT = [...MODULE_EXT, ...DATA_EXT];
/**
 * Deepest nesting a YAML/JSON workflow file may have. The YAML composer recurses per level and
 * runs out of stack in the high hundreds; near that limit V8 can even abort the whole process
 * ("RegExpCompiler Allocation failed"), so deeper files are refused before they are composed.
 */
const MAX_FILE_DEPTH = 200;

/**
 * Turns `diamond` into `workflows/diamond.ts` (or .mts, .js, .mjs, .yaml, .yml, .json, or
 * workflows/diamond/workflow.*); a path to a file passes through, and a path to a directory
 * (`workflows/montage`) names the workflow.* file in it.
 */
export function findWorkflowFile(nameOrPath: string, root = process.cwd()): string {
  const isFile = (f: string): boolean => {
    const stat = statOf(f);
    if (stat === 'loop') throw new UsageError(`${shown(f)} is a symbolic link in a loop (it never reaches a file): point it at the workflow file`);
    return stat?.isFile() === true;
  };
  const direct = path.resolve(root, nameOrPath);
  if (isFile(direct)) return direct;
  const inWorkflows = path.join(root, 'workflows', nameOrPath);
  if (isFile(inWorkflows)) return inWorkflows;
  // Two files of one name (diamond.yaml beside diamond.json, or beside diamond/workflow.yaml)
  // would run whichever comes first.
  const withExt = (bases: string[]): string[] => bases.flatMap((base) => WORKFLOW_EXT.filter((ext) => isFile(base + ext)).map((ext) => base + ext));
  const directory = statSync(direct, { throwIfNoEntry: false })?.isDirectory() === true;
  for (const bases of [[inWorkflows, path.join(inWorkflows, 'workflow')], directory ? [direct, path.join(direct, 'workflow')] : [direct]]) {
    const found = withExt(bases);
    if (found.length > 1) throw new UsageError(`workflow "${nameOrPath}" is ambiguous: ${found.map(shown).join(' and ')} all answer to it; name the file to run`);
    if (found.length === 1) return found[0]!;
  }
  if (directory) {
    throw new UsageError(`${nameOrPath} is a directory with no workflow file in it (workflow${WORKFLOW_EXT.join(', workflow')})`);
  }
  // A path (with a directory or a workflow extension) names one file: it is that file or nothing.
  if (nameOrPath.includes('/') || nameOrPath.includes(path.sep) || WORKFLOW_EXT.includes(path.extname(nameOrPath))) {
    throw new UsageError(`workflow file ${nameOrPath} not found`);
  }
  const known = listWorkflowFiles(root).map((f) => (path.basename(f).startsWith('workflow.') ? path.basename(path.dirname(f)) : path.basename(f, path.extname(f))));
  throw new UsageError(`workflow "${nameOrPath}" not found${suggest(nameOrPath, known)}: no file ${nameOrPath}, workflows/${nameOrPath}{${WORKFLOW_EXT.join(',')}} or workflows/${nameOrPath}/workflow.*`);
}

/** Workflow files of a project: top-level files in workflows/ and workflows/<name>/workflow.*. */
export function listWorkflowFiles(root = process.cwd()): string[] {
  const dir = path.join(root, 'workflows');
  if (!existsSync(dir)) return [];
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    // A symbolic link counts as what it points to, as `joinflow run <name>` takes it.
    // A dangling link, or a loop, is no workflow.
    const stat = entry.isSymbolicLink() ? statOf(path.join(dir, entry.name)) : entry;
    const target = stat === 'loop' ? undefined : stat;
    if (target?.isFile() === true && WORKFLOW_EXT.includes(path.extname(entry.name)) && !entry.name.endsWith('.d.ts')) {
      files.push(path.join(dir, entry.name));
    } else if (target?.isDirectory() === true) {
      for (const ext of WORKFLOW_EXT) {
        const f = path.join(dir, entry.name, `workflow${ext}`);
        if (existsSync(f)) files.push(f);
      }
    }
  }
  return files;
}

/** What `file` is, following symbolic links: undefined when nothing is there (a dangling link), 'loop' for a link loop (ELOOP). */
function statOf(file: string): Stats | undefined | 'loop' {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') return 'loop';
    throw error;
  }
}

/** A file as messages name it: relative to the current directory when under it, as the compiler's do. */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? file : rel.split(path.sep).join('/');
}

/** Loads a workflow definition (not yet validated) from a file. */
export async function loadDefinition(file: string): Promise<unknown> {
  const ext = path.extname(file);
  // Said so, not as the module loader's "Cannot find module" or a bare ENOENT.
  if (ext !== '' && !existsSync(file)) throw new UsageError(`workflow file ${shown(file)} not found`);
  if (MODULE_EXT.includes(ext)) {
    let mod: Record<string, unknown>;
    try {
      // ESM caches a module for the life of its thread: joinflow dev's reloads compile in a
      // thread of their own (compile-isolated.ts), which imports an edited file anew.
      mod = (await importModule(file)) as Record<string, unknown>;
    } catch (error) {
      // A builder's refusal (a step declared twice) is a definition error: said so, of this file.
      // Duck-typed: the module may have loaded its own copy of joinflow.
      const { code, problems } = (error ?? {}) as { code?: unknown; problems?: unknown };
      if (code === 'WORKFLOW_DEFINITION' && Array.isArray(problems)) throw new WorkflowDefinitionError(problems as Problem[], shown(file));
      // Its top level may throw anything: a string is the message, not `undefined`.
      const message = error instanceof Error ? error.message : String(error);
      throw new WorkflowDefinitionError([{ path: '', message: `cannot load module: ${message}` }], shown(file));
    }
    const dflt = unwrapCommonJs(mod['default']);
    if (dflt === null && mod['workflow'] === undefined) {
      throw new WorkflowDefinitionError([{ path: '', message: "the module's default export is null, not a workflow (export default workflow(...))" }], shown(file));
    }
    const value = dflt ?? mod['workflow'];
    // A CommonJS module's default is its whole exports object: with no workflow among its
    // exports, that object is not a definition to check field by field.
    // Node may name none of them (the compiled CLI's TypeScript as CommonJS): only a default then.
    const unnamed = Object.keys(mod).every((k) => k === 'default' || k === 'module.exports');
    const onlyExports = typeof value === 'object' && value !== null && !Object.hasOwn(value, 'steps') && !Object.hasOwn(value, 'name') &&
      !isWorkflowBuilder(value) && Object.keys(value).length > 0 &&
      Object.keys(value).every((k) => (unnamed && value === mod['default']) || (Object.hasOwn(mod, k) && mod[k] === (value as Record<string, unknown>)[k]));
    if (value === undefined || onlyExports) {
      const named = unnamed && onlyExports ? Object.keys(value) : Object.keys(mod).filter((k) => k !== 'default' && k !== 'module.exports');
      throw new WorkflowDefinitionError([{ path: '', message: `the module has no default export (export default workflow(...))${named.length > 0 ? `; it exports ${named.join(', ')}` : ''}` }], shown(file));
    }
    return isWorkflowBuilder(value) ? value.build() : value;
  }
  if (!DATA_EXT.includes(ext)) {
    throw new UsageError(`${file}: unsupported workflow file type "${ext}" (use ${WORKFLOW_EXT.join(', ')})`);
  }
  const text = readFileSync(file, 'utf8');
  // Imported traces are large JSON files: read natively when that gives the same value.
  if (ext === '.json') {
    const plain = plainJson(text, MAX_FILE_DEPTH);
    if (plain) return plain.value;
  }
  const deepAt = offsetBeyondDepth(text, MAX_FILE_DEPTH);
  if (deepAt !== undefined) {
    throw new WorkflowDefinitionError([{ path: lineColumn(text, deepAt), message: `nested more than ${MAX_FILE_DEPTH} levels deep: flatten the document` }], shown(file));
  }
  try {
    // JSON is YAML too; the YAML parser also reports duplicate keys, which JSON.parse hides.
    // Its warnings (an unknown tag such as !!js/function, a key that is a list or map) are
    // problems of the file, not lines the library prints on stderr.
    const Y = yaml();
    const doc = Y.parseDocument(text, { uniqueKeys: true, logLevel: 'error', merge: true });
    const first = doc.errors[0];
    if (first?.code === 'MULTIPLE_DOCS') {
      throw new WorkflowDefinitionError([{ path: lineColumn(text, first.pos[0]), message: 'a workflow file holds one YAML document, and this one has several (a second "---"): keep one per file' }], shown(file));
    }
    if (first) throw first;
    const problems = doc.warnings.map((w) => ({ path: lineColumn(text, w.pos[0]), message: w.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') }));
    Y.visit(doc, {
      Pair(_key, pair) {
        if (Y.isCollection(pair.key)) problems.push({ path: lineColumn(text, pair.key.range?.[0] ?? 0), message: 'a key must be a plain value, not a list or a map' });
      },
    });
    if (problems.length > 0) throw new WorkflowDefinitionError(problems, shown(file));
    return doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    if (error instanceof WorkflowDefinitionError) throw error;
    // A .json file the YAML reader (which takes JSON with a byte order mark, comments or trailing
    // commas) refuses too: JSON's own message, at its line, rather than one that talks of YAML.
    const json = ext === '.json' && error instanceof yaml().YAMLParseError ? jsonProblem(text) : undefined;
    if (json) throw new WorkflowDefinitionError([json], shown(file));
    if (error instanceof yaml().YAMLParseError) {
      const pos = error.linePos?.[0];
      const where = pos ? `line ${pos.line}, column ${pos.col}` : '';
      // The position is in the path; the message's own copy ends in a colon before a code frame.
      throw new WorkflowDefinitionError([{ path: where, message: error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') }], shown(file));
    }
    // Aliases are resolved after parsing, and fail with a plain ReferenceError (unresolved, or too many).
    if (error instanceof Error) {
      const message = error.message.split('\n')[0]!;
      const alias = /^Unresolved alias .*: (\S+)$/.exec(message)?.[1];
      const at = alias === undefined ? -1 : text.indexOf(`*${alias}`);
      throw new WorkflowDefinitionError([{ path: at < 0 ? '' : lineColumn(text, at), message }], shown(file));
    }
    throw error;
  }
}

/**
 * Imports a workflow or handler module. A .ts file in a project without `"type": "module"` is
 * CommonJS to Node, and importing it through the ESM loader can fail ("Cannot require() ES Module
 * ... in a cycle"); tsx's own tsImport loads it either way. In a process that registered no
 * TypeScript loader (the package used as a library from plain `node`), Node refuses a TypeScript
 * file ("Unknown file extension") before running any of it, and tsImport loads it instead.
 */
export async function importModule(file: string): Promise<unknown> {
  await userModules.prepare();
  try {
    return await import(pathToFileURL(file).href);
  } catch (error) {
    const code = (error as { code?: string } | null)?.code ?? '';
    const cures = userModules.tsxCures ?? (TYPESCRIPT_FILE.test(file) ? RESOLUTION_ERRORS : undefined);
    if (code !== 'ERR_REQUIRE_CYCLE_MODULE' && !cures?.has(code)) throw error;
    return tsImport(file);
  }
}

const TYPESCRIPT_FILE = /\.(?:ts|mts|cts|tsx)$/;

/**
 * What must happen before a workflow or handler module is imported. The compiled CLI (dist/, see
 * bin/cli-entry.js) starts without tsx and sets this to register it, so that the ~0.1 s it takes
 * is paid only by commands that load a module; from src/, tsx is registered at start.
 * `tsxCures`: errors of a failed import that tsImport is tried for (a compile thread that loads
 * TypeScript through ts-hooks.ts, see compile-worker.ts).
 */
export const userModules: { prepare: () => Promise<void>; tsxCures?: ReadonlySet<string> } = { prepare: async () => {} };

/** tsx's tsImport, loaded when first needed (it is not, for a workflow in YAML). */
async function tsImport(file: string): Promise<unknown> {
  const tsx = await import('tsx/esm/api');
  // A specifier: a bare path with '#' or '%20' in it would be read as a URL.
  return tsx.tsImport(pathToFileURL(file).href, import.meta.url);
}

/** A CommonJS module's `export default x` arrives as `{default: x}` under `default`. */
function unwrapCommonJs(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, 'default') && !Object.hasOwn(value, 'steps')) {
    return (value as { default: unknown }).default;
  }
  return value;
}

/** Offset of the first node nested deeper than `limit`, from the parser's token tree (walked without recursion). */
function offsetBeyondDepth(text: string, limit: number): number | undefined {
  for (const document of new (yaml().Parser)().parse(text)) {
    const stack: Array<[CST.Token | null | undefined, number]> = [[document, 0]];
    while (stack.length > 0) {
      const [token, depth] = stack.pop()!;
      if (!token) continue;
      if (depth > limit) return token.offset;
      if (token.type === 'document') stack.push([token.value, depth]);
      else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
        for (const item of token.items) stack.push([item.key, depth + 1], [item.value, depth + 1]);
      }
    }
  }
  return undefined;
}

/**
 * Checks every handler module a definition names: file exists, loads, has the export. The modules
 * are imported in a worker thread, not in this one (module-check.ts).
 */
export async function resolveModules(definition: unknown, file: string, root: string): Promise<Record<string, ModuleInfo>> {
  // No prototype: modules named "constructor" or "__proto__" are plain keys here.
  const out = Object.create(null) as Record<string, ModuleInfo>;
  const steps = (definition as { steps?: unknown } | null)?.steps;
  if (typeof steps !== 'object' || steps === null) return out;
  const found = new Map<string, { abs: string; rel: string }>();
  for (const step of Object.values(steps)) {
    const executor = (step as { executor?: { type?: unknown; module?: unknown } } | null)?.executor;
    if (executor?.type !== 'function' && executor?.type !== 'container' && executor?.type !== 'auto') continue;
    if (typeof executor.module !== 'string' || Object.hasOwn(out, executor.module) || found.has(executor.module)) continue;
    const abs = path.resolve(path.dirname(file), executor.module);
    const rel = path.relative(root, abs).split(path.sep).join('/');
    if (existsSync(abs)) found.set(executor.module, { abs, rel });
    else out[executor.module] = { error: `handler module "${executor.module}" not found (no file ${rel})` };
  }
  if (found.size === 0) return out;
  const { describeModules } = await import('./module-check.ts');
  const described = await describeModules([...new Set([...found.values()].map((m) => m.abs))]);
  for (const [module, { abs, rel }] of found) {
    const d = described.get(abs)!;
    out[module] = 'exports' in d ? { path: rel, exports: d.exports, ...(d.note === undefined ? {} : { note: d.note }) } : { error: `cannot load handler module ${rel}: ${d.error}` };
  }
  return out;
}

/**
 * The definition with every handler module (of `function`, `auto` and `container` handler steps)
 * replaced by `module` (an absolute path), each step keeping its export: `joinflow run --handlers`.
 * Returns how many steps it changed; the definition itself is left as it was.
 */
export function withHandlers(definition: unknown, module: string): { definition: unknown; steps: number } {
  const steps = (definition as { steps?: unknown } | null)?.steps;
  if (typeof steps !== 'object' || steps === null) return { definition, steps: 0 };
  let changed = 0;
  const out: Record<string, unknown> = {};
  for (const [id, step] of Object.entries(steps)) {
    const executor = (step as { executor?: { type?: unknown; module?: unknown } } | null)?.executor;
    const handler = (executor?.type === 'function' || executor?.type === 'auto' || executor?.type === 'container') && typeof executor.module === 'string';
    if (handler) changed++;
    // defineProperty: a step named "__proto__" stays a step.
    Object.defineProperty(out, id, { value: handler ? { ...(step as object), executor: { ...executor, module } } : step, enumerable: true, writable: true, configurable: true });
  }
  return { definition: { ...(definition as object), steps: out }, steps: changed };
}

/**
 * Loads, checks and compiles one workflow file; `handlers`: the handler module every handler step
 * uses instead of its own (see {@link withHandlers}).
 */
export async function compileFile(file: string, root = process.cwd(), options: { handlers?: string } = {}): Promise<TriggerPlan> {
  let definition = await loadDefinition(file);
  const compiled = compiledFrom(definition);
  if (compiled !== undefined) {
    throw new UsageError(`${path.relative(root, file) || file}: a plan joinflow compile wrote${compiled === '' ? '' : ` from ${compiled}`}, not a workflow definition: give the workflow file${compiled === '' ? '' : ` (${compiled})`} instead`);
  }
  if (options.handlers !== undefined) {
    const replaced = withHandlers(definition, options.handlers);
    if (replaced.steps === 0) process.stderr.write(`joinflow: --handlers ${path.relative(root, options.handlers) || options.handlers}: ${path.relative(root, file)} has no step with a handler module (function, auto or container handler): nothing to replace\n`);
    definition = replaced.definition;
  }
  const modules = await resolveModules(definition, file, root);
  const source = path.relative(root, file).split(path.sep).join('/');
  const plan = compileWorkflow(definition, { source, modules });
  // The compiler has no pattern checker (it sits below the runtime): patterns are checked here.
  const problems = checkSubscriptions(plan.subscriptions ?? [], (s) => `subscriptions.${s.name.slice(plan.workflow.length + 1)}`);
  if (problems.length > 0) throw new WorkflowDefinitionError(problems, file);
  return plan;
}

/** The source of a compiled plan (triggers/*.json; '' when it names none); undefined for anything else. */
function compiledFrom(definition: unknown): string | undefined {
  if (typeof definition !== 'object' || definition === null) return undefined;
  const d = definition as Record<string, unknown>;
  if (typeof d['version'] !== 'number' || typeof d['workflow'] !== 'string' || typeof d['triggers'] !== 'object' || 'name' in d) return undefined;
  return typeof d['source'] === 'string' ? d['source'] : '';
}

/** What JSON.parse says of a text it refuses, as a problem with its line; undefined for valid JSON. */
function jsonProblem(text: string): { path: string; message: string } | undefined {
  try {
    JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    return undefined;
  } catch (error) {
    const message = jsonMessage(text, error as Error);
    const at = /^(line \d+, column \d+): (.*)$/s.exec(message);
    return at ? { path: at[1]!, message: `not valid JSON: ${at[2]}` } : { path: '', message: `not valid JSON: ${message}` };
  }
}
