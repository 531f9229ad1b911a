/**
 * The embedded engine: local bus + trigger processor + store + executors on one machine. It is
 * the same choreography as on AWS — the processor only sees events and the store — with the
 * bus, the store and the executors swapped for in-process adapters.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { DetailType, JOINFLOW_SOURCE, stepRef, type EventEnvelope, type StepError } from '../../model/events.ts';
import { UsageError } from '../../model/errors.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import { EXECUTOR_KINDS, type ExecutorKind } from '../../model/workflow.ts';
import type { Clock, Executor, RunRecord, StepOutcome, Task, TriggerStore } from '../../ports.ts';
import type { Effect } from '../../runtime/effects.ts';
import { TriggerProcessor } from '../../runtime/processor.ts';
import { createLocalBatchExecutor, createLocalContainerExecutor } from './delegating-executors.ts';
import { createFunctionExecutor } from './function-executor.ts';
import { Lanes, type TraceRecord } from './lanes.ts';
import { createLocalBus, type LocalBus } from './local-bus.ts';
import { createMemoryStore } from './memory-store.ts';
import { createProcessExecutor } from './process-executor.ts';
import { RunTracker, type Progress, type RunResult } from './run-tracker.ts';
import { createSimulateExecutor } from './simulate-executor.ts';
import type { UsageMeter } from './usage-meter.ts';

export type { Progress, RunResult, TraceRecord };

/** Options of the embedded engine. */
export type EngineOptions = {
  store?: TriggerStore;
  /** Max tasks running at once per executor kind; Infinity = unlimited. */
  concurrency?: Partial<Record<ExecutorKind, number>>;
  /** Multiplies `simulate` durations. */
  timeScale?: number;
  /** Where run logs go (`<stateDir>/runs/<runId>/logs`). */
  stateDir?: string;
  /** Project root that plan paths are relative to. */
  root?: string;
  /** Replace executors (tests, custom kinds). */
  executors?: Partial<Record<ExecutorKind, Executor>>;
  clock?: Clock;
  /** Keep a per-run trace of executions (for --trace). */
  trace?: boolean;
  /** Called after each step execution ends. */
  onStep?: (runId: string, record: TraceRecord, progress: Progress) => void;
  /** Called for events that cannot be processed. */
  onDeadLetter?: (event: unknown, reason: string) => void;
  /**
   * Counts usage for a cost estimate. The engine then invokes the processor once per matched
   * trigger, as EventBridge rules do on AWS, instead of once per event (slower, same results).
   */
  meter?: UsageMeter;
};

/** Default concurrency: simulated steps only sleep, so they are not limited. */
export function defaultConcurrency(): Record<ExecutorKind, number> {
  const cpus = availableParallelism();
  return { function: cpus, process: cpus, simulate: Infinity, batch: cpus, container: cpus };
}

/** An embedded engine; create with createEngine(). */
export class Engine {
  readonly bus: LocalBus;
  readonly store: TriggerStore;
  readonly deadLetters: Array<{ event: unknown; reason: string }> = [];
  readonly #options: EngineOptions;
  readonly #clock: Clock;
  readonly #processor: TriggerProcessor;
  readonly #lanes: Lanes;
  readonly #executors: Map<ExecutorKind, Executor>;
  readonly #runs = new Map<string, RunTracker>();

  constructor(options: EngineOptions = {}) {
    this.#options = options;
    this.#clock = options.clock ?? { now: Date.now };
    this.store = options.store ?? createMemoryStore();
    this.bus = createLocalBus();
    this.#processor = new TriggerProcessor({ store: this.store, clock: this.#clock, newId: randomUUID });
    const stateDir = path.resolve(options.root ?? process.cwd(), options.stateDir ?? '.joinflow');
    const processes = options.executors?.process ?? createProcessExecutor({ logDir: (t) => path.join(stateDir, 'runs', t.runId, 'logs') });
    // "Unlimited" function concurrency still means a bounded thread pool; tasks queue in it.
    const functions = options.executors?.function ?? createFunctionExecutor({ threads: finiteOr(options.concurrency?.function, availableParallelism()) });
    this.#executors = new Map<ExecutorKind, Executor>([
      ['simulate', options.executors?.simulate ?? createSimulateExecutor({ timeScale: options.timeScale ?? 1 })],
      ['process', processes],
      ['function', functions],
      ['batch', options.executors?.batch ?? createLocalBatchExecutor(processes)],
      ['container', options.executors?.container ?? createLocalContainerExecutor(functions, processes)],
    ]);
    const limits = { ...defaultConcurrency(), ...options.concurrency };
    this.#lanes = new Lanes(this.#executors, new Map(EXECUTOR_KINDS.map((k) => [k, limits[k]])), {
      now: () => this.#clock.now(),
      wanted: (task) => this.#runs.get(task.runId)?.ended === false,
      started: (task, at) => this.#started(task, at),
      finished: (task, outcome, record) => this.#finished(task, outcome, record),
    });
    this.bus.subscribe(null, (events) => this.#process(events));
  }

  /** Registers a compiled workflow; relative paths in it are resolved against the root. */
  register(plan: TriggerPlan): void {
    this.#processor.register(resolvePaths(plan, this.#options.root ?? process.cwd()));
  }

  /** Publishes Run Requested; returns the run id (given ones are idempotency keys). */
  async start(workflow: string, input: unknown, options: { runId?: string } = {}): Promise<string> {
    const plan = this.#processor.plan(workflow);
    if (!plan) throw new UsageError(`unknown workflow "${workflow}": register its plan first`);
    const runId = options.runId ?? randomUUID();
    this.#tracker(runId, plan);
    await this.#publish([this.#event(DetailType.RunRequested, { workflow, runId, input: input ?? null })]);
    return runId;
  }

  /** Resolves when the run has ended (and its running tasks have stopped). */
  async wait(runId: string): Promise<RunResult> {
    const tracker = this.#runs.get(runId);
    if (tracker) return tracker.result;
    const record = await this.store.getRun(runId);
    if (!record) throw new UsageError(`unknown run "${runId}"`);
    if (record.status === 'running') throw new UsageError(`run "${runId}" is not being executed by this engine`);
    return RunTracker.fromRecord(record);
  }

  /** Starts a run and waits for its end. */
  async run(workflow: string, input: unknown, options: { runId?: string } = {}): Promise<RunResult & { trace: TraceRecord[] }> {
    const runId = await this.start(workflow, input, options);
    const tracker = this.#runs.get(runId);
    const result = await this.wait(runId);
    return { ...result, trace: tracker?.trace ?? [] };
  }

  /** Stops executors (worker threads, child processes). */
  async close(): Promise<void> {
    for (const t of this.#runs.values()) t.clearTimers();
    await Promise.all([...this.#executors.values()].map((e) => e.close()));
  }

  #tracker(runId: string, plan: TriggerPlan): RunTracker {
    let t = this.#runs.get(runId);
    if (!t) {
      t = new RunTracker(runId, plan, this.#clock.now(), this.#options.timeScale ?? 1, this.#options.trace ?? false);
      this.#runs.set(runId, t);
    }
    return t;
  }

  async #process(events: EventEnvelope[]): Promise<void> {
    const batches: Effect[][] = [];
    const meter = this.#options.meter;
    for (const event of events) {
      try {
        if (meter) {
          const ids = this.#processor.matchingTriggers(event);
          meter.invocations(ids.length);
          for (const id of ids) {
            const effects = await this.#processor.process(event, id);
            if (effects.length > 0) batches.push(effects);
          }
          continue;
        }
        const effects = await this.#processor.process(event);
        if (effects.length > 0) batches.push(effects);
      } catch (error) {
        batches.push([{ type: 'dead-letter', event, reason: `processor error: ${(error as Error).message}` }]);
      }
    }
    // Group commit: nothing leaves the process before the state that caused it is durable.
    await this.store.commit();
    for (const effects of batches) for (const effect of effects) await this.#apply(effect);
  }

  async #apply(effect: Effect): Promise<void> {
    switch (effect.type) {
      case 'dispatch':
        for (const task of effect.tasks) {
          const plan = this.#processor.plan(task.workflow)!;
          this.#tracker(task.runId, plan).dispatched(task);
          this.#lanes.submit(task);
        }
        return;
      case 'schedule': {
        this.#options.meter?.retry();
        const tracker = this.#runs.get(effect.task.runId);
        if (!tracker || tracker.ended) return;
        tracker.schedule(effect.delayMs, () => {
          if (!tracker.ended) this.#lanes.submit(effect.task);
        });
        return;
      }
      case 'publish':
        await this.#publish(effect.events);
        return;
      case 'ack':
        await this.store.markDispatched(effect.runId, effect.trigger, this.#clock.now());
        return;
      case 'run-ended':
        await this.#endRun(effect.runId);
        return;
      case 'dead-letter':
        this.deadLetters.push({ event: effect.event, reason: effect.reason });
        if (this.deadLetters.length > 10_000) this.deadLetters.shift();
        this.#options.onDeadLetter?.(effect.event, effect.reason);
        return;
    }
  }

  async #endRun(runId: string): Promise<void> {
    const tracker = this.#runs.get(runId);
    const record = await this.store.getRun(runId);
    if (tracker) {
      tracker.ended = true;
      tracker.clearTimers();
      // A failed run stops what is still running; those executions end as cancelled.
      await this.#lanes.stopRun(runId);
    }
    await this.store.release(runId);
    if (tracker && record) {
      this.#runs.delete(runId);
      tracker.finish(record as RunRecord, this.#clock.now());
    }
  }

  #started(task: Task, at: number): void {
    this.#runs.get(task.runId)?.started(task);
    void this.#publish([this.#event(DetailType.StepStarted, stepRef(task, { startedAt: at }))]);
  }

  #finished(task: Task, outcome: StepOutcome | { status: 'timeout'; timeoutMs: number }, record: TraceRecord): void {
    const tracker = this.#runs.get(task.runId);
    let event: EventEnvelope | undefined;
    if (outcome.status === 'succeeded') {
      event = this.#event(DetailType.StepCompleted, stepRef(task, { output: outcome.output ?? null }));
    } else if (outcome.status === 'failed' || outcome.status === 'timeout') {
      const error: StepError = outcome.status === 'timeout'
        ? { type: 'StepTimeout', message: `step "${task.step}" timed out after ${outcome.timeoutMs} ms (attempt ${task.attempt})` }
        : outcome.error;
      const retriable = outcome.status === 'timeout' || outcome.retriable;
      const retrying = retriable && task.attempt < task.maxAttempts;
      tracker?.failedAttempt(task, retrying);
      event = this.#event(DetailType.StepFailed, stepRef(task, { error, retrying }));
    }
    if (outcome.status !== 'aborted') this.#options.meter?.execution(task, record.end - record.start);
    if (tracker) {
      tracker.record(record, outcome.status === 'succeeded');
      // The finishing task still holds its lane slot until this hook returns: do not count it.
      this.#options.onStep?.(task.runId, record, tracker.progress(Math.max(0, this.#lanes.runningCount(task.runId) - 1)));
    }
    if (event) void this.#publish([event]);
  }

  /** Publishes the engine's own events, counting them toward their run. */
  #publish(events: EventEnvelope[]): Promise<void> {
    for (const e of events) {
      this.#options.meter?.event(e);
      const runId = (e.detail as { runId?: unknown }).runId;
      if (typeof runId === 'string') this.#runs.get(runId)?.countEvent();
    }
    return this.bus.publish(events);
  }

  #event(type: string, detail: Record<string, unknown>): EventEnvelope {
    return { id: randomUUID(), source: JOINFLOW_SOURCE, 'detail-type': type, time: new Date(this.#clock.now()).toISOString(), detail };
  }
}

/** Creates an embedded engine. */
export function createEngine(options: EngineOptions = {}): Engine {
  return new Engine(options);
}


function finiteOr(n: number | undefined, fallback: number): number {
  return n !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
}

function resolvePaths(plan: TriggerPlan, root: string): TriggerPlan {
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
  }
  return { ...plan, steps };
}
