/**
 * The CWL model -> a joinflow workflow. Each CWL step becomes a step that runs `joinflow cwl-tool`
 * with its RunnerSpec; a scatter becomes a forEach (over a small `<step>.scatter` step that
 * outputs the array when the array is not simply another step's output); the workflow outputs
 * are gathered by a final `outputs` step. Pure.
 */
import { findCycle, topoOrder } from '../../compiler/graph.ts';
import { fargateSize } from '../../compiler/placement.ts';
import { STEP_ID_PATTERN, type ExecutorInput, type StepInput, type WorkflowInput } from '../../model/workflow.ts';
import type { CwlWorkflow, Source } from './read-workflow.ts';
import type { Requirements } from './requirements.ts';
import type { Problems } from './source.ts';
import { typeName, type CwlType, type RunnerSpec, type ToolSpec, type ValueRef, type ValueSpec } from './spec.ts';
import { assignable, dict, typeMismatch } from './values.ts';
import { formatsNotTaken } from './formats.ts';

/** How the written steps run. */
export type BuildOptions = {
  name: string;
  /** The local command that runs `joinflow cwl-tool`; the RunnerSpec JSON is appended. */
  runner: { command: string; args: string[] };
  /** `batch`: AWS Batch jobs whose `local` command is the runner; `process`: local only. */
  executor: 'process' | 'batch';
  /** Batch image for steps without DockerRequirement (and the helper steps). */
  image?: string;
};

/** Facts about an import, for the command's summary line. */
export type CwlImportStats = { steps: number; scatters: number; helpers: number; inputs: number; outputs: number };

/**
 * Builds the workflow; problems (unknown sources, type mismatches, cycles) go to `problems`,
 * what is accepted without effect to `notes`.
 */
export function buildWorkflow(wf: CwlWorkflow, options: BuildOptions, problems: Problems, notes: string[] = []): { workflow: WorkflowInput; stats: CwlImportStats } {
  const { src } = wf;
  const byId = new Map(wf.steps.map((s) => [s.id, s]));
  const inputs = new Map(wf.inputs.map((i) => [i.id, i]));
  const taken = new Set(wf.steps.map((s) => s.id));
  const unique = (base: string): string => {
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
    taken.add(id);
    return id;
  };
  const noImage: string[] = [];
  // The steps that run first check the whole run input (see RunnerSpec), so that a missing or
  // mistyped workflow input fails the run before any work, even one no step reads.
  const check = wf.inputs.length === 0 ? undefined : Object.fromEntries(wf.inputs.map((i): [string, ValueSpec] =>
    [i.id, { ref: i.default === undefined ? { input: i.id } : { input: i.id, default: i.default }, type: i.type }]));
  const first = (needs: Iterable<unknown>): { check?: Record<string, ValueSpec> } => (check && [...needs].length === 0 ? { check } : {});

  /**
   * The ref of a source, the type its value has at run time and, for formats, what it is and the
   * formats its Files can have (those a workflow input takes, the one a step output gives), or
   * undefined after a problem.
   */
  const resolve = (source: Source, where: string): Resolved | undefined => {
    if ('input' in source) {
      const input = inputs.get(source.input);
      if (!input) {
        problems.add(where, `unknown workflow input "${source.input}"${known([...inputs.keys()])}`);
        return undefined;
      }
      return {
        ref: input.default === undefined ? { input: input.id } : { input: input.id, default: input.default }, type: input.type,
        what: `workflow input "${input.id}", which takes`, ...(input.type.format ? { formats: input.type.format } : {}),
      };
    }
    const step = byId.get(source.step);
    if (!step && wf.unreadable.includes(source.step)) return undefined;
    if (!step) {
      problems.add(where, `unknown step "${source.step}"${known([...byId.keys()])}`);
      return undefined;
    }
    const output = step.tool.outputs.find((o) => o.id === source.output);
    if (!output || !step.out.includes(source.output)) {
      problems.add(where, `step "${step.id}" has no output "${source.output}" in its out${known(step.out)}`);
      return undefined;
    }
    const gather = step.scatter !== undefined;
    if (gather && output.type.optional && output.type.depth === 0) {
      // The runner gives null for an unmatched File?: gathered, that is a null item of the array.
      problems.add(where, `step "${step.id}" scatters, and its output "${output.id}" is ${typeName(output.type)}: gathered, it is an array whose items can be null, which joinflow's CWL subset does not take (array items cannot be null): make the output File[] (an empty list where nothing matches)`);
      return undefined;
    }
    // A scattered step's outputs are gathered into arrays, in item order.
    const type = gather ? { ...output.type, depth: output.type.depth + 1, optional: false } : output.type;
    return {
      ref: { step: step.id, output: output.id, gather }, type, step: step.id,
      what: `step "${step.id}" output "${output.id}", which gives`, ...(output.format ? { formats: [output.format] } : {}),
    };
  };

  const steps: Record<string, StepInput> = {};
  const cwlNeeds = new Map<string, string[]>();
  let scatters = 0;
  let helpers = 0;
  // `<step>.<n>` names item n's files (logs, working directory) of a scattered step: no other step may be called so.
  const scattered = new Set(wf.steps.filter((s) => s.scatter !== undefined).map((s) => s.id));
  for (const step of wf.steps) {
    if (!STEP_ID_PATTERN.test(step.id)) {
      problems.add(src.at(step.path, true), `step id "${step.id}" must be 1-200 ASCII letters, digits, "_", ".", ":" or "-", not starting with "." ":" or "-"`);
    } else if (step.id === '__proto__') {
      problems.add(src.at(step.path, true), 'step id "__proto__" cannot be a step\'s name in joinflow: rename the step');
    } else {
      const item = /^(.*)\.\d+$/.exec(step.id);
      if (item && scattered.has(item[1]!)) {
        problems.add(src.at(step.path, true), `step id "${step.id}" would share its files (logs, working directory) with item ${step.id.slice(item[1]!.length + 1)} of the scattered step "${item[1]}": rename one of them`);
      }
    }
    const toolInputs = new Map(step.tool.inputs.map((i) => [i.id, i]));
    const values = dict<ValueSpec>();
    const needs = new Set<string>();
    /** Every step this one takes a value from, the scattered array's included: for the cycle check. */
    const deps = new Set<string>();
    let scatterSource: Resolved | undefined;
    let scatterDefault: unknown;
    for (const entry of step.in) {
      const ti = toolInputs.get(entry.id);
      if (!ti) {
        // Valid CWL: the value would only serve valueFrom expressions (not in the subset), so it is
        // not passed; its source must still exist, and the step still waits for it.
        const resolved = entry.source ? resolve(entry.source, src.at([...entry.path, 'source'])) : undefined;
        if (resolved?.step) {
          needs.add(resolved.step);
          deps.add(resolved.step);
        }
        notes.push(`${src.at(entry.path, true)}: step "${step.id}": "${entry.id}" is not an input of the tool it runs${known([...toolInputs.keys()])}: its value is not passed to the tool`);
        continue;
      }
      const scattered = step.scatter === entry.id;
      // The scattered input receives one item of an array: the array has one more level.
      const expected = scattered ? { ...ti.type, depth: ti.type.depth + 1, optional: false } : ti.type;
      const at = src.at([...entry.path, 'source']);
      const resolved = entry.source ? resolve(entry.source, at) : undefined;
      if (resolved && !assignable(resolved.type, expected)) {
        problems.add(at, `step "${step.id}" input "${entry.id}" expects ${typeName(expected)}${scattered ? ' (scattered)' : ''}, but its source has type ${typeName(resolved.type)}`);
      }
      // A valid document (CWL and cwltool check formats on the Files, at run time; an ontology
      // could relate the two), so a note, not a problem: but here such a File fails the step.
      const untaken = formatsNotTaken(resolved?.formats, ti.type.format);
      if (resolved && untaken.length > 0) {
        notes.push(`${at}: step "${step.id}" input "${entry.id}" takes Files of format ${ti.type.format!.join(', ')}; its source is ${resolved.what} Files of format ${untaken.join(', ')}${untaken.length < resolved.formats!.length ? ' (besides ones the input takes)' : ''}: such a File fails the step when it runs (formats are compared exactly: the ontology of $schemas is not read)`);
      }
      if (entry.default !== undefined) {
        const mismatch = typeMismatch(entry.default, expected);
        if (mismatch) problems.add(src.at([...entry.path, 'default']), `default of step input "${entry.id}": ${mismatch}`);
      }
      // The scattered array reaches the step through forEach, never in `results`: a step that
      // needed it too would receive the whole array in every item's event (O(N^2) for N items).
      if (resolved?.step && !scattered) needs.add(resolved.step);
      if (resolved?.step) deps.add(resolved.step);
      if (scattered) {
        scatterSource = resolved;
        scatterDefault = entry.default;
        values[ti.id] = { ref: { item: true }, type: ti.type };
        continue;
      }
      const fallback = entry.default ?? ti.default;
      values[ti.id] = { ...(resolved ? { ref: resolved.ref } : {}), ...(fallback === undefined ? {} : { default: fallback }), type: ti.type };
    }
    for (const ti of step.tool.inputs) {
      if (Object.hasOwn(values, ti.id) || step.in.some((e) => e.id === ti.id)) continue;
      values[ti.id] = { ...(ti.default === undefined ? {} : { default: ti.default }), type: ti.type };
    }
    for (const [id, v] of Object.entries(values)) {
      // An unknown source was reported already: the input is not missing too.
      const sourced = step.in.some((e) => e.id === id && e.source !== undefined);
      const optional = v.type.optional || v.default !== undefined || v.ref !== undefined || sourced;
      if (!optional) problems.add(src.at(step.path, true), `step "${step.id}": the tool's required input "${id}" has no source and no default`);
    }
    cwlNeeds.set(step.id, [...deps]);

    const stepSpec: StepInput = {
      ...(step.description === undefined ? {} : { description: step.description }),
      needs: [...needs].sort(),
      executor: executorFor({
        kind: 'tool', tool: withEnv(step.tool, step.requirements), in: values,
        ...(step.requirements.image ? { image: step.requirements.image } : {}),
        // A scattered step waits for its array (a helper step or the step it reads it from).
        ...(step.scatter === undefined ? first(needs) : {}),
      }, step.requirements, step.id),
      ...(step.requirements.timeLimitS ? { timeoutMs: step.requirements.timeLimitS * 1000 } : {}),
    };
    if (step.scatter !== undefined) {
      scatters++;
      const entry = step.in.find((e) => e.id === step.scatter);
      const srcRef = scatterSource?.ref;
      const fromStep = srcRef && 'step' in srcRef ? srcRef : undefined;
      // forEach reads the array straight from the predecessor's output when that is possible: the
      // predecessor ran once (its output is an object, not a gathered list), the step takes
      // nothing else from it (a forEach step does not receive the whole output of the step it
      // fans out over), and no default must replace a null.
      const direct = fromStep && !fromStep.gather && scatterDefault === undefined && !fromStep.output.includes('.') &&
        step.in.filter((e) => e.source && 'step' in e.source && e.source.step === fromStep.step).length === 1;
      if (direct) {
        stepSpec.needs = [...new Set([...(stepSpec.needs ?? []), fromStep.step])].sort();
        stepSpec.forEach = { step: fromStep.step, path: fromStep.output };
      } else if (entry && (scatterSource || scatterDefault !== undefined)) {
        helpers++;
        const helper = unique(`${step.id}.scatter`);
        const ti = toolInputs.get(entry.id)!;
        const value: ValueSpec = { ...(srcRef ? { ref: srcRef } : {}), ...(scatterDefault === undefined ? {} : { default: scatterDefault }), type: { ...ti.type, depth: ti.type.depth + 1, optional: false } };
        delete value.type.itemBinding;
        steps[helper] = {
          description: `the array step "${step.id}" scatters over (input "${entry.id}")`,
          needs: scatterSource?.step ? [scatterSource.step] : [],
          executor: executorFor({ kind: 'items', value, ...first(scatterSource?.step ? [scatterSource.step] : []) }, {}, helper),
        };
        stepSpec.needs = [...new Set([...(stepSpec.needs ?? []), helper])].sort();
        stepSpec.forEach = helper;
      } else {
        problems.add(src.at([...step.path, 'scatter']), `step "${step.id}" scatters over "${step.scatter}", which has no source and no default`);
      }
    }
    steps[step.id] = stepSpec;
  }

  const { cyclic } = topoOrder(cwlNeeds);
  if (cyclic.length > 0) {
    const cycle = findCycle(cwlNeeds, cyclic);
    problems.add(src.at(byId.get(cycle[0] ?? '')?.path ?? ['steps'], true), `the steps form a cycle: ${cycle.join(' -> ')}`);
  }

  // Always a step of the workflow outputs: a CWL workflow without outputs has `{}` as its output,
  // as cwltool gives it (not its last steps' outputs, the default of a joinflow run).
  let output: string | undefined;
  {
    const outs = dict<ValueSpec>();
    const needs = new Set<string>();
    for (const o of wf.outputs) {
      const at = src.at([...o.path, 'outputSource']);
      const resolved = resolve(o.source, at);
      if (!resolved) continue;
      if (!assignable(resolved.type, o.type)) {
        problems.add(at, `workflow output "${o.id}" has type ${typeName(o.type)}, but its source has type ${typeName(resolved.type)}`);
      }
      if (resolved.step) needs.add(resolved.step);
      outs[o.id] = { ref: resolved.ref, type: o.type };
    }
    output = unique('outputs');
    steps[output] = {
      description: 'the workflow outputs, named as in the CWL file',
      needs: [...needs].sort(),
      executor: executorFor({ kind: 'outputs', outputs: outs, ...first(needs) }, {}, output),
    };
  }

  if (noImage.length > 0) {
    problems.add(src.at([]), `--executor batch needs an image for ${noImage.map((s) => `"${s}"`).join(', ')}: give --image (an image with node, joinflow and the tools) or a DockerRequirement`);
  }
  const workflow: WorkflowInput = {
    name: options.name,
    ...(wf.description === undefined ? {} : { description: wf.description }),
    steps,
    ...(output === undefined ? {} : { output }),
  };
  return { workflow, stats: { steps: wf.steps.length, scatters, helpers, inputs: wf.inputs.length, outputs: wf.outputs.length } };

  function executorFor(spec: RunnerSpec, req: Requirements, id: string): ExecutorInput {
    const arg = JSON.stringify(Object.keys(wf.namespaces).length === 0 ? spec : { ...spec, namespaces: wf.namespaces });
    const local = { command: options.runner.command, args: [...options.runner.args, arg] };
    if (options.executor === 'process') return { type: 'process', ...local };
    const image = req.image ?? options.image;
    if (image === undefined) noImage.push(id);
    return { type: 'batch', image: image ?? 'missing', command: ['joinflow', 'cwl-tool', arg], ...batchSize(req, id), local };
  }

  /**
   * A batch step's vCPUs and memory: CPU jobs run on Fargate, which takes fixed pairs only, so
   * ResourceRequirement's minimums are rounded up to the smallest Fargate size that holds both
   * (as `executor: auto` places a step), with a note; more than Fargate's largest is refused.
   */
  function batchSize(req: Requirements, id: string): { vcpus?: number; memoryMb?: number } {
    if (req.cores === undefined && req.ramMb === undefined) return {};
    const cores = req.cores ?? 1;
    const memory = req.ramMb ?? 2048; // the batch executor's default
    const size = fargateSize(cores, memory);
    const asked = [req.cores === undefined ? '' : `${req.cores} core${req.cores === 1 ? '' : 's'}`, req.ramMb === undefined ? '' : `${req.ramMb} MiB`].filter(Boolean).join(', ');
    if (size === undefined) {
      problems.add(req.resourcesAt ?? src.at([]), `step "${id}": ResourceRequirement (${asked}) is more than AWS Fargate's largest task (16 vCPUs, 122,880 MiB), where --executor batch runs CPU jobs`);
      return {};
    }
    if (size.vcpus > cores || size.memoryMb > memory) {
      notes.push(`step "${id}": ResourceRequirement (${asked}) rounded up to the smallest AWS Fargate size that holds it: ${size.vcpus} vCPU, ${size.memoryMb} MiB`);
    }
    return size;
  }
}

/** The tool with the variables of EnvVarRequirement (the tool's, its step's and its workflow's). */
function withEnv(tool: ToolSpec, req: Requirements): ToolSpec {
  return req.env === undefined ? tool : { ...tool, env: { ...tool.env, ...req.env } };
}

/** A resolved source; `what` names it in messages, `formats` are those its Files can have. */
type Resolved = { ref: ValueRef; type: CwlType; step?: string; what: string; formats?: string[] };

function known(ids: string[]): string {
  return ids.length === 0 ? '' : ` (known: ${ids.slice(0, 8).join(', ')}${ids.length > 8 ? ', ...' : ''})`;
}

