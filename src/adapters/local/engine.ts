/** The embedded engine: local bus + trigger processor + store + executors on one machine. The same choreography as on AWS
 * (the processor only sees events and the store), with the bus, store and executors swapped for in-process adapters. */
import { randomUUID } from 'node:crypto';
import { anyDrivesTriggers, CANCELLED, DetailType, runCancelledDetail, runIdProblem, stepRefWith, type EventEnvelope } from '../../model/events.ts';
import { JoinflowError, UsageError } from '../../model/errors.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import { EXECUTOR_KINDS, type ExecutorKind } from '../../model/workflow.ts';
import type { Clock, Executor, RunRecord, Task, TriggerStore } from '../../ports.ts';
import { TriggerProcessor } from '../../runtime/processor.ts';
import { upwardRanks } from '../../runtime/priority.ts';
import { Lanes, type TraceRecord } from './lanes.ts';
import { createLocalBus, type LocalBus } from './local-bus.ts';
import { createMemoryStore } from './memory-store.ts';
import { RunTracker, traceRecord, type Progress, type RunResult } from './run-tracker.ts';
import { claimRuns, recoverRuns } from './recovery.ts';
import { engineIdentity, runOwner } from './process-identity.ts';
import { attemptEvent, createEventFactory, createIdFactory, EventBook, logOwnEvents, type AttemptEnd, type EventFactory } from './step-events.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, RESOLVED, type EngineOptions } from './engine-options.ts';
import { cancelUnstarted, checkEngineOptions, concurrencyLimits, createLocalExecutors, defaultConcurrency, jsonInput, offloadOutput, resolvePaths, settleFailures, unknownWorkflow, widestForEach } from './engine-support.ts';
import { DEFAULT_LEASE_MS } from '../../runtime/join.ts';
import { DEFAULT_GROUP_COMMIT_MS, GroupCommit } from './group-commit.ts';
import { applyEffect, effectsOf, endUpdate, type Batch, type EffectHost } from './batch-effects.ts';
import { runsRequested } from './outside-run-requests.ts';

export { DEFAULT_MAX_PAYLOAD_BYTES, defaultConcurrency, type EngineOptions, type Progress, type RunResult, type TraceRecord };

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
  /** Without a log, the ends of the last runs: the store keeps no counts (a repeated run() or wait() read zeros). */
  readonly #ended = new Map<string, Promise<RunResult>>();
  /** Upward ranks of each workflow's steps: which waiting task starts first. */
  readonly #ranks = new Map<string, Map<string, number>>();
  /** Plans as registered (paths relative to the root), stored with durable runs. */
  readonly #plans = new Map<string, TriggerPlan>();
  /** Own events not processed yet, and the log numbers of logged ones (step-events.ts). */
  readonly #book = new EventBook();
  /** Sources of outside Run Requested events warned about (they start no run: outside-run-requests.ts). */
  readonly #foreignSources = new Set<string>();
  #effects = 0;
  #skewMs = 0;
  #closing = false;
  /** Why the state could not be written: the engine stopped then, as if its process had died (see #failed). */
  #broken: Error | undefined;
  readonly #failing = new Set<RunTracker>();
  readonly #commits: GroupCommit;
  readonly #event: EventFactory;
  /** What applying an effect needs of the engine (batch-effects.ts). */
  readonly #host: EffectHost;

  constructor(options: EngineOptions = {}) {
    options ??= {};
    checkEngineOptions(options);
    this.#options = options;
    this.#clock = options.clock ?? { now: Date.now };
    const newId = createIdFactory();
    this.#event = createEventFactory(() => this.#clock.now(), newId, options.log !== undefined);
    this.store = options.store ?? createMemoryStore();
    this.#commits = new GroupCommit(() => this.store.commit(), options.groupCommitMs ?? DEFAULT_GROUP_COMMIT_MS, (e) => this.#failed(e, true));
    this.bus = createLocalBus(undefined, options.chaos);
    // After a simulated crash leases are judged a lease later, as a processor taking over would.
    this.#processor = new TriggerProcessor({ store: this.store, clock: this.#clock, newId, leaseSkewMs: () => this.#skewMs, widest: widestForEach(options) });
    this.#executors = createLocalExecutors(options);
    const limits = concurrencyLimits(options.concurrency);
    this.#lanes = new Lanes(this.#executors, new Map(EXECUTOR_KINDS.map((k) => [k, limits[k]])), {
      now: () => this.#clock.now(),
      wanted: (task) => !this.#closing && this.#runs.get(task.runId)?.wants(task) === true,
      priority: (task) => this.#ranks.get(task.workflow)?.get(task.step) ?? 0,
      started: (task, at) => this.#started(task, at),
      finished: (task, outcome, record) => this.#finished(task, outcome, record),
    });
    this.#host = {
      options, store: this.store, clock: this.#clock, lanes: this.#lanes, deadLetters: this.deadLetters, runs: this.#runs,
      tracker: (task) => this.#tracker(task.runId, this.#processor.plan(task.workflow)!),
      publish: (events) => this.#publish(events),
      endRun: (runId) => this.#endRun(runId), written: () => this.#commits.soon(),
    };
    this.bus.subscribe(null, (events) => this.#process(events).catch((e: unknown) => this.#failed(e)));
  }

  /** Registers a compiled workflow; relative paths in it are resolved against the root. */
  register(plan: TriggerPlan): void {
    if (typeof plan?.workflow !== 'string' || typeof plan.steps !== 'object' || plan.steps === null) {
      throw new UsageError('register() takes a compiled plan: compileFile(file), or compileWorkflow(definition) for a definition or a workflow() builder\'s build()');
    }
    this.#plans.set(plan.workflow, plan);
    this.#ranks.set(plan.workflow, upwardRanks(plan));
    this.#processor.register(resolvePaths(plan, this.#options.root ?? process.cwd()));
  }

  /** Runs of `workflow` this engine is executing (a new plan waits for them: see `joinflow dev`). */
  activeRuns(workflow: string): number { return [...this.#runs.values()].filter((t) => t.workflow === workflow && !t.ended).length; }
  /** Whether this engine is executing run `runId` (it started or recovered it, and it has not ended). */
  owns = (runId: string): boolean => this.#runs.get(runId)?.ended === false;
  /** Effects applied so far (what --chaos crash-at=N counts). */
  get effectsApplied(): number { return this.#effects; }

  /** Handler code may have changed (`joinflow dev`): workers started from now on import every module afresh; returns how many go. */
  refreshHandlers(): number { return [...new Set(this.#executors.values())].reduce((n, e) => n + (e.refresh?.() ?? 0), 0); }

  /** Whether a workflow of this name is registered. */
  hasWorkflow(workflow: string): boolean { return this.#plans.has(workflow); }

  /** Publishes Run Requested; returns the run id (given ones are idempotency keys). */
  async start(workflow: string, input: unknown, options: { runId?: string } = {}): Promise<string> {
    if (this.#closing) throw new UsageError(this.#broken ? `the engine has stopped: ${this.#broken.message}` : 'the engine is closed: create another to start runs');
    if (!this.#processor.plan(workflow)) throw unknownWorkflow(workflow, this.#plans.keys());
    input = jsonInput(input);
    const runId = options.runId ?? randomUUID();
    const problem = options.runId === undefined ? undefined : runIdProblem(options.runId);
    if (problem) throw new UsageError(`run id "${runId}": ${problem}`);
    if (options.runId !== undefined) {
      // A given id is an idempotency key: a run that exists is not started again.
      const existing = await this.store.getRun(runId);
      if (existing && existing.workflow !== workflow) throw new UsageError(`run id "${runId}" already belongs to workflow "${existing.workflow}"`);
      if (existing && existing.status !== 'running') return runId;
      if (existing && !this.#runs.has(runId)) {
        const owner = runOwner(this.#options.log?.runOptions(runId));
        throw new JoinflowError('RUN_ELSEWHERE', owner === undefined ? `run "${runId}" was interrupted: 'joinflow resume' (recover()) continues it` : `run "${runId}" is running in process ${owner}`);
      }
    }
    this.#adopt(runId, workflow);
    await this.#publish([this.#event(DetailType.RunRequested, { workflow, runId, input: input ?? null })]);
    return runId;
  }

  /** Publishes events from outside (PutEvents, other services), checked like any: when durable, resolves once they are on file (a crash after it loses none). */
  async publish(events: EventEnvelope[]): Promise<void> {
    // Not adopted: a request the processor will dead-letter (a bad run id, over the size limit) or ignore (another source): it would never end.
    const requested = runsRequested(events, this.#options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, this.#foreignSources);
    // An existing run is not taken over; the rows of those taken on are saved with no await before their requests are logged (gc).
    const exists = await Promise.all(requested.map(({ runId, workflow }) => !this.#plans.has(workflow) || this.#runs.has(runId) || this.store.getRun(runId)));
    requested.forEach(({ runId, workflow }, i) => !exists[i] && !this.#runs.has(runId) && this.#adopt(runId, workflow));
    const seqs = this.#options.log?.appendEvents(events);
    if (seqs) events.forEach((e, i) => this.#book.logged(e, seqs[i]!));
    await this.bus.publish(events);
    if (seqs) await this.#commits.durable();
  }

  /** Resolves when the run has ended, its running tasks have stopped, and others on the bus have been handed its events. */
  async wait(runId: string): Promise<RunResult> {
    const tracker = this.#runs.get(runId) ?? this.#ended.get(runId);
    if (tracker) return 'result' in tracker ? tracker.result : tracker;
    const record = await this.store.getRun(runId);
    if (!record) throw new UsageError(`unknown run "${runId}"`);
    if (record.status === 'running') throw new UsageError(`run "${runId}" is not being executed by this engine`);
    return RunTracker.fromRecord(record, this.#options.log);
  }

  /** Starts a run and waits for its end. */
  async run(workflow: string, input: unknown, options: { runId?: string } = {}): Promise<RunResult & { trace: TraceRecord[] }> {
    const runId = await this.start(workflow, input, options);
    const tracker = this.#runs.get(runId);
    return { ...(await this.wait(runId)), trace: tracker?.trace ?? [] };
  }

  /** Cancels a running run: nothing new starts, running tasks are stopped (SIGTERM, then SIGKILL), Run Cancelled is emitted. */
  async cancel(runId: string, reason = 'cancelled by request'): Promise<boolean> {
    const record = await this.store.getRun(runId);
    if (!record || record.status !== 'running') return false;
    if (!(await this.store.finishRun(runId, endUpdate(this.#host, runId, { status: 'cancelled', finishedAt: this.#clock.now(), error: { type: CANCELLED, message: reason } })))) return false;
    await this.#publish([this.#event(DetailType.RunCancelled, runCancelledDetail(record.workflow, runId, reason))]);
    await this.#commits.now();
    await this.#endRun(runId);
    return true;
  }

  /**
   * Continues unfinished runs (all, or `only` these) from the durable log after a restart (recovery.ts): pending events are
   * redelivered, tasks that were running run again as attempt + 1 (a crash uses up no retry), timers fire. Returns the run ids.
   */
  async recover(only?: string | readonly string[]): Promise<string[]> {
    const log = this.#options.log;
    if (!log) throw new UsageError('recover() needs a durable engine (createEngine({ log, store }))');
    const claim = { ...engineIdentity(), cancels: this.#options.runOptions?.['cancels'] === true };
    const mine = claimRuns(log, only, claim, (workflow) => this.#plans.get(workflow));
    return recoverRuns(log, mine, {
      now: () => this.#clock.now(),
      register: (plan) => {
        if (!this.#plans.has(plan.workflow)) this.register(plan);
      },
      track: (run, plan) => this.#tracker(run.runId, plan, run.startedAt),
      redeliver: (pending) => {
        for (const { seq, event } of pending) {
          this.#book.set(event, seq);
        }
        return this.bus.publish(pending.map((p) => p.event));
      },
      submit: (task) => {
        this.#tracker(task.runId, this.#processor.plan(task.workflow)!).dispatched(task);
        this.#lanes.submit(task);
      },
      schedule: (runId, delayMs, fire, waiting) => this.#runs.get(runId)?.schedule(delayMs, () => { fire(); this.#commits.soon(); }, waiting),
      commit: () => this.store.commit(),
    });
  }

  /** The trace of a run: from the durable log when there is one (it spans restarts). */
  traceOf(runId: string): TraceRecord[] {
    const logged = this.#options.log?.attempts(runId);
    return logged ? logged.flatMap(traceRecord) : (this.#runs.get(runId)?.trace ?? []);
  }

  /**
   * Stops executors (worker threads, child processes) and makes pending writes durable. Runs still going stop as if the
   * process had died: their tasks are stopped, outcomes not recorded, events left pending; `recover()` continues them.
   */
  async close(): Promise<void> {
    this.#closing = true;
    // Who waits for a run still going is told it stopped here (a durable one recover() continues).
    const stopped = new JoinflowError('ENGINE_CLOSED', this.#options.log ? 'the engine was closed before the run ended: recover() (joinflow resume) continues it' : 'the engine was closed before the run ended');
    for (const t of this.#runs.values()) if (t.ended) t.clearTimers();
    else t.abandon(stopped);
    await this.#lanes.stopAll();
    await Promise.all([...this.#executors.values()].map((e) => e.close()));
    if (!this.#broken) await this.#commits.now();
  }

  /**
   * A batch or a commit failed. The state not written (disk full, an I/O error) stops the engine as if its process had
   * died: the file keeps every commit before, from which `recover()` continues; memory, ahead of it, is dropped. Who
   * waits for a run gets the error. Any other error is reported (a commit that found the file locked is tried again).
   */
  #failed(error: unknown, grouped = false): void {
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== 'STATE_WRITE' && !(typeof code === 'string' && code.startsWith('SQLITE_') && code !== 'SQLITE_BUSY')) {
      if (grouped) process.stderr.write(`joinflow: group commit failed: ${(error as Error).message}\n`);
      else throw error;
      return;
    }
    if (this.#broken) return;
    this.#broken = this.store.abandon?.(error) ?? (error as Error);
    this.#commits.fail(this.#broken); // a publish waiting for a commit is told: a batch cut short never commits
    this.#closing = true;
    for (const t of this.#runs.values()) t.abandon(this.#broken);
    void this.#lanes.stopAll();
    this.#options.onFailure?.(this.#broken);
  }

  /** A run this engine starts: its plan is kept for resume; a new tracker (for wait()) counts it whole unless faults are simulated. */
  #adopt(runId: string, workflow: string): void {
    const known = this.#runs.has(runId); // e.g. recovered: its counts come from the log
    const tracker = this.#tracker(runId, this.#processor.plan(workflow)!);
    if (!known && !this.#options.chaos) tracker.startsHere();
    // Who runs it, for resume and status in other processes (the CLI's options name it already).
    this.#options.log?.saveRun(runId, this.#plans.get(workflow)!, { ...engineIdentity(), ...this.#options.runOptions });
  }

  #tracker(runId: string, plan: TriggerPlan, startedAt = this.#clock.now()): RunTracker {
    let t = this.#runs.get(runId);
    if (!t) {
      t = new RunTracker(runId, plan, startedAt, this.#options.timeScale ?? 1, this.#options.trace ?? false, this.#options.log);
      this.#runs.set(runId, t);
    }
    return t;
  }

  async #process(events: EventEnvelope[]): Promise<void> {
    if (this.#closing) return; // pending on file when durable: recovery delivers them again
    const batches = await effectsOf(events, {
      processor: this.#processor,
      own: this.#book,
      maxPayloadBytes: this.#options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      blobs: this.#options.blobs,
      meter: this.#options.meter,
    });
    // State effects join the batch's transaction; external ones wait for the commit (nothing leaves before it is durable).
    const batch: Batch = { after: [], dispatched: [], external: false };
    const crashAt = this.#options.chaos?.crashAt;
    let crashed = false;
    this.#commits.applying();
    apply: for (let b = 0; b < batches.length; b++) {
      const effects = batches[b]!;
      for (let e = 0; e < effects.length; e++) {
        const effect = effects[e]!;
        // Chaos: the processor "dies" right before this effect; what came before it happened.
        if (crashAt !== undefined && ++this.#effects === crashAt) {
          crashed = true;
          break apply;
        }
        const applied = applyEffect(this.#host, effect, batch);
        if (applied) await applied;
      }
    }
    // Subscriptions record their deliveries in the same transaction that marks the events done.
    if (this.#options.onEvents?.(events) === true) batch.external = true;
    const log = this.#options.log;
    this.#book.processed(log, events, crashed);
    // Group commit: when all this batch caused stays in the process, its tasks start now and its commit is shared.
    await this.#commits.applied(batch.external || crashed || !log);
    for (const fn of batch.after) await fn();
    if (this.#failing.size > 0) settleFailures(this.#failing, events, (tasks) => this.#lanes.submitAll(tasks));
    if (crashed) {
      // At-least-once delivery: the events the dead processor was handling come again.
      this.#skewMs += DEFAULT_LEASE_MS + 1;
      process.stderr.write(`joinflow: --chaos crash-at=${crashAt}: processor crashed before effect ${crashAt}; redelivering ${events.length} event(s)\n`);
      await this.bus.publish(events);
    }
  }

  async #endRun(runId: string): Promise<void> {
    const tracker = this.#runs.get(runId);
    const record = await this.store.getRun(runId);
    let end = record?.finishedAt;
    const waiting = tracker?.clearTimers() ?? [];
    if (tracker) tracker.ended = true;
    // The run's end stops what is still running (a failure's siblings: they end as cancelled), and the run ends once they
    // are gone (SIGTERM, a process's exit), not before; until then it has no end on file (endUpdate in batch-effects.ts).
    const stopped = tracker ? await this.#lanes.stopRun(runId) : 0;
    if (end === undefined || (stopped > 0 && this.#clock.now() > end)) {
      end = this.#clock.now();
      await this.store.settleRun?.(runId, end);
    }
    for (const w of waiting) tracker!.cancelWaiting(w, end);
    // Tasks that never started (queued behind a concurrency limit) end with the run, at its end, as cancelled.
    if (this.#options.log) cancelUnstarted(this.#options.log, runId, end);
    tracker?.readLog(); // before the release: until then, the log has the run's attempts in memory
    await this.store.release(runId);
    await this.#commits.now();
    if (!tracker || !record) return;
    const now = this.#clock.now();
    const finish = (): void => {
      this.#runs.delete(runId);
      tracker.finish(record as RunRecord, now);
      if (!this.#options.log && this.#ended.set(runId, tracker.result).size > 1000) this.#ended.delete(this.#ended.keys().next().value!);
    };
    // Others on the bus (subscribers, subscriptions) get the run's last events (an instant step's Started and Completed come in one batch), its end last, before wait() resolves.
    if (this.bus.subscribers > 1 || this.#options.onEvents) void this.bus.flushed().then(finish);
    else finish();
  }

  #started(task: Task, at: number): void {
    this.#runs.get(task.runId)?.started(task);
    this.#options.log?.taskStarted(task, at);
    void this.#publish([this.#event(DetailType.StepStarted, stepRefWith(task, 'startedAt', at))]);
  }

  #finished(task: Task, outcome: AttemptEnd, record: TraceRecord): void {
    if (this.#closing) return; // stopped by close(): the task runs again when the run is recovered
    const tracker = this.#runs.get(task.runId);
    const { event, retrying } = attemptEvent(task, outcome, this.#event);
    // A failure for good ends the run: until its event is handled, the run's queued tasks wait.
    if (retrying !== undefined && tracker?.failedAttempt(task, retrying)) this.#failing.add(tracker);
    if (outcome.status !== 'aborted') this.#options.meter?.execution(task, record.end - record.start);
    this.#options.log?.taskFinished(task, record.status, record.end);
    if (tracker) {
      tracker.record(record, outcome.status === 'succeeded');
      // The finishing task still holds its lane slot until this hook returns: do not count it.
      this.#options.onStep?.(task.runId, record, tracker.progress(Math.max(0, this.#lanes.runningCount(task.runId) - 1)));
    }
    if (event) this.#emit(event);
  }

  /** Publishes a step's outcome; an output over the payload limit is kept as a blob first. */
  #emit(event: EventEnvelope): void {
    const kept = offloadOutput(event, this.#options.blobs, this.#options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
    if (kept instanceof Promise) void kept.then((e) => this.#publish([e]));
    else void this.#publish([kept]);
  }

  /**
   * Publishes the engine's own events: logged (when durable), counted toward their run. With no one else on the bus, events that
   * drive no trigger (Step Started, a run's end) are only logged as processed (for `events tail`) and counted.
   */
  #publish(events: EventEnvelope[]): Promise<void> {
    const log = this.#options.log;
    if (this.bus.subscribers <= 1 && !this.#options.onEvents && !anyDrivesTriggers(events)) {
      log?.recordEvents?.(events);
      if (log) this.#commits.soon(); // no batch carries them: committed within the window
      for (const e of events) this.#count(e);
      return RESOLVED;
    }
    if (log) logOwnEvents(log, events, this.#book);
    for (const e of events) {
      this.#book.addOwn(e);
      this.#count(e);
    }
    return this.bus.publish(events);
  }

  /** Counts one of the engine's events toward its run (and the usage meter). */
  #count(e: EventEnvelope): void {
    this.#options.meter?.event(e);
    const runId = (e.detail as { runId?: unknown }).runId;
    if (typeof runId === 'string') this.#runs.get(runId)?.countEvent(e);
  }
}

/** Creates an embedded engine. */
export function createEngine(options: EngineOptions = {}): Engine {
  return new Engine(options);
}
