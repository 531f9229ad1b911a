/**
 * Runs one imported CWL step (`joinflow cwl-tool <spec>`): resolves the step's values from the
 * step event, builds the command line, runs the tool without a shell in a fresh working
 * directory of its own, and collects its output files. Also outputs a scatter's array and the
 * workflow outputs. The result is what the step prints as its JSON output line.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCommandLine } from '../../importers/cwl/command-line.ts';
import type { RunnerSpec, ToolSpec, ValueSpec } from '../../importers/cwl/spec.ts';
import { expandIri, formatMismatch } from '../../importers/cwl/formats.ts';
import { dict, localPathOf, mapFiles, own, typeMismatch } from '../../importers/cwl/values.ts';
import { JoinflowError } from '../../model/errors.ts';
import type { StepEvent } from '../../model/workflow.ts';
import { globFiles } from './cwl-glob.ts';
import { shellQuote } from './shell-quote.ts';

/** A File value as the runner outputs it. */
export type CwlFile = { class: 'File'; path: string; basename: string; size: number; format?: string };

/** Where a step runs: the task identity and the directories. */
export type CwlRunContext = {
  event: StepEvent;
  /** Relative File paths (run input, defaults) resolve against this: the workflow file's directory. */
  baseDir: string;
  /** The run's working directories go to `<runDir>/<step>[.<item>].<attempt>` (relative: to baseDir). */
  runDir: string;
  runId: string;
  step: string;
  item?: number;
  attempt: number;
  /** The environment the tool's PATH and the step's identity (JOINFLOW_RUN_ID, ...) come from. */
  env: NodeJS.ProcessEnv;
  /** Where progress lines go (the command line that runs). */
  log: (line: string) => void;
};

/** A step that cannot run or whose tool failed; its message names the step and the problem. */
export class CwlStepError extends JoinflowError {
  constructor(message: string) {
    super('CWL_STEP', message);
  }
}

/**
 * The variables that identify the task of a process step: the engine finds a step's leftover
 * processes by them (timeout, cancel; see orphans.ts), so the tool inherits them.
 */
const IDENTITY_VARS = ['JOINFLOW_WORKFLOW', 'JOINFLOW_RUN_ID', 'JOINFLOW_STEP', 'JOINFLOW_ATTEMPT', 'JOINFLOW_ITEM'];

/** Runs one spec and returns the step's output. */
export async function runCwlSpec(spec: RunnerSpec, runCtx: CwlRunContext): Promise<unknown> {
  const ctx: Ctx = { ...runCtx, namespaces: spec.namespaces ?? {} };
  for (const [id, value] of Object.entries(spec.check ?? {})) resolveValue(value, `workflow input "${id}"`, ctx);
  switch (spec.kind) {
    case 'items': {
      const items = resolveValue(spec.value, 'the scattered array', ctx);
      return items ?? [];
    }
    case 'outputs':
      return Object.fromEntries(Object.entries(spec.outputs).map(([id, v]) => [id, resolveValue(v, `workflow output "${id}"`, ctx)]));
    case 'tool':
      return runTool(spec.tool, spec.in, ctx);
  }
}

/** The run context and the `$namespaces` that expand a File's format. */
type Ctx = CwlRunContext & { namespaces: Record<string, string> };

async function runTool(tool: ToolSpec, inputs: Record<string, ValueSpec>, ctx: Ctx): Promise<Record<string, unknown>> {
  const values = Object.fromEntries(Object.entries(inputs).map(([id, v]) => [id, resolveValue(v, `input "${id}"`, ctx)]));
  for (const [id, v] of Object.entries(values)) {
    // The OS takes arguments as C strings: Node would throw a TypeError for the whole step.
    const list: unknown[] = Array.isArray(v) ? v : [v];
    const at = list.findIndex((s) => typeof s === 'string' && s.includes('\0'));
    if (at >= 0) throw new CwlStepError(`step "${ctx.step}": input "${id}": ${Array.isArray(v) ? `item ${at}: ` : ''}${JSON.stringify(list[at])} holds a NUL character, which a command-line argument cannot hold`);
  }
  const argv = buildCommandLine(tool, values);
  const [command, ...args] = argv;
  if (command === undefined) throw new CwlStepError(`step "${ctx.step}": the command line is empty`);
  const name = `${ctx.step}${ctx.item === undefined ? '' : `.${ctx.item}`}.${ctx.attempt}`;
  const workdir = path.resolve(ctx.baseDir, ctx.runDir, name);
  // A redelivered task (at-least-once) may find the directory of an earlier try of this attempt.
  rmSync(workdir, { recursive: true, force: true });
  mkdirSync(workdir, { recursive: true });
  ctx.log(`cwl-tool: in ${workdir}: ${argv.map(shellQuote).join(' ')}`);

  // CWL makes a random name for an unnamed stdout/stderr: hidden, so no glob matches it by accident.
  const streams = {
    stdout: tool.stdout ?? (tool.outputs.some((o) => 'stream' in o && o.stream === 'stdout') ? `.stdout-${randomBytes(6).toString('hex')}` : undefined),
    stderr: tool.stderr ?? (tool.outputs.some((o) => 'stream' in o && o.stream === 'stderr') ? `.stderr-${randomBytes(6).toString('hex')}` : undefined),
  };
  const identity = Object.fromEntries(IDENTITY_VARS.flatMap((k) => (ctx.env[k] === undefined ? [] : [[k, ctx.env[k]]])));
  const fds: number[] = [];
  const capture = (file: string | undefined): number | 'inherit' => {
    if (file === undefined) return 'inherit';
    const fd = openSync(path.join(workdir, file), 'w');
    fds.push(fd);
    return fd;
  };
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    const child = spawn(command, args, {
      cwd: workdir,
      // CWL gives tools a clean environment: PATH, HOME and TMPDIR (plus EnvVarRequirement), and
      // joinflow the step's identity, last, so that the engine can always find what is left over.
      env: { PATH: ctx.env['PATH'] ?? '/usr/bin:/bin', HOME: workdir, TMPDIR: tmpdir(), ...tool.env, ...identity },
      stdio: ['ignore', capture(streams.stdout), capture(streams.stderr)],
    });
    exit = await new Promise((resolve, reject) => {
      child.once('error', (error) => reject(new CwlStepError(`step "${ctx.step}": cannot run ${JSON.stringify(command)}: ${error.message}`)));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  // 0 is success too, as for cwltool: successCodes adds codes (only the fail-code lists, which the
  // subset does not take, could take 0 away).
  const success = [...new Set([0, ...tool.successCodes])];
  if (exit.code === null || !success.includes(exit.code)) {
    const how = exit.code === null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    throw new CwlStepError(`step "${ctx.step}": ${command} ${how}${success.length === 1 ? '' : ` (success codes: ${success.join(', ')})`}`);
  }

  const out = dict<unknown>();
  for (const o of tool.outputs) {
    const found = 'stream' in o ? [path.join(workdir, streams[o.stream]!)] : o.glob.flatMap((g) => globFiles(workdir, g));
    const files = [...new Set(found)].map((f) => fileObject(f, o.format));
    if (o.type.depth === 1) out[o.id] = files;
    else if (files.length === 1) out[o.id] = files[0];
    else if (files.length === 0 && o.type.optional) out[o.id] = null;
    else {
      const globs = 'glob' in o ? o.glob.join(', ') : '';
      throw new CwlStepError(`step "${ctx.step}": output "${o.id}" (File${o.type.optional ? '?' : ''}) matched ${files.length} files with ${globs} in ${workdir}${files.length > 1 ? `: ${files.map((f) => f.basename).join(', ')}` : ''}`);
    }
  }
  return out;
}

/**
 * A value from the step event: the ref's value, else the default, then checked against the type
 * and with every File resolved (relative paths against baseDir) and checked to exist.
 */
function resolveValue(spec: ValueSpec, what: string, ctx: Ctx): unknown {
  let value: unknown = null;
  const ref = spec.ref;
  if (ref && 'input' in ref) {
    value = own(ctx.event.input, ref.input) ?? ref.default ?? null;
  } else if (ref && 'step' in ref) {
    const result = own(ctx.event.results, ref.step);
    const pick = (o: unknown): unknown => own(o, ref.output) ?? null;
    value = ref.gather ? (Array.isArray(result) ? result.map(pick) : null) : pick(result);
  } else if (ref && 'item' in ref) {
    value = ctx.event.item ?? null;
  }
  if (value === null && spec.default !== undefined) value = spec.default;
  const mismatch = typeMismatch(value, spec.type);
  if (mismatch && value === null && ref && 'input' in ref) {
    // The usual cause: the run was started without that workflow input.
    const about = what === `workflow input "${ref.input}"` ? '' : `${what}: `;
    throw new CwlStepError(`step "${ctx.step}": ${about}the workflow input "${ref.input}" is missing from the run's input (${mismatch}): give it in --input, e.g. --input @job.json`);
  }
  if (mismatch) throw new CwlStepError(`step "${ctx.step}": ${what}: ${mismatch}`);
  return mapFiles(value, (f) => {
    const given = typeof f.path === 'string' ? f.path : String(f.location);
    let where: string;
    try {
      where = localPathOf(f) ?? given;
    } catch (error) {
      throw new CwlStepError(`step "${ctx.step}": ${what}: ${(error as Error).message}`);
    }
    const abs = path.resolve(ctx.baseDir, where);
    // CWL checks a File's format against the parameter's when both are given.
    const raw = (f as { format?: unknown }).format;
    const format = typeof raw === 'string' ? expandIri(raw, ctx.namespaces) : raw;
    const wrong = formatMismatch(format, spec.type.format);
    if (wrong) throw new CwlStepError(`step "${ctx.step}": ${what}: File ${given}: ${wrong}`);
    try {
      return fileObject(abs, typeof format === 'string' ? format : undefined);
    } catch {
      throw new CwlStepError(`step "${ctx.step}": ${what}: no such file ${abs}${abs === given ? '' : ` (from ${JSON.stringify(given)}, relative to ${ctx.baseDir})`}`);
    }
  });
}

function fileObject(abs: string, format?: string): CwlFile {
  const s = statSync(abs);
  if (!s.isFile()) throw new CwlStepError(`${abs} is not a regular file`);
  return { class: 'File', path: abs, basename: path.basename(abs), size: s.size, ...(format === undefined ? {} : { format }) };
}


