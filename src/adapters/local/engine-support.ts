/** Helpers of the embedded engine: defaults, path resolution, size estimates. */
import { availableParallelism } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import path from 'node:path';
import { DetailType, type EventEnvelope } from '../../model/events.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import type { BlobStore, Executor, Task } from '../../ports.ts';
import { createRunDirStage, createStagingExecutor } from './data-staging.ts';
import type { DurableLog } from './durable-log.ts';
import { createLocalBatchExecutor, createLocalContainerExecutor } from './delegating-executors.ts';
import type { EngineOptions } from './engine-options.ts';
import { localPlacement } from './local-placement.ts';
import { createFunctionExecutor } from './function-executor.ts';
import { createProcessExecutor } from './process-executor.ts';
import { createSimulateExecutor } from './simulate-executor.ts';
import type { RunTracker } from './run-tracker.ts';
import { UsageError } from '../../model/errors.ts';
import { EXECUTOR_KINDS, type ExecutorKind } from '../../model/workflow.ts';
import { suggest } from '../../compiler/validate.ts';

/**
 * The executor of each kind on one machine: batch steps run their local command as processes,
 * container steps run in the function pool or as processes. `options.executors` replaces any.
 */
export function createLocalExecutors(options: EngineOptions): Map<ExecutorKind, Executor> {
  const stateDir = path.resolve(options.root ?? process.cwd(), options.stateDir ?? '.joinflow');
  const root = options.root ?? process.cwd();
  const commands = options.executors?.process ?? createProcessExecutor({ logDir: (t) => path.join(stateDir, 'runs', t.runId, 'logs') });
  // Steps with data files find them in runs/<runId>/data; batch and container commands run here too.
  const processes = createStagingExecutor(commands, createRunDirStage({
    dir: (runId) => path.join(stateDir, 'runs', runId, 'data'),
    ...(options.dataSource === undefined ? {} : { source: path.resolve(root, options.dataSource) }),
  }));
  // "Unlimited" function concurrency still means a bounded thread pool; tasks queue in it.
  const functions = options.executors?.function ?? createFunctionExecutor({ threads: finiteOr(options.concurrency?.function, availableParallelism()), output: options.handlerOutput });
  return new Map<ExecutorKind, Executor>([
    ['simulate', options.executors?.simulate ?? createSimulateExecutor({ timeScale: options.timeScale ?? 1 })],
    ['process', processes],
    ['function', functions],
    ['batch', options.executors?.batch ?? createLocalBatchExecutor(processes)],
    ['container', options.executors?.container ?? createLocalContainerExecutor(functions, processes)],
  ]);
}

/**
 * A run's input as JSON keeps it, as the durable state and the events on AWS will (a Date as its
 * string, no undefined fields): every store then gives its steps the same value. A value JSON
 * cannot write (a BigInt, a cycle) is refused. The copy (JSON text, then the value read back)
 * takes twice the input's size in memory: a string or a boolean is its own copy, and an input
 * marked by {@link parsedInput} is one already.
 */
export function jsonInput(input: unknown): unknown {
  if (input === undefined || input === null) return null;
  if (typeof input === 'string' || typeof input === 'boolean' || (typeof input === 'object' && parsedInputs.has(input))) return input;
  let text: string | undefined;
  try {
    text = JSON.stringify(input);
  } catch (error) {
    throw new UsageError(`the run's input cannot be written as JSON: ${(error as Error).message}`);
  }
  return text === undefined ? null : JSON.parse(text);
}

/** Inputs read from JSON text by their caller and held by no one else (see {@link parsedInput}). */
const parsedInputs = new WeakSet<object>();
/** Deeper than this, an input is copied as before: JSON.stringify then refuses it (about 5,000 levels), as it did. */
const PARSED_DEPTH = 1000;

/**
 * Marks `value`, just read by JSON.parse and kept by no one else (the CLI's --input), as a run
 * input that {@link jsonInput} takes as it is: what JSON gives back, JSON keeps, but for -0,
 * which it writes as 0, and a number too large for a double (`1e400` reads as Infinity), which
 * it writes as null: they are turned to 0 and null here, in place. Returns `value`.
 */
export function parsedInput<T>(value: T): T {
  if (typeof value === 'object' && value !== null && zeroSigns(value, 0)) parsedInputs.add(value);
  return value;
}

/** Turns -0 to 0 and ±Infinity to null in a parsed JSON value; false when it is nested deeper than PARSED_DEPTH. */
function zeroSigns(value: object, depth: number): boolean {
  if (depth > PARSED_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'object' && v !== null) {
        if (!zeroSigns(v, depth + 1)) return false;
      } else if (typeof v === 'number' && (v === 0 ? 1 / v < 0 : !Number.isFinite(v))) value[i] = v === 0 ? 0 : null;
    }
    return true;
  }
  const o = value as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (typeof v === 'object' && v !== null) {
      if (!zeroSigns(v, depth + 1)) return false;
    } else if (typeof v === 'number' && (v === 0 ? 1 / v < 0 : !Number.isFinite(v))) o[k] = v === 0 ? 0 : null;
  }
  return true;
}

/** Checks the options createEngine takes that a mistake would otherwise let fail later, deep inside (a TypeError on first use). */
/** Every option createEngine takes (the type makes sure none is missing). */
const ENGINE_OPTIONS = Object.keys({
  store: 1, concurrency: 1, timeScale: 1, stateDir: 1, root: 1, dataSource: 1, executors: 1, handlerOutput: 1, onFailure: 1, clock: 1,
  trace: 1, onStep: 1, onEvents: 1, groupCommitMs: 1, onDeadLetter: 1, maxForEachItems: 1, meter: 1, log: 1, blobs: 1, maxPayloadBytes: 1, runOptions: 1, chaos: 1,
} satisfies Record<keyof EngineOptions, 1>);

export function checkEngineOptions(options: EngineOptions): void {
  // A misspelled option would otherwise be ignored, and the engine run with the default.
  for (const key of Object.keys(options)) {
    if (!ENGINE_OPTIONS.includes(key)) throw new UsageError(`unknown option "${key}"${suggest(key, ENGINE_OPTIONS)}; createEngine takes ${ENGINE_OPTIONS.join(', ')}`);
  }
  const { groupCommitMs: window, handlerOutput, store, maxForEachItems: widest } = options;
  if (widest !== undefined && !(Number.isSafeInteger(widest) && widest >= 0)) {
    throw new UsageError(`maxForEachItems: a whole number of items, 0 or more, got ${JSON.stringify(widest)}`);
  }
  if (window !== undefined && !(typeof window === 'number' && Number.isFinite(window) && window >= 0)) {
    throw new UsageError(`groupCommitMs: a number of ms, 0 or more (0 commits every batch), got ${JSON.stringify(window)}`);
  }
  if (handlerOutput !== undefined && typeof (handlerOutput as { write?: unknown } | null)?.write !== 'function') {
    throw new UsageError(`handlerOutput: a writable stream (such as process.stderr), got ${typeof handlerOutput === 'string' ? JSON.stringify(handlerOutput) : typeof handlerOutput}`);
  }
  if (store !== undefined && typeof (store as { commit?: unknown } | null)?.commit !== 'function') {
    throw new UsageError('store: a TriggerStore (createMemoryStore(), or openDurableState({ dir }).store)');
  }
  checkStateOptions(options);
}

/** The options of the state the engine writes: durable log, blobs, directories, sizes. */
function checkStateOptions(options: EngineOptions): void {
  const { log, blobs, maxPayloadBytes: limit, timeScale } = options;
  if (log !== undefined && typeof (log as { saveRun?: unknown } | null)?.saveRun !== 'function') {
    throw new UsageError('log: a durable log (openDurableState({ dir }).log)');
  }
  // The log records a run's facts in its store's database: beside a memory store it finds no run, and the run never ends.
  if (log !== undefined && options.store === undefined) {
    throw new UsageError('log: a durable log needs the store of the same state: const state = openDurableState({ dir }); createEngine({ store: state.store, log: state.log, blobs: state.blobs })');
  }
  if (blobs !== undefined && (typeof (blobs as { put?: unknown } | null)?.put !== 'function' || typeof (blobs as { get?: unknown }).get !== 'function')) {
    throw new UsageError('blobs: a BlobStore with put(key, body) and get(ref) (openDurableState({ dir }).blobs)');
  }
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new UsageError(`maxPayloadBytes: a whole number of bytes, 0 or more (default 1,048,576), got ${JSON.stringify(limit)}`);
  }
  if (timeScale !== undefined && !(typeof timeScale === 'number' && Number.isFinite(timeScale) && timeScale >= 0)) {
    throw new UsageError(`timeScale: a number, 0 or more (0 runs simulated steps at once), got ${JSON.stringify(timeScale)}`);
  }
  for (const key of ['stateDir', 'root', 'dataSource'] as const) {
    const value: unknown = options[key];
    if (value !== undefined && (typeof value !== 'string' || value.trim() === '')) throw new UsageError(`${key}: a directory's path, got ${JSON.stringify(value)}`);
  }
}

/** Default concurrency: simulated steps only sleep, so they are not limited. */
export function defaultConcurrency(): Record<ExecutorKind, number> {
  const cpus = availableParallelism();
  return { function: cpus, process: cpus, simulate: Infinity, batch: cpus, container: cpus };
}

/** The limits an engine runs with: the defaults, with `given` over them; each checked. */
export function concurrencyLimits(given: Partial<Record<ExecutorKind, number>> | undefined): Record<ExecutorKind, number> {
  if (given !== undefined && (given === null || typeof given !== 'object')) {
    throw new UsageError(`concurrency: limits per executor kind, such as { function: 4, process: 2 } (got ${JSON.stringify(given)}; the CLI's --concurrency 4 is { function: 4, process: 4, ... })`);
  }
  for (const kind of Object.keys(given ?? {})) {
    if (!(EXECUTOR_KINDS as readonly string[]).includes(kind)) throw new UsageError(`concurrency.${kind}: not an executor kind${suggest(kind, EXECUTOR_KINDS)}; the kinds are ${EXECUTOR_KINDS.join(', ')}`);
  }
  const limits = { ...defaultConcurrency(), ...given };
  for (const [kind, n] of Object.entries(limits)) {
    // A limit below 1 would queue every task of that kind forever.
    if (!(n === Infinity || (Number.isInteger(n) && n >= 1))) throw new UsageError(`concurrency.${kind}: a whole number of at least 1 (or Infinity), got ${n}`);
  }
  return limits;
}

/**
 * An upper-bound-friendly character count of a JSON value (keys, strings, numbers, punctuation),
 * walked iteratively and abandoned as soon as it passes `cap`.
 */
export function roughChars(value: unknown, cap: number): number {
  // Primitives are counted where they are met; only containers go on the stack. (No helper
  // closure: it would be made on every call, and this runs for every event from outside.)
  if (value === null || typeof value !== 'object') return primitiveChars(value);
  let n = 0;
  const stack: object[] = [value];
  while (stack.length > 0 && n <= cap) {
    const v = stack.pop()!;
    if (Array.isArray(v)) {
      n += 2 + v.length;
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if (x !== null && typeof x === 'object') stack.push(x);
        else n += primitiveChars(x);
      }
    } else {
      const keys = Object.keys(v);
      n += 2;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const x = (v as Record<string, unknown>)[k];
        n += k.length + 4;
        if (x !== null && typeof x === 'object') stack.push(x);
        else n += primitiveChars(x);
      }
    }
  }
  return n;
}

function primitiveChars(v: unknown): number {
  return typeof v === 'string' ? v.length + 2 : 24;
}

export function finiteOr(n: number | undefined, fallback: number): number {
  return n !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
}

export function resolvePaths(plan: TriggerPlan, root: string): TriggerPlan {
  const steps: TriggerPlan['steps'] = {};
  for (const [id, s] of Object.entries(plan.steps)) {
    const e = s.executor;
    if (e.type === 'function') steps[id] = { ...s, executor: { ...e, module: path.resolve(root, e.module) } };
    else if (e.type === 'process') steps[id] = { ...s, executor: { ...e, cwd: path.resolve(root, e.cwd ?? '.') } };
    else if (e.type === 'batch' && e.local) steps[id] = { ...s, executor: { ...e, local: { ...e.local, cwd: path.resolve(root, e.local.cwd ?? '.') } } };
    else if (e.type === 'container') {
      const module = e.module === undefined ? {} : { module: path.resolve(root, e.module) };
      steps[id] = { ...s, executor: { ...e, ...module, cwd: path.resolve(root, e.cwd ?? '.') } };
    } else steps[id] = s;
    steps[id] = localPlacement(steps[id]!, root);
  }
  internExecutors(steps);
  return { ...plan, steps };
}

/**
 * Steps whose executors are equal share one executor object: the durable log writes each
 * executor object once per commit (journal-codec.ts), and a traced workflow's steps often run
 * the same command or the same no-op.
 */
function internExecutors(steps: TriggerPlan['steps']): void {
  const seen = new Map<string, TriggerPlan['steps'][string]['executor']>();
  for (const [id, s] of Object.entries(steps)) {
    const key = JSON.stringify(s.executor);
    const same = seen.get(key);
    if (same === undefined) seen.set(key, s.executor);
    else if (same !== s.executor) steps[id] = { ...s, executor: same };
  }
}

/** Why an event from outside is too big to process, or undefined when it is not. */
export function oversizeReason(event: unknown, limit: number): string | undefined {
  // A character takes at most 6 bytes in JSON (\uXXXX): small events skip the exact count.
  if (roughChars(event, Math.floor(limit / 6) + 1) <= limit / 6) return undefined;
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(event) ?? '');
  } catch {
    return undefined; // not serializable: the processor explains what is wrong with it
  }
  return bytes > limit ? `event of ${bytes} bytes exceeds the size limit of ${limit} bytes` : undefined;
}

/** An event whose output was kept as a blob gets it back before processing. */
export function resolveOutputRef(event: EventEnvelope, blobs: BlobStore | undefined): EventEnvelope | Promise<EventEnvelope> {
  // Anything may arrive on the bus; the processor explains what is wrong with a malformed one.
  if (typeof event !== 'object' || event === null) return event;
  const ref = (event.detail as { outputRef?: unknown } | null | undefined)?.outputRef;
  // Synchronous when there is nothing to fetch: the hot path awaits nothing.
  if (typeof ref !== 'string' || !blobs) return event;
  const { outputRef: _ref, ...detail } = event.detail as Record<string, unknown>;
  return blobs.get(ref).then((json) => ({ ...event, detail: { ...detail, output: JSON.parse(json) as unknown } }));
}

/** A step outcome whose output is over the limit, with the output kept as a blob (outputRef). */
export function offloadOutput(event: EventEnvelope, blobs: BlobStore | undefined, limit: number): EventEnvelope | Promise<EventEnvelope> {
  const d = event.detail as Record<string, unknown>;
  if (!('output' in d) || !blobs) return event;
  const output = d['output'];
  // Small scalars cannot be over any sensible limit: skip serializing them.
  if ((output === null || output === undefined || typeof output === 'number' || typeof output === 'boolean') && limit >= 64) return event;
  const json = JSON.stringify(output ?? null);
  // A UTF-8 byte is at most 3 per UTF-16 unit: most outputs need no byte count.
  if (json.length * 3 <= limit || Buffer.byteLength(json) <= limit) return event;
  const { output: _o, ...rest } = d;
  return blobs
    .put(`${String(d['runId'])}/${String(d['step'])}.${String(d['item'] ?? '')}.${String(d['attempt'])}.json`, json)
    .then((ref) => ({ ...event, detail: { ...rest, outputRef: ref } }));
}

/**
 * After a batch of events: the runs that held back their tasks once a failure for good was
 * reported let them go when that failure's Step Failed was handled and did not end the run (a
 * late duplicate's failure, for a step that has its result); ended runs just forget them.
 */
export function settleFailures(failing: Set<RunTracker>, events: readonly EventEnvelope[], resubmit: (tasks: Task[]) => void): void {
  for (const tracker of failing) {
    const runId = tracker.runId;
    if (!tracker.ended && !events.some((e) => e['detail-type'] === DetailType.StepFailed && (e.detail as { runId?: string }).runId === runId)) continue;
    failing.delete(tracker);
    tracker.failing = false;
    const parked = tracker.parked.splice(0);
    if (!tracker.ended) resubmit(parked);
  }
}

/** Ends as cancelled the run's tasks that never started (queued when the run ended). */
export function cancelUnstarted(log: DurableLog, runId: string, now: number): void {
  for (const t of log.unfinishedTasks(runId)) if (t.status === 'dispatched') log.taskFinished(t.task, 'cancelled', now);
}

/**
 * The widest forEach an engine runs and why (ProcessorDeps.widest): `maxForEachItems`, or what its
 * heap holds at about 3 KB per item (4 KB with a durable log; measured: a million items of a
 * fan-out peaked at 1.7 GB of memory in memory and 2.8 GB on the journal store).
 */
export function widestForEach(options: EngineOptions): { items: number; why: string } {
  if (options.maxForEachItems !== undefined) return { items: options.maxForEachItems, why: 'the engine\'s maxForEachItems' };
  const heapMb = Math.round(getHeapStatistics().heap_size_limit / 1_048_576);
  const perItemKb = options.log ? 4 : 3;
  return {
    items: Math.floor((heapMb * 1024) / perItemKb),
    why: `what a heap of ${heapMb.toLocaleString('en-US')} MB holds at about ${perItemKb} KB per item${options.log ? ' on a durable store' : ''}; split the input over several runs, or give Node a larger heap (NODE_OPTIONS=--max-old-space-size=<MB>)`,
  };
}

/** run()/start() of a workflow not registered: the nearest registered name when there is one. */
export function unknownWorkflow(workflow: string, registered: Iterable<string>): UsageError {
  return new UsageError(`unknown workflow "${workflow}"${suggest(workflow, registered)}: register its plan first`);
}
