/** A CWL CommandLineTool -> ToolSpec, refusing (with positions) what the subset cannot run. */
import type { DocPath } from './source.ts';
import {
  checkFields,
  integer,
  isObject,
  kindOf,
  expressionString,
  plainString,
  readBinding,
  readIdMap,
  readType,
  type Ctx,
  type Json,
} from './fields.ts';
import { readRequirements, type LevelRequirements } from './requirements.ts';
import { typeName, type ToolArgument, type ToolInput, type ToolOutput, type ToolSpec } from './spec.ts';
import { typeMismatch } from './values.ts';
import { CLASS_NAMES, unknownClasses } from './glob-pattern.ts';
import { readInputFormat, readOutputFormat } from './formats.ts';

/** CWL versions whose CommandLineTool and Workflow fields the subset reads alike. */
export const CWL_VERSIONS = ['v1.0', 'v1.1', 'v1.2'];

/** Fields of any CWL process that carry no meaning for a run. */
export const METADATA_FIELDS = ['id', 'label', 'doc', 'intent', '$namespaces', '$schemas'];

/** Document-level constructs of schema salad that the subset does not resolve. */
export const SALAD_REFUSED: Record<string, string> = {
  $graph: 'packed documents are not read: keep one process per file',
  $import: 'documents are not spliced together: write the value in place',
  $include: 'documents are not spliced together: write the value in place',
  $mixin: 'documents are not spliced together: write the value in place',
  $base: 'ids are resolved locally',
};

/** Schema salad directives that splice another file's content in, wherever they are. */
const SPLICES: Record<string, string> = {
  $import: 'documents are not spliced together: write the value in place',
  $include: 'files are not included: write their text in place',
  $mixin: 'documents are not spliced together: write the value in place',
};

/**
 * Refuses every `$import`, `$include` and `$mixin` in a document, at any depth, naming the
 * directive, its file and its place. Read without splicing, such an object would only give
 * misleading problems (a requirement without a class, a type named after a file), so the caller
 * reads no further when this returns true. `doc: {$include: ...}` is refused too: `doc` becomes
 * the step's description, and no file is read into it.
 */
export function refuseSplices(ctx: Ctx, value: unknown, path: DocPath = []): boolean {
  if (Array.isArray(value)) return value.map((v: unknown, i) => refuseSplices(ctx, v, [...path, i])).includes(true);
  if (!isObject(value)) return false;
  const directive = Object.keys(value).find((k) => Object.hasOwn(SPLICES, k));
  if (directive !== undefined) {
    const target = value[directive];
    const what = typeof target === 'string' ? `${directive} of ${JSON.stringify(target)}` : directive;
    // `run: {$import: tool.cwl}` has a plain equivalent that the subset reads.
    const why = path.at(-1) === 'run' && directive === '$import' && typeof target === 'string' ? `documents are not spliced together: write run: ${JSON.stringify(target)}, a path` : SPLICES[directive]!;
    ctx.problems.refuse(ctx.src, [...path, directive], what, why);
    return true;
  }
  return Object.entries(value).map(([k, v]) => refuseSplices(ctx, v, [...path, k])).includes(true);
}

/** Rewrites the File objects of a default (at `at` in its document) so that they stay valid from the written workflow. */
export type FileDefault = (value: unknown, at: DocPath) => unknown;

/** A tool as read, with what its own requirements and hints say. */
/** `declared`: the ids of every output the tool declares, also those refused (already reported). */
export type ReadTool = { tool: ToolSpec; requirements: LevelRequirements; declared: string[] };

/**
 * Reads the CommandLineTool at `path` of the document. `fileDefault` rewrites File defaults so
 * that their paths stay valid from the written workflow's directory.
 */
export function readTool(ctx: Ctx, path: DocPath, body: Json, notes: string[], fileDefault: FileDefault): ReadTool {
  checkFields(ctx, path, body, 'CommandLineTool', [
    'class', 'cwlVersion', ...METADATA_FIELDS, 'baseCommand', 'arguments', 'inputs', 'outputs', 'stdout', 'stderr', 'successCodes', 'requirements', 'hints',
  ], {
    stdin: 'tools get no stdin: pass the file as an input bound on the command line',
    temporaryFailCodes: 'set retry on the joinflow step instead',
    permanentFailCodes: 'every other exit code fails the step',
    ...SALAD_REFUSED,
  });
  const requirements = readRequirements(ctx, path, body, notes);
  const baseCommand = readBaseCommand(ctx, [...path, 'baseCommand'], body['baseCommand']);
  const args = readArguments(ctx, [...path, 'arguments'], body['arguments']);
  const inputs = readIdMap(ctx, [...path, 'inputs'], body['inputs'], 'input', 'type').flatMap((e) => readInput(ctx, e.path, e.id, e.body, fileDefault) ?? []);
  const tool: ToolSpec = { baseCommand, arguments: args, inputs, outputs: [], successCodes: [0], env: {} };
  for (const stream of ['stdout', 'stderr'] as const) {
    if (body[stream] === undefined) continue;
    const name = expressionString(ctx, [...path, stream], body[stream], stream);
    if (name !== undefined && !plainFileName(name)) ctx.problems.add(ctx.src.at([...path, stream]), `${stream} must be a plain file name (no "/", not "." or ".."), got ${JSON.stringify(name)}`);
    else if (name !== undefined) tool[stream] = name;
  }
  const outputs = readIdMap(ctx, [...path, 'outputs'], body['outputs'], 'output', 'type');
  tool.outputs = outputs.flatMap((e) => readOutput(ctx, e.path, e.id, e.body, tool) ?? []);
  if (body['successCodes'] !== undefined) {
    const raw = body['successCodes'];
    if (Array.isArray(raw)) tool.successCodes = raw.flatMap((c: unknown, i) => integer(ctx, [...path, 'successCodes', i], c, 'a success code') ?? []);
    else ctx.problems.add(ctx.src.at([...path, 'successCodes']), `successCodes must be a list of exit codes, got ${kindOf(raw)}`);
  }
  if (tool.baseCommand.length === 0 && tool.arguments.length === 0) {
    ctx.problems.add(ctx.src.at(path), 'the tool has neither baseCommand nor arguments: nothing to run');
  }
  return { tool, requirements, declared: outputs.map((e) => e.id) };
}

function readBaseCommand(ctx: Ctx, path: DocPath, raw: unknown): string[] {
  if (raw === undefined) return [];
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list)) {
    ctx.problems.add(ctx.src.at(path), `baseCommand must be a string or a list of strings, got ${kindOf(raw)}`);
    return [];
  }
  // `string | string[]` in CWL, not an Expression: `$(...)` and `${...}` are passed as they are.
  return list.flatMap((part: unknown, i) => plainString(ctx, typeof raw === 'string' ? path : [...path, i], part, 'baseCommand') ?? []);
}

function readArguments(ctx: Ctx, path: DocPath, raw: unknown): ToolArgument[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    ctx.problems.add(ctx.src.at(path), `arguments must be a list, got ${kindOf(raw)}`);
    return [];
  }
  return raw.flatMap((a: unknown, i): ToolArgument[] => {
    const p = [...path, i];
    if (typeof a === 'string') {
      const value = expressionString(ctx, p, a, 'an argument');
      return value === undefined ? [] : [{ position: 0, separate: true, value }];
    }
    if (!isObject(a)) {
      ctx.problems.add(ctx.src.at(p), `an argument must be a string or an object, got ${kindOf(a)}`);
      return [];
    }
    const { valueFrom, ...rest } = a;
    if (valueFrom === undefined) {
      ctx.problems.add(ctx.src.at(p), 'an argument object needs valueFrom (a literal string here)');
      return [];
    }
    const binding = readBinding(ctx, p, rest);
    const value = expressionString(ctx, [...p, 'valueFrom'], valueFrom, 'valueFrom');
    if (!binding || value === undefined) return [];
    if (binding.itemSeparator !== undefined) ctx.problems.add(ctx.src.at([...p, 'itemSeparator']), 'itemSeparator applies to array inputs, not to arguments');
    return [{ position: binding.position, ...(binding.prefix === undefined ? {} : { prefix: binding.prefix }), separate: binding.separate, value }];
  });
}

function readInput(ctx: Ctx, path: DocPath, id: string, body: Json, fileDefault: FileDefault): ToolInput | undefined {
  checkFields(ctx, path, body, `input "${id}"`, ['id', 'type', 'inputBinding', 'default', 'label', 'doc', 'format', 'streamable'], {
    secondaryFiles: 'each file is passed on its own: make the secondary file an input',
    loadContents: 'file contents are not loaded into inputs',
    loadListing: 'Directory inputs are not supported',
  });
  if (body['type'] === undefined) {
    ctx.problems.add(ctx.src.at(path), `input "${id}" needs a type`);
    return undefined;
  }
  const type = readType(ctx, [...path, 'type'], body['type']);
  if (type === undefined || typeof type === 'string') return undefined;
  if (type.depth > 1) {
    ctx.problems.refuse(ctx.src, [...path, 'type'], `the nested array type ${typeName(type)} of input "${id}"`, 'tool inputs are scalars or arrays of scalars');
    return undefined;
  }
  const format = readInputFormat(ctx, [...path, 'format'], body['format'], type);
  const input: ToolInput = { id, type: format ? { ...type, format } : type };
  if (body['inputBinding'] !== undefined) {
    const binding = readBinding(ctx, [...path, 'inputBinding'], body['inputBinding']);
    if (binding) input.binding = binding;
  }
  if (body['default'] !== undefined) {
    const mismatch = typeMismatch(body['default'], type);
    if (mismatch) ctx.problems.add(ctx.src.at([...path, 'default']), `default of input "${id}": ${mismatch}`);
    else input.default = fileDefault(body['default'], [...path, 'default']);
  }
  return input;
}

function readOutput(ctx: Ctx, path: DocPath, id: string, body: Json, tool: ToolSpec): ToolOutput | undefined {
  checkFields(ctx, path, body, `output "${id}"`, ['id', 'type', 'outputBinding', 'label', 'doc', 'format', 'streamable'], {
    secondaryFiles: 'each file is passed on its own: make the secondary file an output',
  });
  const type = readType(ctx, [...path, 'type'], body['type'], true);
  if (type === undefined) return undefined;
  const iri = readOutputFormat(ctx, [...path, 'format'], body['format']);
  const format = iri === undefined ? {} : { format: iri };
  if (type === 'stdout' || type === 'stderr') {
    if (body['outputBinding'] !== undefined) ctx.problems.add(ctx.src.at([...path, 'outputBinding'], true), `output "${id}" of type ${type} takes no outputBinding`);
    // Without a name the runner captures the stream to a random hidden file (`.stdout-<random>`),
    // as CWL makes a random name: one no glob of the tool's outputs matches by accident.
    return { id, type: { base: 'File', depth: 0, optional: false }, ...format, stream: type };
  }
  if (type.base !== 'File' || type.depth > 1) {
    ctx.problems.refuse(ctx.src, [...path, 'type'], `the output type ${typeName(type)} of output "${id}"`, 'outputs are File, File? or File[] collected by glob; other types need outputEval');
    return undefined;
  }
  const ob = body['outputBinding'];
  if (!isObject(ob)) {
    ctx.problems.add(ctx.src.at(path), `output "${id}" needs outputBinding: {glob: ...}`);
    return undefined;
  }
  checkFields(ctx, [...path, 'outputBinding'], ob, 'outputBinding', ['glob'], {
    outputEval: 'outputs are the files found by glob, not computed',
    loadContents: 'file contents are not loaded into outputs',
    loadListing: 'Directory outputs are not supported',
  });
  const raw = ob['glob'];
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list) || list.length === 0) {
    ctx.problems.add(ctx.src.at([...path, 'outputBinding', 'glob']), `glob must be a pattern or a non-empty list of patterns, got ${kindOf(raw)}`);
    return undefined;
  }
  const glob = list.flatMap((g: unknown, i) => {
    const p = typeof raw === 'string' ? [...path, 'outputBinding', 'glob'] : [...path, 'outputBinding', 'glob', i];
    const pattern = expressionString(ctx, p, g, 'glob');
    if (pattern === undefined) return [];
    if (!safeGlob(pattern)) {
      ctx.problems.refuse(ctx.src, p, `the glob pattern ${JSON.stringify(pattern)}`, 'patterns are relative, without "..", "**" or "{...}"; use *, ? and [...] within path segments');
      return [];
    }
    const unknown = unknownClasses(pattern);
    if (unknown.length > 0) {
      const names = unknown.map((c) => `[:${c}:]`).join(', ');
      ctx.problems.add(ctx.src.at(p), `glob ${JSON.stringify(pattern)}: unknown character class ${names} (it would match no file): one of ${CLASS_NAMES.map((c) => `[:${c}:]`).join(', ')}`);
      return [];
    }
    return [pattern];
  });
  return glob.length === list.length ? { id, type, ...format, glob } : undefined;
}

function plainFileName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

function safeGlob(pattern: string): boolean {
  if (pattern === '' || pattern.startsWith('/') || /[{}]/.test(pattern) || pattern.includes('\0')) return false;
  return pattern.split('/').every((seg) => seg !== '..' && seg !== '**' && seg !== '');
}
