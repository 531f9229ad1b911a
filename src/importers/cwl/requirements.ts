/**
 * CWL `requirements` and `hints` of a workflow, a step or a tool. Requirements joinflow cannot
 * honour are refused; hints it cannot honour are ignored (CWL allows that) and noted.
 *
 * CWL v1.2 ("Requirements and hints"): the most specific instance of a requirement class is
 * used (tool over step over workflow), hints are resolved the same way, and requirements
 * override hints, an enclosing workflow's or step's requirement included. So each level keeps
 * what it requires and what it hints apart, and each class is taken as a whole from one level.
 */
import type { DocPath } from './source.ts';
import { hasReference } from './escapes.ts';
import { checkFields, expressionString, integer, isObject, kindOf, plainString, versionOf, type Ctx, type Json } from './fields.ts';
import { dict } from './values.ts';

/** The requirement classes with an effect, each as one unit (a class is never merged across levels). */
export type ClassValues = {
  /** DockerRequirement: dockerPull, the container image of the step on AWS Batch. */
  docker?: { image?: string };
  /** ResourceRequirement: coresMin (else coresMax) and ramMin (else ramMax, in MiB), together. */
  resources?: { cores?: number; ramMb?: number; at?: string };
  /** EnvVarRequirement: every variable of the one instance used. */
  env?: Record<string, string>;
  /** ToolTimeLimit, in seconds (0: none). */
  timeLimit?: { seconds: number };
};

/**
 * What one level (workflow, step or tool) says, under `requirements` and under `hints`;
 * `features`: the feature requirements ({@link ENABLING}) it names, each with its place.
 */
export type LevelRequirements = { required: ClassValues; hinted: ClassValues; features: { required: Feature[]; hinted: Feature[] } };

/** A feature requirement named at `at` (file:line:col). */
export type Feature = { cls: string; at: string };

/** The effective requirements of a tool run by a step. */
export type Requirements = {
  image?: string;
  cores?: number;
  ramMb?: number;
  /** Where the ResourceRequirement used is (file:line:col), for a problem with its sizes. */
  resourcesAt?: string;
  env?: Record<string, string>;
  /** Seconds; 0 or absent: no limit. */
  timeLimitS?: number;
};

/**
 * The effective requirements from `levels`, most specific first (tool, step, workflow): per
 * class, the most specific `requirements` entry, else the most specific `hints` entry.
 */
export function effectiveRequirements(levels: readonly LevelRequirements[]): Requirements {
  const pick = <K extends keyof ClassValues>(k: K): ClassValues[K] =>
    levels.find((l) => l.required[k] !== undefined)?.required[k] ?? levels.find((l) => l.hinted[k] !== undefined)?.hinted[k];
  const docker = pick('docker');
  const resources = pick('resources');
  const env = pick('env');
  const timeLimit = pick('timeLimit');
  return {
    ...(docker?.image === undefined ? {} : { image: docker.image }),
    ...(resources?.cores === undefined ? {} : { cores: resources.cores }),
    ...(resources?.ramMb === undefined ? {} : { ramMb: resources.ramMb }),
    ...(resources?.at === undefined ? {} : { resourcesAt: resources.at }),
    ...(env === undefined ? {} : { env }),
    ...(timeLimit === undefined ? {} : { timeLimitS: timeLimit.seconds }),
  };
}

/** Requirements that only enable constructs, which are checked (and refused) where they are used. */
const ENABLING = ['InlineJavascriptRequirement', 'ScatterFeatureRequirement', 'StepInputExpressionRequirement', 'MultipleInputFeatureRequirement'];
/** Requirements without effect on a local or Batch run. */
const NO_EFFECT: Record<string, string> = {
  NetworkAccess: 'steps always have network access here',
  WorkReuse: 'joinflow does not cache step results',
};
const WHY_NOT: Record<string, string> = {
  ShellCommandRequirement: 'commands run without a shell',
  InitialWorkDirRequirement: 'the working directory starts empty; pass files as inputs',
  SchemaDefRequirement: 'records and enums are not supported',
  SoftwareRequirement: 'software is not installed for a step; use DockerRequirement for the AWS image',
  SubworkflowFeatureRequirement: 'steps must run CommandLineTools, not nested workflows',
  LoadListingRequirement: 'Directory inputs are not supported',
  InplaceUpdateRequirement: 'inputs are never modified in place',
};

/**
 * Reads `requirements` and `hints` of the object at `path`, kept apart. `notes` receives what
 * was accepted without effect or ignored, with its position.
 */
export function readRequirements(ctx: Ctx, path: DocPath, body: Json, notes: string[]): LevelRequirements {
  const level: LevelRequirements = { required: {}, hinted: {}, features: { required: [], hinted: [] } };
  for (const kind of ['hints', 'requirements'] as const) {
    for (const { cls, path: p, at, body: r } of classEntries(ctx, [...path, kind], body[kind])) {
      if (ENABLING.includes(cls)) level.features[kind === 'hints' ? 'hinted' : 'required'].push({ cls, at: ctx.src.at(at, true) });
      readOne(ctx, p, at, cls, r, kind === 'hints', kind === 'hints' ? level.hinted : level.required, notes);
    }
  }
  return level;
}

function readOne(ctx: Ctx, p: DocPath, at: DocPath, cls: string, r: Json, hint: boolean, into: ClassValues, notes: string[]): void {
  const where = ctx.src.at(at, true);
  if (ENABLING.includes(cls)) return;
  if (Object.hasOwn(NO_EFFECT, cls)) {
    notes.push(`${where}: ${cls} has no effect (${NO_EFFECT[cls]})`);
    return;
  }
  // A hint that cannot be honoured may be ignored (CWL v1.2, "Requirements and hints").
  const problems = ctx.problems.list.length;
  // Read into a fresh object: a hint with a problem is dropped whole, not half applied.
  const out: ClassValues = {};
  switch (cls) {
    case 'DockerRequirement': {
      checkFields(ctx, p, r, 'DockerRequirement', ['class', 'dockerPull'], {
        dockerLoad: 'images are pulled by name on AWS Batch: use dockerPull',
        dockerFile: 'images are pulled by name on AWS Batch: use dockerPull',
        dockerImport: 'images are pulled by name on AWS Batch: use dockerPull',
        dockerImageId: 'images are pulled by name on AWS Batch: use dockerPull',
        dockerOutputDirectory: 'outputs are collected from the working directory',
      });
      out.docker = {};
      if (r['dockerPull'] === undefined) break;
      // dockerPull is a plain string in CWL (not an Expression): "$(" in it is literal.
      const image = plainString(ctx, [...p, 'dockerPull'], r['dockerPull'], 'dockerPull');
      if (image !== undefined) {
        out.docker.image = image;
        notes.push(`${where}: DockerRequirement ${image}: the image of the step's AWS Batch job (--executor batch); locally the command runs on this machine`);
      }
      break;
    }
    case 'ResourceRequirement': {
      checkFields(ctx, p, r, 'ResourceRequirement', ['class', 'coresMin', 'coresMax', 'ramMin', 'ramMax', 'tmpdirMin', 'tmpdirMax', 'outdirMin', 'outdirMax']);
      const res: { cores?: number; ramMb?: number; at?: string } = { at: ctx.src.at(p) };
      const cores = r['coresMin'] ?? r['coresMax'];
      const coresKey = r['coresMin'] !== undefined ? 'coresMin' : 'coresMax';
      const c = cores === undefined ? undefined : positive(ctx, [...p, coresKey], cores, coresKey, false);
      if (c !== undefined) res.cores = c;
      const ram = r['ramMin'] ?? r['ramMax'];
      const ramKey = r['ramMin'] !== undefined ? 'ramMin' : 'ramMax';
      const m = ram === undefined ? undefined : positive(ctx, [...p, ramKey], ram, ramKey, true);
      if (m !== undefined) res.ramMb = m;
      out.resources = res;
      if (['tmpdirMin', 'tmpdirMax', 'outdirMin', 'outdirMax'].some((k) => r[k] !== undefined)) {
        notes.push(`${where}: ResourceRequirement tmpdir/outdir sizes have no effect (disk is not reserved)`);
      }
      break;
    }
    case 'EnvVarRequirement': {
      checkFields(ctx, p, r, 'EnvVarRequirement', ['class', 'envDef']);
      out.env = readEnvDef(ctx, [...p, 'envDef'], r['envDef']);
      break;
    }
    case 'ToolTimeLimit': {
      checkFields(ctx, p, r, 'ToolTimeLimit', ['class', 'timelimit']);
      const limit = integer(ctx, [...p, 'timelimit'], r['timelimit'], 'timelimit');
      if (limit !== undefined && limit < 0) ctx.problems.add(ctx.src.at([...p, 'timelimit']), 'timelimit must be 0 (no limit) or more seconds');
      else if (limit !== undefined) out.timeLimit = { seconds: limit };
      break;
    }
    default:
      const why = Object.hasOwn(WHY_NOT, cls) ? WHY_NOT[cls] : undefined;
      if (hint) notes.push(`${where}: hint ${cls} ignored (${why ?? 'not supported'})`);
      else ctx.problems.refuse(ctx.src, at, cls, why ?? 'joinflow does not know this requirement');
      return;
  }
  if (hint && ctx.problems.list.length > problems) {
    // An unusable hint is dropped whole rather than failing the import.
    const dropped = ctx.problems.list.splice(problems);
    notes.push(...dropped.map((d) => `${d.path}: hint ignored: ${d.message}`));
    return;
  }
  // The same class twice at one level and kind: the later entry adds to the earlier one.
  if (out.env) into.env = { ...into.env, ...out.env };
  const { env: _env, ...rest } = out;
  Object.assign(into, rest);
}

/**
 * Reports a construct (`what`, at `at`) used without the feature requirement `cls` that CWL
 * v1.2 demands for it under `requirements` of one of `enclosing` (the step, then the workflow).
 * cwltool refuses such a document too. A hint does not enable the construct, nor does the
 * tool's own requirement (CWL reads the feature from the workflow or the step): either is named.
 */
export function requireFeature(ctx: Ctx, at: DocPath, what: string, cls: string, enclosing: readonly LevelRequirements[], tool?: LevelRequirements): void {
  if (enclosing.some((l) => l.features.required.some((f) => f.cls === cls))) return;
  const hint = enclosing.flatMap((l) => l.features.hinted).find((f) => f.cls === cls);
  const inTool = [...(tool?.features.required ?? []), ...(tool?.features.hinted ?? [])].find((f) => f.cls === cls);
  const aside = hint
    ? ` (it is only a hint at ${hint.at}, and CWL requires it under requirements)`
    : inTool ? ` (the tool's at ${inTool.at} does not count: CWL reads it from the workflow or the step)` : '';
  ctx.problems.add(ctx.src.at(at, true), `${what} needs ${cls}, which neither the workflow nor the step declares${aside}: add ${cls} to the workflow's requirements (requirements: {${cls}: {}}), or to the step's`);
}

function positive(ctx: Ctx, p: DocPath, raw: unknown, what: string, whole: boolean): number | undefined {
  if (typeof raw === 'number' && Number.isFinite(raw) && raw > 0) return whole ? Math.ceil(raw) : raw;
  if (typeof raw === 'string' && hasReference(raw, versionOf(ctx))) ctx.problems.refuse(ctx.src, p, `the expression in ${what}`, 'expressions are not evaluated: use a number');
  else ctx.problems.add(ctx.src.at(p), `${what} must be a positive number, got ${kindOf(raw)}`);
  return undefined;
}

function readEnvDef(ctx: Ctx, p: DocPath, raw: unknown): Record<string, string> {
  const env = dict<string>();
  const set = (name: unknown, value: unknown, at: DocPath): void => {
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      ctx.problems.add(ctx.src.at(at), `envDef needs a variable name of letters, digits and "_", got ${kindOf(name)}`);
      return;
    }
    const v = expressionString(ctx, at, value, `envDef ${name}`);
    if (v !== undefined) env[name] = v;
  };
  if (Array.isArray(raw)) {
    raw.forEach((d: unknown, i) => {
      if (isObject(d)) set(d['envName'], d['envValue'], [...p, i, 'envValue']);
      else ctx.problems.add(ctx.src.at([...p, i]), `an envDef entry must be {envName, envValue}, got ${kindOf(d)}`);
    });
  } else if (isObject(raw)) {
    for (const [name, value] of Object.entries(raw)) set(name, isObject(value) ? value['envValue'] : value, [...p, name]);
  } else {
    ctx.problems.add(ctx.src.at(p), `envDef must be a list or a map, got ${kindOf(raw)}`);
  }
  return env;
}

/** Requirement lists `[{class: X, ...}]` and maps `{X: {...}}` alike. */
type ClassEntry = { cls: string; path: DocPath; at: DocPath; body: Json };

function classEntries(ctx: Ctx, path: DocPath, raw: unknown): ClassEntry[] {
  if (raw === undefined || raw === null) return [];
  if (Array.isArray(raw)) {
    const out: ClassEntry[] = [];
    raw.forEach((r: unknown, i) => {
      if (isObject(r) && typeof r['class'] === 'string') out.push({ cls: r['class'], path: [...path, i], at: [...path, i, 'class'], body: r });
      else ctx.problems.add(ctx.src.at([...path, i]), `a requirement must be an object with a "class", got ${kindOf(r)}`);
    });
    return out;
  }
  if (isObject(raw)) {
    return Object.entries(raw).map(([cls, body]) => ({ cls, path: [...path, cls], at: [...path, cls], body: isObject(body) ? { class: cls, ...body } : { class: cls } }));
  }
  ctx.problems.add(ctx.src.at(path), `requirements must be a list or a map, got ${kindOf(raw)}`);
  return [];
}
