/**
 * The normalized form of an imported CWL step: what the importer writes into a workflow step's
 * arguments and what the CWL tool runner (`joinflow cwl-tool`) reads back. Plain JSON data, no
 * expressions left: everything the subset cannot express was refused at import time.
 */

/** The scalar types of the subset (`long`/`double` behave as `int`/`float`). */
export const CWL_BASE_TYPES = ['File', 'string', 'int', 'long', 'float', 'double', 'boolean'] as const;
/** One of {@link CWL_BASE_TYPES}. */
export type CwlBase = (typeof CWL_BASE_TYPES)[number];

/** How a value goes on the command line (CWL CommandLineBinding without expressions). */
export type CommandBinding = {
  position: number;
  prefix?: string;
  /** `false`: the prefix and the value form one argument. */
  separate: boolean;
  /** Arrays: join the items into one argument with this separator. */
  itemSeparator?: string;
};

/** A CWL type: a base type inside `depth` arrays, possibly null. */
export type CwlType = {
  base: CwlBase;
  /** 0 for a scalar, 1 for `X[]`; 2 only for gathered scatter results (never a tool input). */
  depth: number;
  optional: boolean;
  /** The binding of each item of an array (`items: {type: ..., inputBinding: ...}` in CWL). */
  itemBinding?: CommandBinding;
  /** Inputs of File types: the format IRIs a File may have (one without a format fits too). */
  format?: string[];
};

/** A literal command-line argument from the tool's `arguments`. */
export type ToolArgument = { position: number; prefix?: string; separate: boolean; value: string };

/** A tool input; only inputs with a binding (or an array type with an item binding) appear on the command line. */
export type ToolInput = { id: string; type: CwlType; binding?: CommandBinding; default?: unknown };

/** A tool output: files found by glob in the working directory, or the captured stdout/stderr. */
export type ToolOutput = { id: string; type: CwlType; /** The format IRI its files get. */ format?: string } & ({ glob: string[] } | { stream: 'stdout' | 'stderr' });

/** A CommandLineTool of the subset. */
export type ToolSpec = {
  baseCommand: string[];
  arguments: ToolArgument[];
  inputs: ToolInput[];
  outputs: ToolOutput[];
  /**
   * File names (in the working directory) that capture the tool's stdout and stderr. Unset while
   * a `stdout`/`stderr` output needs one: the runner makes a random hidden name (`.stdout-<hex>`).
   */
  stdout?: string;
  stderr?: string;
  successCodes: number[];
  /** From EnvVarRequirement. */
  env: Record<string, string>;
};

/**
 * Where a value comes from at run time: a workflow input (`event.input`), a step output
 * (`event.results[step][output]`, an array of every item's output when the step scatters), or
 * the scatter item (`event.item`).
 */
export type ValueRef =
  | { input: string; default?: unknown }
  | { step: string; output: string; gather: boolean }
  | { item: true };

/** A value a step needs: its source, the default used when that is null, its expected type. */
export type ValueSpec = { ref?: ValueRef; default?: unknown; type: CwlType };

/**
 * What one `joinflow cwl-tool` invocation does. `check`, on the steps that run first (no needs),
 * holds every workflow input: the run's input is checked against them before any work, as a CWL
 * runner checks the job, instead of at the step that first uses a value.
 */
export type RunnerSpec = {
  check?: Record<string, ValueSpec>;
  /** The workflow document's `$namespaces`: a File's format `edam:x` in the run input is expanded by them. */
  namespaces?: Record<string, string>;
} & (
  /** Run a CommandLineTool with its inputs resolved from the step event; `image` records DockerRequirement. */
  | { kind: 'tool'; tool: ToolSpec; in: Record<string, ValueSpec>; image?: string }
  /** Output the array a scatter step fans out over (forEach needs a step to read it from). */
  | { kind: 'items'; value: ValueSpec }
  /** Output the workflow's outputs, as CWL names them. */
  | { kind: 'outputs'; outputs: Record<string, ValueSpec> });

/** `File[]`, `string?`, ... as CWL writes them, for messages. */
export function typeName(t: CwlType): string {
  return `${t.base}${'[]'.repeat(t.depth)}${t.optional ? '?' : ''}`;
}
