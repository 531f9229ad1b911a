import { z } from 'zod';
import { OptionalSubscriptionsSchema } from './subscriptions.ts';

/** Step ids: safe in file names, store keys and rule names; `$` is reserved for internal triggers. */
export const STEP_ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$/;
/** Workflow names follow the same alphabet as step ids. */
export const WORKFLOW_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
/** What {@link WORKFLOW_NAME_PATTERN} allows, as error messages say it. */
export const WORKFLOW_NAME_RULE = '1-64 characters of ASCII letters, digits, "_", "." or "-", not starting with "." or "-"';

const stepId = z.string().regex(STEP_ID_PATTERN, {
  message: 'must be 1-200 characters of ASCII letters, digits, "_", ".", ":" or "-", not starting with "." ":" or "-"',
});

/** `function`: a module exporting a Lambda-style handler `(event, context) => result`. */
export const FunctionExecutorSchema = z.strictObject({
  type: z.literal('function'),
  module: z.string().min(1, 'must name the handler module (path relative to the workflow file)'),
  export: z.string().min(1).default('handler'),
  /** A JSON value handed to the handler as `event.params`: one handler module serving steps that differ by it. */
  params: z.unknown().optional(),
});

/**
 * Environment variables of a command: a name with "=" (or none) would set another variable than
 * the one written (`B=C: x` sets B to "C=x"), and a NUL ends a string in the system call.
 */
const EnvSchema = z.record(
  z.string().regex(/^[^=\0]+$/, 'an environment variable name must not be empty nor contain "=" or a NUL character'),
  z.string().regex(/^[^\0]*$/, 'an environment variable value must not contain a NUL character'),
).default({});

/** `process`: a command run as a child process; its last stdout line (JSON) is the output. */
export const ProcessExecutorSchema = z.strictObject({
  type: z.literal('process'),
  command: z.string().min(1, 'must name the command to run'),
  args: z.array(z.string()).default([]),
  env: EnvSchema,
  cwd: z.string().optional(),
});

/** `simulate`: sleeps `durationMs` (scaled by --time-scale); for traces and benchmarks. */
export const SimulateExecutorSchema = z.strictObject({
  type: z.literal('simulate'),
  durationMs: z.number().finite().nonnegative(),
  output: z.unknown().optional(),
});

/** A command run on this machine: how `batch` steps run on the embedded engine. */
export const LocalCommandSchema = z.strictObject({
  command: z.string().min(1, 'must name the command to run'),
  args: z.array(z.string()).default([]),
  env: EnvSchema,
  cwd: z.string().optional(),
});

/**
 * `batch`: a container job on AWS Batch (GPU where `gpus` > 0); on the embedded engine its `local`
 * command runs as a process instead, so one workflow file runs in both places.
 */
export const BatchExecutorSchema = z.strictObject({
  type: z.literal('batch'),
  image: z.string().min(1, 'must name the container image'),
  command: z.array(z.string()).default([]),
  vcpus: z.number().positive().max(256).default(1),
  memoryMb: z.number().int().min(128).max(2_000_000).default(2048),
  gpus: z.number().int().nonnegative().max(16).default(0),
  env: EnvSchema,
  local: LocalCommandSchema.optional(),
});

/**
 * `container`: a task put on a queue and run by `joinflow worker` in any container or machine —
 * a handler `module` (+ `export`) or a `command`. Locally it runs in the engine's worker pool.
 */
export const ContainerExecutorSchema = z.strictObject({
  type: z.literal('container'),
  queue: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, 'queue names are 1-40 letters, digits, "_" or "-"').default('default'),
  module: z.string().min(1).optional(),
  export: z.string().min(1).default('handler'),
  command: z.string().min(1).optional(),
  args: z.array(z.string()).default([]),
  env: EnvSchema,
  cwd: z.string().optional(),
});

export const ExecutorSchema = z.discriminatedUnion('type', [
  FunctionExecutorSchema,
  ProcessExecutorSchema,
  SimulateExecutorSchema,
  BatchExecutorSchema,
  ContainerExecutorSchema,
]);

const AUTO_MODULE = 'must name the handler module that runs the step on Lambda (path relative to the workflow file)';
const AUTO_IMAGE = 'must name the container image that runs the step on AWS Batch';

/**
 * `auto`: the compiler places the step by its `resources` (compiler/placement.ts) — on Lambda
 * (the handler `module` + `export`) when it fits Lambda's limits, else on AWS Batch (the `image`
 * running `command`; the GPU queue when it asks for GPUs). On the embedded engine it runs the
 * handler, or its `local` command where it was placed on Batch and gives one.
 */
export const AutoExecutorSchema = z.strictObject({
  type: z.literal('auto'),
  module: z.string({ error: AUTO_MODULE }).min(1, AUTO_MODULE),
  export: z.string().min(1).default('handler'),
  image: z.string({ error: AUTO_IMAGE }).min(1, AUTO_IMAGE),
  command: z.array(z.string()).default([]),
  env: EnvSchema,
  local: LocalCommandSchema.optional(),
});

/** What a step may declare as its executor: a concrete one, or `auto` (resolved by the compiler). */
export const StepExecutorSchema = z.discriminatedUnion('type', [
  FunctionExecutorSchema,
  ProcessExecutorSchema,
  SimulateExecutorSchema,
  BatchExecutorSchema,
  ContainerExecutorSchema,
  AutoExecutorSchema,
]);

/**
 * What a step needs to run. Places `auto` steps (memoryMb, default 1024; vcpus, default what
 * the placement gives; gpus, default 0; expectedSeconds); `expectedSeconds` alone may be given on
 * any step, for `joinflow plan`'s cost estimate.
 */
export const ResourcesSchema = z.strictObject({
  memoryMb: z.number().int('must be a whole number of MB').min(128, "must be at least 128 MB (Lambda's smallest size)")
    .max(2_000_000, 'must be at most 2,000,000 MB').optional(),
  vcpus: z.number().positive('must be more than 0').max(256, 'must be at most 256').optional(),
  gpus: z.number().int('must be a whole number').nonnegative().max(16, 'must be at most 16').optional(),
  expectedSeconds: z.number().positive('must be more than 0').max(1_209_600, 'must be at most 14 days (1,209,600 s)').optional(),
});

/** Exponential backoff: the n-th retry waits min(backoffMs * factor^(n-1), maxDelayMs). */
export const RetrySchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(1000),
  backoffMs: z.number().finite().nonnegative().default(100),
  factor: z.number().finite().min(1).default(2),
  maxDelayMs: z.number().finite().nonnegative().default(30_000),
});

export const ForEachSchema = z.union([
  stepId,
  z.strictObject({
    step: stepId,
    path: z.string().min(1).optional(),
    // At most this many items run at once: item i + maxConcurrency starts when item i has ended.
    maxConcurrency: z.number().positive('must be at least 1').refine(Number.isInteger, 'must be a whole number of items').optional(),
  }),
], { error: (issue) => (issue.code === 'invalid_union' ? 'must be a predecessor\'s step id, or {step, path, maxConcurrency} with the path of an array in its output' : undefined) });

/**
 * A data file of a step: a relative path inside the run's data area (a directory locally, an S3
 * prefix on AWS). No absolute paths, no `.`/`..` segments: a step cannot reach outside its run.
 */
export const DataFileSchema = z.string().min(1).max(1024).refine(
  (f) => !f.startsWith('/') && !f.includes('\\') && !/[\x00-\x1f\x7f]/.test(f) && f.split('/').every((s) => s !== '' && s !== '.' && s !== '..'),
  { message: 'must be a relative path of non-empty segments (no leading "/", no "." or ".." segments, no "\\" or control characters)' },
);

/**
 * Files a step reads and writes (WfCommons inputFiles/outputFiles). Process, batch and container
 * command steps get them staged: inputs must exist before the step runs, outputs after it exits.
 */
export const StepFilesSchema = z.strictObject({
  inputs: z.array(DataFileSchema).default([]),
  outputs: z.array(DataFileSchema).default([]),
});

/**
 * When a step with needs starts: after all of them (the default), after the first to complete
 * (`any`), or after `quorum` of them. See the README's "Waiting for some of the needs".
 */
export const WaitSchema = z.union([z.literal('all'), z.literal('any'), z.strictObject({ quorum: z.number().int().positive() })], {
  error: 'must be "all", "any" or {quorum: k} with k a whole number of needs, at least 1',
});

/**
 * A step's choice: an EventBridge event pattern matched against what the step would receive,
 * `{input, results}`. When it does not match, the step is skipped (README: "Choices").
 */
export const WhenSchema = z.record(z.string(), z.unknown(), { error: 'must be an event pattern: an object such as {results: {check: {ok: [true]}}}' });

export const StepSchema = z.strictObject({
  description: z.string().optional(),
  // Unknown or malformed ids in needs are reported by the graph check, with a suggestion.
  needs: z.array(z.string().min(1)).default([]),
  executor: StepExecutorSchema,
  retry: RetrySchema.optional(),
  timeoutMs: z.number().int().positive().optional(),
  // Start this long after the step is ready, on the engine's timer (nothing runs while it waits).
  delayMs: z.number().int('must be a whole number of ms').nonnegative().max(31_536_000_000, 'must be at most a year (31,536,000,000 ms)').optional(),
  forEach: ForEachSchema.optional(),
  resources: ResourcesSchema.optional(),
  // Where the compiler puts an `auto` step on Lambda, a timeout sends the next attempt to Batch.
  fallback: z.literal('batch', 'the only fallback is "batch"').optional(),
  files: StepFilesSchema.optional(),
  wait: WaitSchema.optional(),
  when: WhenSchema.optional(),
  // The step that runs when this one fails for good, instead of failing the run (README: "Catching a failure").
  catch: stepId.optional(),
});

export const WorkflowSchema = z.strictObject({
  name: z.string().regex(WORKFLOW_NAME_PATTERN, {
    message: `must be ${WORKFLOW_NAME_RULE}`,
  }),
  description: z.string().optional(),
  steps: z.record(z.string(), StepSchema),
  output: stepId.optional(),
  /** Subscriptions scoped to this workflow's events (see subscriptions.ts). */
  subscriptions: OptionalSubscriptionsSchema.optional(),
});

export type FunctionExecutor = z.infer<typeof FunctionExecutorSchema>;
export type ProcessExecutor = z.infer<typeof ProcessExecutorSchema>;
export type SimulateExecutor = z.infer<typeof SimulateExecutorSchema>;
export type BatchExecutor = z.infer<typeof BatchExecutorSchema>;
export type ContainerExecutor = z.infer<typeof ContainerExecutorSchema>;
export type LocalCommand = z.infer<typeof LocalCommandSchema>;
export type AutoExecutor = z.infer<typeof AutoExecutorSchema>;
export type Resources = z.infer<typeof ResourcesSchema>;
/** A concrete executor: what plans and tasks carry (the compiler resolves `auto`). */
export type ExecutorSpec = z.infer<typeof ExecutorSchema>;
/** An executor as a step declares it, `auto` included. */
export type StepExecutorSpec = z.infer<typeof StepExecutorSchema>;
export type ExecutorKind = ExecutorSpec['type'];
export type RetrySpec = z.infer<typeof RetrySchema>;
export type ForEachSpec = z.infer<typeof ForEachSchema>;
export type StepSpec = z.infer<typeof StepSchema>;
export type StepFiles = z.infer<typeof StepFilesSchema>;
export type WaitSpec = z.infer<typeof WaitSchema>;
export type WhenSpec = z.infer<typeof WhenSchema>;
export type Workflow = z.infer<typeof WorkflowSchema>;
/** What authors write: defaults not yet applied. */
export type WorkflowInput = z.input<typeof WorkflowSchema>;
export type StepInput = z.input<typeof StepSchema>;
export type ExecutorInput = z.input<typeof StepExecutorSchema>;
export type FunctionExecutorInput = z.input<typeof FunctionExecutorSchema>;

/** Executor kinds, for concurrency limits and reporting. */
export const EXECUTOR_KINDS = ['function', 'process', 'simulate', 'batch', 'container'] as const satisfies readonly ExecutorKind[];

/** What a step handler receives. `item`/`index` only for forEach steps. */
export type StepEvent<Input = unknown> = {
  input: Input;
  results: Record<string, unknown>;
  item?: unknown;
  index?: number;
  /** The step's `params` (function steps that give them). */
  params?: unknown;
  /** For a catch step: the failure it catches (the failed step, and its error). */
  error?: { step: string; type: string; message: string };
};

/** The Lambda-like context handed to a function step. */
export type StepContext = {
  workflow: string;
  runId: string;
  step: string;
  attempt: number;
  item?: number;
  /** Unique per execution, like Lambda's awsRequestId. */
  awsRequestId: string;
  /** When the run started (ms since the epoch); on AWS Lambda, whose context has no room for it, the event's `joinflow.runStartedAt`. */
  runStartedAt?: number;
  getRemainingTimeInMillis(): number;
};

/** A function step's handler, Lambda-compatible. */
export type StepHandler<Input = unknown, Output = unknown> = (
  event: StepEvent<Input>,
  context: StepContext,
) => Output | Promise<Output>;
