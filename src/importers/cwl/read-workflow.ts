/**
 * Reads a CWL Workflow (or a lone CommandLineTool) and the tools its steps run into a small
 * model: inputs, steps with their tools and sources, outputs. Files are read through the
 * caller's `readFile`, so this stays free of I/O.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFields, isObject, kindOf, literalString, readIdMap, readType, shortId, type Ctx, type Json } from './fields.ts';
import { effectiveRequirements, readRequirements, requireFeature, type LevelRequirements, type Requirements } from './requirements.ts';
import { parseCwlSource, type CwlSource, type DocPath, type Problems } from './source.ts';
import { typeName, type CwlType, type ToolSpec } from './spec.ts';
import { CWL_VERSIONS, METADATA_FIELDS, readTool, refuseSplices, SALAD_REFUSED, type FileDefault, type ReadTool } from './tool.ts';
import { localPathOf, mapFiles, typeMismatch } from './values.ts';
import { expandIri, namespacesOf, readInputFormat } from './formats.ts';

/** Where a step input or a workflow output takes its value from. */
export type Source = { input: string } | { step: string; output: string };

/** A workflow input. */
export type WfInput = { id: string; type: CwlType; default?: unknown };
/** One entry of a step's `in`. */
export type StepIn = { id: string; path: DocPath; source?: Source; default?: unknown };
/** A workflow step with the tool it runs. */
export type WfStep = {
  id: string;
  path: DocPath;
  tool: ToolSpec;
  requirements: Requirements;
  in: StepIn[];
  out: string[];
  scatter?: string;
  description?: string;
};
/** A workflow output. */
export type WfOutput = { id: string; path: DocPath; type: CwlType; source: Source };

/** A CWL workflow as the subset understands it. */
export type CwlWorkflow = {
  src: CwlSource;
  description?: string;
  inputs: WfInput[];
  steps: WfStep[];
  /** Steps that could not be read (their problems are reported): references to them are not. */
  unreadable: string[];
  outputs: WfOutput[];
  /** The document's `$namespaces`, which expand a File's format in the run input. */
  namespaces: Record<string, string>;
};

/** What reading needs from outside. */
export type ReadOptions = {
  /** Reads a file by its path (as given, joined with the including file's directory). */
  readFile: (file: string) => string;
  /** Directory of the workflow that will be written: File defaults are made relative to it (absolute when not given). */
  outDir?: string;
};

/** Reads the document in `file`; undefined when it cannot be read at all (problems say why). */
export function readCwlWorkflow(file: string, text: string, options: ReadOptions, problems: Problems, notes: string[]): CwlWorkflow | undefined {
  const src = parseCwlSource(file, text, problems);
  if (!src) return undefined;
  const ctx: Ctx = { src, problems };
  const body = src.value;
  if (!isObject(body)) {
    problems.add(src.at([]), `a CWL document must be an object, got ${kindOf(body)}`);
    return undefined;
  }
  if (refuseSplices(ctx, body)) return undefined;
  checkVersion(ctx, body, true);
  noteSchemas(ctx, body, notes);
  const fileDefault = relocator(ctx, file, options.outDir);
  if (body['class'] === 'CommandLineTool') return toolAsWorkflow(ctx, body, notes, fileDefault);
  // A packed ($graph) document has no class of its own: name what it is.
  const salad = body['class'] === undefined ? Object.keys(SALAD_REFUSED).find((k) => Object.hasOwn(body, k)) : undefined;
  if (salad !== undefined) {
    ctx.problems.refuse(ctx.src, [salad], salad, SALAD_REFUSED[salad]!);
    return undefined;
  }
  if (body['class'] !== 'Workflow') {
    refuseClass(ctx, [], body['class'], 'import a Workflow or a CommandLineTool');
    return undefined;
  }
  checkFields(ctx, [], body, 'Workflow', ['class', 'cwlVersion', ...METADATA_FIELDS, 'inputs', 'outputs', 'steps', 'requirements', 'hints'], SALAD_REFUSED);
  const wfRequirements = readRequirements(ctx, [], body, notes);
  // `id: main` makes `#main/x` the full id of input `x` and `#main/s/o` that of output `o` of step `s`.
  const wfId = typeof body['id'] === 'string' ? body['id'].slice(body['id'].indexOf('#') + 1) : undefined;
  const inputs = readIdMap(ctx, ['inputs'], body['inputs'], 'input', 'type').flatMap((e) => readWfInput(ctx, e.path, e.id, e.body, fileDefault) ?? []);
  const tools = new Map<string, ReadTool | undefined>();
  const unreadable: string[] = [];
  const rawSteps = body['steps'];
  if (rawSteps === undefined || rawSteps === null || (Array.isArray(rawSteps) && rawSteps.length === 0) || (isObject(rawSteps) && Object.keys(rawSteps).length === 0)) {
    // `joinflow run` refuses a workflow of no steps: say so here, where the CWL file can be fixed.
    ctx.problems.add(ctx.src.at(rawSteps === undefined ? [] : ['steps'], true), `a workflow needs at least one step: ${rawSteps === undefined ? 'it has no "steps"' : '"steps" is empty'}`);
  }
  const steps = readIdMap(ctx, ['steps'], rawSteps, 'step').flatMap((e) => {
    const before = ctx.problems.list.length;
    const step = readStep(ctx, e.path, e.id, e.body, { ...options, file, tools, notes, wfRequirements, ...(wfId ? { wfId } : {}) });
    // A step with a problem of its own is left out of the checks between steps, which would
    // only report what follows from that problem (a refused scatter, say, as type mismatches).
    if (step && ctx.problems.list.length === before) return step;
    unreadable.push(e.id);
    return [];
  });
  const outputs = readIdMap(ctx, ['outputs'], body['outputs'], 'output', 'type').flatMap((e) => readWfOutput(ctx, e.path, e.id, e.body, wfId) ?? []);
  const description = describe(body);
  return { src, ...(description ? { description } : {}), inputs, steps, unreadable, outputs, namespaces: namespacesOf(body) };
}

/** Formats are compared exactly: say so where a document names an ontology that would relate them. */
function noteSchemas(ctx: Ctx, body: Json, notes: string[]): void {
  if (body['$schemas'] === undefined) return;
  notes.push(`${ctx.src.at(['$schemas'], true)}: $schemas: the ontology is not read: a File's format must be one that its input lists, exactly (a subclass or an equivalent class of it is refused)`);
}

function checkVersion(ctx: Ctx, body: Json, required: boolean): void {
  const v = body['cwlVersion'];
  if (v === undefined && !required) return;
  if (typeof v !== 'string' || !CWL_VERSIONS.includes(v)) {
    const what = v === undefined ? 'a document without cwlVersion' : `cwlVersion ${JSON.stringify(v)}`;
    ctx.problems.refuse(ctx.src, v === undefined ? [] : ['cwlVersion'], what, `the subset reads ${CWL_VERSIONS.join(', ')}`);
  }
}

function refuseClass(ctx: Ctx, path: DocPath, cls: unknown, hint: string): void {
  const why = cls === 'Workflow' ? 'steps must run CommandLineTools, not nested workflows' : cls === 'ExpressionTool' || cls === 'Operation' ? `${cls === 'ExpressionTool' ? 'an' : 'a'} ${String(cls)} evaluates JavaScript or runs nothing; ${hint}` : hint;
  ctx.problems.refuse(ctx.src, [...path, 'class'], typeof cls === 'string' ? `class ${cls}` : 'a process without a class', why);
}

function readWfInput(ctx: Ctx, p: DocPath, id: string, body: Json, fileDefault: FileDefault): WfInput | undefined {
  checkFields(ctx, p, body, `workflow input "${id}"`, ['id', 'type', 'default', 'label', 'doc', 'format', 'streamable'], {
    secondaryFiles: 'each file is passed on its own: make the secondary file an input',
    inputBinding: 'workflow inputs are not on a command line; bind them in the tool',
    loadContents: 'file contents are not loaded into inputs',
    loadListing: 'Directory inputs are not supported',
  });
  const type = readType(ctx, [...p, 'type'], body['type']);
  if (type === undefined || typeof type === 'string') return undefined;
  if (type.depth > 1) {
    ctx.problems.refuse(ctx.src, [...p, 'type'], `the nested array type ${typeName(type)} of input "${id}"`, 'inputs are scalars or arrays of scalars');
    return undefined;
  }
  const format = readInputFormat(ctx, [...p, 'format'], body['format'], type);
  const typed = format ? { ...type, format } : type;
  if (body['default'] === undefined) return { id, type: typed };
  const mismatch = typeMismatch(body['default'], type);
  if (mismatch) ctx.problems.add(ctx.src.at([...p, 'default']), `default of input "${id}": ${mismatch}`);
  return { id, type: typed, default: fileDefault(body['default'], [...p, 'default']) };
}

type StepContext = ReadOptions & { file: string; tools: Map<string, ReadTool | undefined>; notes: string[]; wfRequirements: LevelRequirements; wfId?: string };

function readStep(ctx: Ctx, p: DocPath, id: string, body: Json, sc: StepContext): WfStep | undefined {
  checkFields(ctx, p, body, `step "${id}"`, ['id', 'in', 'out', 'run', 'scatter', 'scatterMethod', 'requirements', 'hints', 'label', 'doc'], {
    when: 'conditional steps are not supported: every step runs',
  });
  const stepRequirements = readRequirements(ctx, p, body, sc.notes);
  const tool = loadRun(ctx, [...p, 'run'], body['run'], sc);
  const ins = readIdMap(ctx, [...p, 'in'], body['in'], 'step input', 'source').map((e): StepIn => {
    checkFields(ctx, e.path, e.body, `step input "${e.id}"`, ['id', 'source', 'default', 'label'], {
      valueFrom: 'values are passed as they are; valueFrom needs expressions',
      linkMerge: 'an input has one source',
      pickValue: 'an input has one source',
      loadContents: 'file contents are not loaded into inputs',
      loadListing: 'Directory inputs are not supported',
    });
    const source = readSource(ctx, [...e.path, 'source'], e.body['source'], sc.wfId, 'step input');
    const fallback = e.body['default'] === undefined ? {} : { default: relocator(ctx, sc.file, sc.outDir)(e.body['default'], [...e.path, 'default']) };
    return { id: e.id, path: e.path, ...(source ? { source } : {}), ...fallback };
  });
  const outs = readOut(ctx, [...p, 'out'], body['out']);
  const out = outs.map((o) => o.id);
  let scatter: string | undefined;
  if (body['scatter'] !== undefined) {
    const raw = body['scatter'];
    const list = Array.isArray(raw) ? raw : [raw];
    if (list.length !== 1) {
      ctx.problems.refuse(ctx.src, [...p, 'scatter'], `scatter over ${list.length} inputs`, 'a step scatters over exactly one input: a dynamic fan-out over one array');
    } else {
      const name = literalString(ctx, [...p, 'scatter'], list[0], 'scatter');
      if (name !== undefined) scatter = shortId(name);
      if (scatter !== undefined && !ins.some((i) => i.id === scatter)) {
        ctx.problems.add(ctx.src.at([...p, 'scatter']), `scatter names "${scatter}", which is not in the step's "in"`);
      }
    }
  }
  // CWL v1.2 (WorkflowStep, "Scatter/gather"): scatter needs the feature declared.
  if (body['scatter'] !== undefined) requireFeature(ctx, [...p, 'scatter'], `step "${id}": scatter`, 'ScatterFeatureRequirement', [stepRequirements, sc.wfRequirements], tool?.requirements);
  const method = body['scatterMethod'];
  if (method !== undefined && body['scatter'] === undefined) {
    ctx.problems.add(ctx.src.at([...p, 'scatterMethod'], true), 'scatterMethod without scatter');
  } else if (method !== undefined && !['dotproduct', 'nested_crossproduct', 'flat_crossproduct'].includes(method as string)) {
    // With one scattered input the three methods agree; anything else is a typo.
    ctx.problems.add(ctx.src.at([...p, 'scatterMethod']), `scatterMethod must be dotproduct, nested_crossproduct or flat_crossproduct, got ${kindOf(method)}`);
  }
  if (!tool) return undefined;
  // An output the tool declares but that was refused is reported there, not here again.
  const toolOutputs = tool.declared;
  for (const o of outs) {
    if (!toolOutputs.includes(o.id)) ctx.problems.add(ctx.src.at(o.path), `step "${id}": out "${o.id}" is not an output of the tool it runs${toolOutputs.length === 0 ? ' (it has no outputs)' : ` (its outputs: ${toolOutputs.join(', ')})`}`);
  }
  const description = describe(body) ?? tool.description;
  return {
    id, path: p, tool: tool.tool,
    requirements: effectiveRequirements([tool.requirements, stepRequirements, sc.wfRequirements]),
    in: ins, out,
    ...(scatter === undefined ? {} : { scatter }),
    ...(description === undefined ? {} : { description }),
  };
}

/** `run:` a .cwl path (relative to the workflow's file, absolute, or a file:// URL; %-decoded) or an inline CommandLineTool. */
function loadRun(ctx: Ctx, p: DocPath, raw: unknown, sc: StepContext): (ReadTool & { description?: string }) | undefined {
  if (isObject(raw)) {
    if (raw['class'] !== 'CommandLineTool') return void refuseClass(ctx, p, raw['class'], 'steps run CommandLineTools');
    checkVersion(ctx, raw, false);
    return withDescription(readTool(ctx, p, raw, sc.notes, relocator(ctx, sc.file, sc.outDir)), raw);
  }
  if (typeof raw !== 'string') {
    ctx.problems.add(ctx.src.at(p), `run must be a path to a .cwl file or an inline CommandLineTool, got ${kindOf(raw)}`);
    return undefined;
  }
  const url = /^file:\/\//i.test(raw);
  if (raw.includes('#') || (!url && /^[a-z][a-z0-9+.-]*:\/\//i.test(raw))) {
    ctx.problems.refuse(ctx.src, p, `run: ${JSON.stringify(raw)}`, 'run names a local .cwl file by path or file:// URL, without a #fragment');
    return undefined;
  }
  let target = raw;
  try {
    // run is an IRI reference, as a File's location: a relative one is %-decoded (`my%20tools/x.cwl`).
    target = url ? fileURLToPath(raw) : decodeURIComponent(raw);
  } catch (error) {
    ctx.problems.add(ctx.src.at(p), url
      ? `run: ${JSON.stringify(raw)} is not a local file URL: ${(error as Error).message}`
      : `run: ${JSON.stringify(raw)} has a malformed %-escape (write "%25" for a literal "%")`);
    return undefined;
  }
  const file = path.isAbsolute(target) ? path.normalize(target) : path.normalize(path.join(path.dirname(sc.file), target));
  if (sc.tools.has(file)) return sc.tools.get(file);
  let text: string;
  try {
    text = sc.readFile(file);
  } catch (error) {
    ctx.problems.add(ctx.src.at(p), `cannot read ${file}: ${(error as Error).message}`);
    sc.tools.set(file, undefined);
    return undefined;
  }
  const src = parseCwlSource(file, text, ctx.problems);
  let tool: ReadTool | undefined;
  if (src) {
    const tctx: Ctx = { src, problems: ctx.problems };
    const body = src.value;
    if (!isObject(body)) ctx.problems.add(src.at([]), `a CWL document must be an object, got ${kindOf(body)}`);
    else if (refuseSplices(tctx, body)) tool = undefined;
    else if (body['class'] !== 'CommandLineTool') refuseClass(tctx, [], body['class'], 'steps run CommandLineTools');
    else {
      checkVersion(tctx, body, true);
      noteSchemas(tctx, body, sc.notes);
      tool = withDescription(readTool(tctx, [], body, sc.notes, relocator(tctx, file, sc.outDir)), body);
    }
  }
  sc.tools.set(file, tool);
  return tool;
}

function withDescription(tool: ReadTool, body: Json): ReadTool & { description?: string } {
  const d = describe(body);
  return d === undefined ? tool : { ...tool, description: d };
}

/**
 * `x` (a workflow input) or `step/output`, also as full ids (`#main/x`, `#main/step/output`
 * in a workflow with `id: main`); a list of one source is the same as that source.
 */
function readSource(ctx: Ctx, p: DocPath, raw: unknown, wfId: string | undefined, taker: 'step input' | 'workflow output'): Source | undefined {
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) {
    if (raw.length !== 1) {
      ctx.problems.refuse(ctx.src, p, `a list of ${raw.length} sources`, `each ${taker} takes one source; MultipleInputFeatureRequirement merges are not supported`);
      return undefined;
    }
    return readSource(ctx, [...p, 0], raw[0], wfId, taker);
  }
  const text = literalString(ctx, p, raw, 'source');
  if (text === undefined) return undefined;
  let local = text.includes('#') ? text.slice(text.indexOf('#') + 1) : text;
  if (wfId !== undefined && wfId !== '' && local.startsWith(`${wfId}/`)) local = local.slice(wfId.length + 1);
  const parts = local.split('/');
  if (parts.length === 1 && parts[0] !== '') return { input: parts[0]! };
  // `main/step/out` in packed documents: the last two parts name the step and its output.
  if (parts.length >= 2 && parts.every((s) => s !== '')) return { step: parts.at(-2)!, output: parts.at(-1)! };
  ctx.problems.add(ctx.src.at(p), `source ${JSON.stringify(text)} must name a workflow input or step/output`);
  return undefined;
}

function readOut(ctx: Ctx, p: DocPath, raw: unknown): Array<{ id: string; path: DocPath }> {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    ctx.problems.add(ctx.src.at(p), `out must be a list of output ids, got ${kindOf(raw)}`);
    return [];
  }
  return raw.flatMap((o: unknown, i) => {
    const id = isObject(o) ? o['id'] : o;
    if (typeof id === 'string' && id !== '') return [{ id: shortId(id), path: [...p, i] }];
    ctx.problems.add(ctx.src.at([...p, i]), `an out entry must be an output id, got ${kindOf(o)}`);
    return [];
  });
}

function readWfOutput(ctx: Ctx, p: DocPath, id: string, body: Json, wfId: string | undefined): WfOutput | undefined {
  checkFields(ctx, p, body, `workflow output "${id}"`, ['id', 'type', 'outputSource', 'label', 'doc', 'format', 'streamable'], {
    linkMerge: 'an output has one source',
    pickValue: 'an output has one source',
    secondaryFiles: 'each file is passed on its own',
    outputBinding: 'workflow outputs come from outputSource',
  });
  const type = readType(ctx, [...p, 'type'], body['type']);
  if (body['outputSource'] === undefined) {
    ctx.problems.add(ctx.src.at(p), `workflow output "${id}" needs an outputSource`);
    return undefined;
  }
  const source = readSource(ctx, [...p, 'outputSource'], body['outputSource'], wfId, 'workflow output');
  if (type === undefined || typeof type === 'string' || !source) return undefined;
  return { id, path: p, type, source };
}

/** A lone CommandLineTool runs as a workflow of one step named after nothing but "tool". */
function toolAsWorkflow(ctx: Ctx, body: Json, notes: string[], fileDefault: FileDefault): CwlWorkflow {
  const read = readTool(ctx, [], body, notes, fileDefault);
  const inputs: WfInput[] = read.tool.inputs.map((i) => ({ id: i.id, type: i.type, ...(i.default === undefined ? {} : { default: i.default }) }));
  const step: WfStep = {
    id: 'tool', path: [], tool: read.tool, requirements: effectiveRequirements([read.requirements]),
    in: read.tool.inputs.map((i) => ({ id: i.id, path: ['inputs'], source: { input: i.id } })),
    out: read.tool.outputs.map((o) => o.id),
  };
  const outputs: WfOutput[] = read.tool.outputs.map((o) => ({ id: o.id, path: ['outputs'], type: o.type, source: { step: 'tool', output: o.id } }));
  const description = describe(body);
  return { src: ctx.src, ...(description ? { description } : {}), inputs, steps: [step], unreadable: [], outputs, namespaces: namespacesOf(body) };
}

function describe(body: Json): string | undefined {
  const doc = Array.isArray(body['doc']) ? body['doc'].join('\n') : body['doc'];
  const text = typeof body['label'] === 'string' ? body['label'] : typeof doc === 'string' ? doc : undefined;
  return text?.trim() || undefined;
}

/**
 * File defaults are relative to the document they are written in; the runner resolves paths
 * from the written workflow's directory, so they are rewritten relative to that (absolute when
 * that directory is not known: a workflow written to stdout may be saved anywhere).
 */
function relocator(ctx: Ctx, file: string, outDir: string | undefined): FileDefault {
  const docDir = path.resolve(path.dirname(file));
  return (value, at) => mapFiles(value, (f) => {
    let where: string | undefined;
    try {
      where = localPathOf(f);
    } catch (error) {
      ctx.problems.add(ctx.src.at(at), `File default: ${(error as Error).message}`);
      return f;
    }
    if (where === undefined) return f;
    const { location: _l, path: _p, ...rest } = f;
    const abs = path.resolve(docDir, where);
    // A prefixed format is expanded by this document's $namespaces, which the runner does not have.
    const given = (rest as Record<string, unknown>)['format'];
    const format = typeof given === 'string' ? { format: expandIri(given, namespacesOf(ctx.src.value)) } : {};
    return { ...rest, ...format, path: outDir === undefined ? abs : path.relative(path.resolve(outDir), abs) || '.' };
  });
}
