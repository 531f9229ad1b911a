/**
 * CWL `requirements` and `hints` of a workflow, a step or a tool. Requirements joinflow cannot
 * honour are refused; hints it cannot honour are ignored (CWL allows that) and noted.
 */
import type { DocPath } from './source.ts';
import { checkFields, integer, isObject, kindOf, literalString, type Ctx, type Json } from './fields.ts';

/** What the requirements of one level say; the most specific level wins, field by field. */
export type Requirements = {
  /** DockerRequirement.dockerPull: the container image of the step on AWS Batch. */
  image?: string;
  /** ResourceRequirement coresMin (else coresMax). */
  cores?: number;
  /** ResourceRequirement ramMin (else ramMax), in MiB. */
  ramMb?: number;
  /** EnvVarRequirement. */
  env?: Record<string, string>;
  /** ToolTimeLimit, in seconds (0: none). */
  timeLimitS?: number;
};

/** Requirements that only enable constructs which are checked (and refused) where they are used. */
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
 * Reads `requirements` and `hints` of the object at `path`. `notes` receives what was accepted
 * without effect or ignored, with its position.
 */
export function readRequirements(ctx: Ctx, path: DocPath, body: Json, notes: string[]): Requirements {
  const out: Requirements = {};
  // Hints first, so that requirements of the same level override them.
  for (const kind of ['hints', 'requirements'] as const) {
    for (const { cls, path: p, at, body: r } of classEntries(ctx, [...path, kind], body[kind])) {
      readOne(ctx, p, at, cls, r, kind === 'hints', out, notes);
    }
  }
  return out;
}

/** `more` over `less`, field by field (a tool's own requirements over its step's and workflow's). */
export function mergeRequirements(less: Requirements, more: Requirements): Requirements {
  const env = less.env || more.env ? { ...less.env, ...more.env } : undefined;
  return { ...less, ...more, ...(env ? { env } : {}) };
}

function readOne(ctx: Ctx, p: DocPath, at: DocPath, cls: string, r: Json, hint: boolean, out: Requirements, notes: string[]): void {
  const where = ctx.src.at(at, true);
  if (ENABLING.includes(cls)) return;
  if (NO_EFFECT[cls] !== undefined) {
    notes.push(`${where}: ${cls} has no effect (${NO_EFFECT[cls]})`);
    return;
  }
  // A hint that cannot be honoured may be ignored (CWL v1.2, "Requirements and hints").
  const problems = hint ? ctx.problems.list.length : -1;
  switch (cls) {
    case 'DockerRequirement': {
      checkFields(ctx, p, r, 'DockerRequirement', ['class', 'dockerPull'], {
        dockerLoad: 'images are pulled by name on AWS Batch: use dockerPull',
        dockerFile: 'images are pulled by name on AWS Batch: use dockerPull',
        dockerImport: 'images are pulled by name on AWS Batch: use dockerPull',
        dockerImageId: 'images are pulled by name on AWS Batch: use dockerPull',
        dockerOutputDirectory: 'outputs are collected from the working directory',
      });
      if (r['dockerPull'] === undefined) break;
      const image = literalString(ctx, [...p, 'dockerPull'], r['dockerPull'], 'dockerPull');
      if (image !== undefined) {
        out.image = image;
        notes.push(`${where}: DockerRequirement ${image}: the image of the step's AWS Batch job (--executor batch); locally the command runs on this machine`);
      }
      break;
    }
    case 'ResourceRequirement': {
      checkFields(ctx, p, r, 'ResourceRequirement', ['class', 'coresMin', 'coresMax', 'ramMin', 'ramMax', 'tmpdirMin', 'tmpdirMax', 'outdirMin', 'outdirMax']);
      const cores = r['coresMin'] ?? r['coresMax'];
      const coresKey = r['coresMin'] !== undefined ? 'coresMin' : 'coresMax';
      if (cores !== undefined) out.cores = positive(ctx, [...p, coresKey], cores, coresKey, false);
      const ram = r['ramMin'] ?? r['ramMax'];
      const ramKey = r['ramMin'] !== undefined ? 'ramMin' : 'ramMax';
      if (ram !== undefined) out.ramMb = positive(ctx, [...p, ramKey], ram, ramKey, true);
      if (['tmpdirMin', 'tmpdirMax', 'outdirMin', 'outdirMax'].some((k) => r[k] !== undefined)) {
        notes.push(`${where}: ResourceRequirement tmpdir/outdir sizes have no effect (disk is not reserved)`);
      }
      break;
    }
    case 'EnvVarRequirement': {
      checkFields(ctx, p, r, 'EnvVarRequirement', ['class', 'envDef']);
      out.env = { ...out.env, ...readEnvDef(ctx, [...p, 'envDef'], r['envDef']) };
      break;
    }
    case 'ToolTimeLimit': {
      checkFields(ctx, p, r, 'ToolTimeLimit', ['class', 'timelimit']);
      const limit = integer(ctx, [...p, 'timelimit'], r['timelimit'], 'timelimit');
      if (limit !== undefined && limit < 0) ctx.problems.add(ctx.src.at([...p, 'timelimit']), 'timelimit must be 0 (no limit) or more seconds');
      else if (limit !== undefined) out.timeLimitS = limit;
      break;
    }
    default:
      if (hint) notes.push(`${where}: hint ${cls} ignored (${WHY_NOT[cls] ?? 'not supported'})`);
      else ctx.problems.refuse(ctx.src, at, cls, WHY_NOT[cls] ?? 'joinflow does not know this requirement');
      return;
  }
  if (hint && ctx.problems.list.length > problems) {
    // An unusable hint is dropped whole rather than failing the import.
    const dropped = ctx.problems.list.splice(problems);
    notes.push(...dropped.map((d) => `${d.path}: hint ignored: ${d.message}`));
  }
}

function positive(ctx: Ctx, p: DocPath, raw: unknown, what: string, whole: boolean): number | undefined {
  if (typeof raw === 'number' && Number.isFinite(raw) && raw > 0) return whole ? Math.ceil(raw) : raw;
  if (typeof raw === 'string' && /\$[({]/.test(raw)) ctx.problems.refuse(ctx.src, p, `the expression in ${what}`, 'expressions are not evaluated: use a number');
  else ctx.problems.add(ctx.src.at(p), `${what} must be a positive number, got ${kindOf(raw)}`);
  return undefined;
}

function readEnvDef(ctx: Ctx, p: DocPath, raw: unknown): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (name: unknown, value: unknown, at: DocPath): void => {
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      ctx.problems.add(ctx.src.at(at), `envDef needs a variable name of letters, digits and "_", got ${kindOf(name)}`);
      return;
    }
    const v = literalString(ctx, at, value, `envDef ${name}`);
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
