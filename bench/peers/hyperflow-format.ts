/**
 * joinflow DAGs to HyperFlow workflow.json (the `processes` / `signals` model of HyperFlow 1.x).
 * Pure: the peer bench writes the result to a file; the unit test checks its structure.
 *
 * Mapping (the shape HyperFlow's own DAG examples such as Montage143 use):
 * - each step becomes one `dataflow` process with `firingLimit: 1`, so it fires once and then
 *   counts as finished (HyperFlow ends a run when every process has finished);
 * - each step emits one signal named after it; every successor lists that signal in its `ins`
 *   (a signal with many sinks is delivered to each), so a join waits for all its predecessors;
 * - root steps read the workflow input signal `$start`, sent once with `data: [{}]`;
 * - workflow `outs` are the signals of the sink steps.
 * Signals are referenced by index, not by name: HyperFlow reads `name:N` in `ins` as a count
 * modifier, and joinflow step ids may contain ":".
 */

/** A DAG as joinflow workflows describe it: steps and the steps each one needs. */
export type Dag = {
  name: string;
  steps: Record<string, { needs?: readonly string[] | undefined }>;
};

/** One HyperFlow process (task) of a converted DAG. */
export type HyperFlowProcess = {
  name: string;
  type: 'dataflow';
  function: string;
  firingLimit: 1;
  /** Indexes into `signals`. */
  ins: number[];
  outs: number[];
};

/** One HyperFlow signal; `data` only on the initial input signal. */
export type HyperFlowSignal = { name: string; data?: Array<Record<string, never>> };

/** A HyperFlow workflow.json document. */
export type HyperFlowWorkflow = {
  name: string;
  processes: HyperFlowProcess[];
  signals: HyperFlowSignal[];
  /** Indexes of the workflow's input and output signals. */
  ins: number[];
  outs: number[];
  /** Where HyperFlow loads `function` from (relative to the workflow directory). */
  functions: Array<{ name: string; module: string }>;
};

/** Options of {@link toHyperFlow}. */
export type HyperFlowOptions = {
  /** Exported function every process calls; default `noop`. */
  functionName?: string;
  /** Module exporting it, relative to the workflow directory; default `functions.js`. */
  module?: string;
};

/** Name of the workflow input signal; `$` cannot occur in joinflow step ids, so it never clashes. */
export const START_SIGNAL = '$start';

/**
 * Converts a DAG; throws naming the step when a `needs` entry is not a step of the DAG (the
 * compiler reports such problems for joinflow; here they would silently hang HyperFlow).
 */
export function toHyperFlow(dag: Dag, options: HyperFlowOptions = {}): HyperFlowWorkflow {
  const functionName = options.functionName ?? 'noop';
  const ids = Object.keys(dag.steps);
  // Signal 0 is the start signal; step i emits signal i + 1.
  const signalOf = new Map(ids.map((id, i) => [id, i + 1]));
  const signals: HyperFlowSignal[] = [{ name: START_SIGNAL, data: [{}] }, ...ids.map((id) => ({ name: id }))];
  const consumed = new Set<string>();
  const processes = ids.map((id): HyperFlowProcess => {
    // A repeated need would make HyperFlow wait for a second copy of the signal that never comes.
    const needs = [...new Set(dag.steps[id]!.needs ?? [])];
    const ins = needs.map((need) => {
      const signal = signalOf.get(need);
      if (signal === undefined) throw new Error(`toHyperFlow: step "${id}" of "${dag.name}" needs unknown step "${need}"`);
      consumed.add(need);
      return signal;
    });
    return { name: id, type: 'dataflow', function: functionName, firingLimit: 1, ins: ins.length > 0 ? ins : [0], outs: [signalOf.get(id)!] };
  });
  return {
    name: dag.name,
    processes,
    signals,
    ins: [0],
    outs: ids.filter((id) => !consumed.has(id)).map((id) => signalOf.get(id)!),
    functions: [{ name: functionName, module: options.module ?? 'functions.js' }],
  };
}
