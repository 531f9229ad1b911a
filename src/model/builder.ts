import { WorkflowDefinitionError } from './errors.ts';
import type { ExecutorInput, FunctionExecutorInput, LocalCommand, Resources, RetrySpec, WorkflowInput, StepInput, WaitSpec, WhenSpec } from './workflow.ts';

/**
 * Options of a step besides its executor; `needs` and `forEach` only accept ids declared earlier.
 * Every field of a step in a workflow file has its option here (test/unit/builder.test.ts checks).
 */
export type StepOptions<Known extends string> = {
  description?: string;
  needs?: readonly Known[];
  retry?: Partial<RetrySpec> & { maxAttempts: number };
  timeoutMs?: number;
  /** Start this long after the step is ready (ms, on the engine's durable timer); retries are not delayed again. */
  delayMs?: number;
  /** Data files a process, batch or container command step reads and writes (staged around it). */
  files?: { inputs?: string[]; outputs?: string[] };
  forEach?: Known | { step: Known; path?: string; maxConcurrency?: number };
  /** What the step needs; places `auto` steps (Lambda or Batch). */
  resources?: Resources;
  /** For a Lambda-placed `auto` step: after a timeout, run the next attempt on Batch. */
  fallback?: 'batch';
  /** Start after all needs (default), the first of them (`any`), or `{quorum: k}` of them. */
  wait?: WaitSpec;
  /**
   * Run only when this EventBridge pattern matches what the step would receive, `{input,
   * results}`; otherwise the step is skipped (and so are the steps whose needs were all skipped).
   */
  when?: WhenSpec;
  /**
   * The step that runs when this one fails for good, instead of failing the run. It is declared
   * without needs (it gets this step's needs' results, and `error`).
   */
  catch?: string;
};

const BUILDER = Symbol.for('joinflow.WorkflowBuilder');

/**
 * Typed workflow builder. Because `needs` may only name steps declared before, a workflow built
 * this way cannot contain a cycle or an unknown dependency: the type checker refuses it.
 */
export class WorkflowBuilder<Known extends string = never> {
  readonly [BUILDER] = true;
  readonly #name: string;
  readonly #description: string | undefined;
  readonly #steps: Record<string, StepInput> = {};
  #output: string | undefined;

  constructor(name: string, description?: string) {
    this.#name = name;
    this.#description = description;
  }

  /**
   * Adds a step; its id becomes available to later `needs`. An id declared already is refused
   * here, when the workflow is loaded. (Refusing it in the type as well would make a builder of
   * some ids no longer assignable to one of ids that are not literals, as loops build.)
   */
  step<Id extends string>(
    id: Id,
    executor: ExecutorInput,
    options: StepOptions<Known> = {},
  ): WorkflowBuilder<Known | Id> {
    if (Object.hasOwn(this.#steps, id)) {
      throw new WorkflowDefinitionError([{ path: `steps.${id}`, message: `workflow "${this.#name}": step "${id}" is declared twice (step ids are unique)` }]);
    }
    const { needs, ...rest } = options;
    // From JavaScript, needs may be anything: a string spread would be a need per character; the
    // compiler names what is wrong with it (`steps.b.needs: expected array, received string`).
    const copied = needs === undefined ? [] : Array.isArray(needs) ? [...(needs as readonly string[])] : (needs as unknown as string[]);
    // defineProperty: an id "__proto__" stays a step (the compiler names what is wrong with it).
    Object.defineProperty(this.#steps, id, { value: { ...rest, needs: copied, executor }, enumerable: true, writable: true, configurable: true });
    return this as unknown as WorkflowBuilder<Known | Id>;
  }

  /** Declares which step's output is the run's output (default: the outputs of all sink steps). */
  output(step: Known): this {
    this.#output = step;
    return this;
  }

  /** The plain definition, the same shape a YAML or JSON workflow file has. */
  build(): WorkflowInput {
    return {
      name: this.#name,
      ...(this.#description === undefined ? {} : { description: this.#description }),
      steps: copyPlain(this.#steps),
      ...(this.#output === undefined ? {} : { output: this.#output }),
    };
  }

  toJSON(): WorkflowInput {
    return this.build();
  }
}

/**
 * A copy of the plain objects and arrays in `value` (shared and cyclic ones stay so), with every
 * other value as it is: a function, a symbol, a Date, a Map or a class instance reaches the
 * compiler, which names its path as a value JSON cannot write. (structuredClone threw a
 * DataCloneError on a function or a symbol, and turned a class instance into a plain object.)
 */
function copyPlain<T>(value: T): T {
  const copies = new Map<object, object>();
  // Iterative: a definition may nest deeper than the stack (the compiler refuses it, naming where).
  const pending: Array<[object, object]> = [];
  const copyOf = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    const proto: unknown = Object.getPrototypeOf(v);
    if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) return v;
    let copy = copies.get(v);
    if (copy === undefined) {
      copy = Array.isArray(v) ? new Array<unknown>(v.length) : Object.create(proto as object | null) as object;
      copies.set(v, copy);
      pending.push([v, copy]);
    }
    return copy;
  };
  const root = copyOf(value);
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [from, to] = next;
    // defineProperty: an own key "__proto__" stays a key.
    for (const key of Object.keys(from)) {
      Object.defineProperty(to, key, { value: copyOf((from as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
    }
  }
  return root as T;
}

/** Starts a typed workflow definition. */
export function workflow(name: string, description?: string): WorkflowBuilder {
  return new WorkflowBuilder(name, description);
}

/** True for objects made by `workflow()`, even across module copies. */
export function isWorkflowBuilder(value: unknown): value is WorkflowBuilder<string> {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BUILDER] === true;
}

/**
 * A `function` executor: `module` is relative to the workflow file; `exportName` defaults to
 * `handler`; `params` (a JSON value) reaches the handler as `event.params`, so that one handler
 * can serve several steps.
 */
export function fn(module: string, exportName = 'handler', options: { params?: unknown } = {}): FunctionExecutorInput {
  return options.params === undefined ? { type: 'function', module, export: exportName } : { type: 'function', module, export: exportName, params: options.params };
}

/** A `process` executor: runs `command args...`; the event JSON arrives on stdin. */
export function proc(
  command: string,
  args: string[] = [],
  options: { env?: Record<string, string>; cwd?: string } = {},
): ExecutorInput {
  return { type: 'process', command, args, ...options };
}

/** A `simulate` executor: sleeps `durationMs` (times --time-scale), then returns `output`. */
export function simulate(durationMs: number, output?: unknown): ExecutorInput {
  return output === undefined ? { type: 'simulate', durationMs } : { type: 'simulate', durationMs, output };
}

/**
 * An `auto` executor: the compiler places it on Lambda (the handler) or on AWS Batch (`image`
 * running `command`) by the step's `resources`; on the embedded engine it runs the handler, or
 * `local` where it was placed on Batch.
 */
export function auto(
  module: string,
  exportName: string,
  image: string,
  options: { command?: string[]; env?: Record<string, string>; local?: Partial<LocalCommand> & { command: string } } = {},
): ExecutorInput {
  return { type: 'auto', module, export: exportName, image, ...options };
}
