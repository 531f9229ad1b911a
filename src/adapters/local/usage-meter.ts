/**
 * Counts what a run would cost on AWS while it runs on the embedded engine: a TriggerStore
 * wrapper counts DynamoDB request units the way the DynamoDB store spends them, and the meter
 * counts events, rule invocations (the engine runs one processor invocation per matched rule
 * when metering, as EventBridge does) and executions.
 */
import { DetailType, type EventEnvelope } from '../../model/events.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import type { Task, TriggerStore } from '../../ports.ts';
import type { UsageCounts } from '../../cost/estimate.ts';
import { lambdaMemoryMb } from '../../cost/step-memory.ts';

/** Collects usage during runs; pass it to createEngine({ meter }) and wrap the store with meter.wrap(). */
export class UsageMeter {
  readonly dynamoDb = { writeUnits: 0, readUnits: 0, requests: 0 };
  #events = 0;
  #invocations = 0;
  #retries = 0;
  /** Lambda duration per step (`workflow NUL step`): each is billed at its own function's memory. */
  readonly #functionMs = new Map<string, number>();
  #runsEnded = 0;
  readonly #executions: Record<string, number> = {};
  /** forEach steps a run entered (`workflow NUL step`): the Map states of the Step Functions comparison. */
  readonly #mapSteps = new Set<string>();
  /** The stage's step memory (custom.joinflow.stepMemoryMb), undefined for deploy's default. */
  readonly #stepMemoryMb: number | undefined;

  /** `functionMemoryMb`: the memory deploy gives function steps' Lambdas (cli/stage-settings.ts stepMemory). */
  constructor(options: { functionMemoryMb?: number | undefined } = {}) {
    this.#stepMemoryMb = options.functionMemoryMb;
  }

  /** An event put on the bus. Step Started exists only locally (Lambda has no start hook). */
  event(e: EventEnvelope): void {
    if (e['detail-type'] !== DetailType.StepStarted) this.#events++;
    // A forEach step's aggregate completion: the one sign of a Map state entered over no items.
    const d = e.detail as { workflow?: unknown; step?: unknown; items?: unknown };
    if (e['detail-type'] === DetailType.StepCompleted && typeof d.items === 'number') this.#mapSteps.add(`${String(d.workflow)}\0${String(d.step)}`);
  }

  /** Processor invocations for one event: one per matched rule. */
  invocations(n: number): void {
    this.#invocations += n;
  }

  execution(task: Task, durationMs: number): void {
    // A placed (auto) step is what its placement makes it on AWS, whatever runs it here (a
    // Batch-placed step without a local command runs its handler in the function pool).
    const kind = task.placement === undefined ? task.executor.type : task.placement === 'lambda' ? 'function' : 'batch';
    this.#executions[kind] = (this.#executions[kind] ?? 0) + 1;
    if (task.item !== undefined) this.#mapSteps.add(`${task.workflow}\0${task.step}`);
    if (kind === 'function') {
      const key = `${task.workflow}\0${task.step}`;
      this.#functionMs.set(key, (this.#functionMs.get(key) ?? 0) + durationMs);
    }
    // A Batch job joins its run's list of jobs to stop at submission (then reads the run's status)
    // and leaves the list at its end (aws/batch-jobs.ts).
    if (kind === 'batch') {
      this.dynamoDb.writeUnits += 2;
      this.dynamoDb.readUnits += 1;
      this.dynamoDb.requests += 3;
    }
  }

  /**
   * A task put on the timer queue (a retry's backoff, a step's delay). When it is due, the timer
   * reads the run's status and claims the attempt (aws/handlers/timer.ts: a duplicate message
   * must not run it twice), then acknowledges the claim.
   */
  retry(): void {
    this.#retries++;
    this.dynamoDb.writeUnits += 2;
    this.dynamoDb.readUnits += 1;
    this.dynamoDb.requests += 3;
  }

  /** The counts so far, for a plan. */
  counts(plan: TriggerPlan): UsageCounts {
    // A stage with Batch steps reads each ended run's list of jobs to stop (one Query).
    const lists = Object.values(plan.steps).some((s) => s.executor.type === 'batch' || s.placement?.target.startsWith('batch') || s.fallback) ? this.#runsEnded : 0;
    return {
      events: this.#events,
      ruleInvocations: this.#invocations,
      dynamoDb: { writeUnits: this.dynamoDb.writeUnits, readUnits: this.dynamoDb.readUnits + lists, requests: this.dynamoDb.requests + lists },
      executions: { ...this.#executions },
      functionGbSeconds: this.#functionGbSeconds(plan),
      retries: this.#retries,
      // Only the forEach steps the run entered: one a choice skipped, or the run never reached,
      // is no Map state entered on Step Functions, and no state transition.
      mapSteps: this.#mapSteps.size,
    };
  }

  // Each step at the memory deploy gives its function, as `joinflow plan` prices it.
  #functionGbSeconds(plan: TriggerPlan): number {
    let gbs = 0;
    for (const [key, ms] of this.#functionMs) {
      const [workflow, step] = key.split('\0') as [string, string];
      const memoryMb = lambdaMemoryMb(workflow === plan.workflow ? plan.steps[step] : undefined, this.#stepMemoryMb);
      gbs += (memoryMb / 1024) * (ms / 1000);
    }
    return gbs;
  }

  /** Wraps a store so that every call is counted as the DynamoDB store would bill it. */
  wrap(inner: TriggerStore): TriggerStore {
    const d = this.dynamoDb;
    const write = (units = 1) => {
      d.writeUnits += units;
      d.requests++;
    };
    const read = (units = 1) => {
      d.readUnits += units;
      d.requests++;
    };
    // BatchGetItem: up to 100 keys a request; a strongly consistent read is 1 unit per 4 KB.
    const batchGet = (keys: readonly string[], found: Map<string, unknown>) => {
      d.requests += Math.ceil(keys.length / 100);
      for (const v of found.values()) d.readUnits += Math.max(1, Math.ceil(bytes(v) / 4096));
      d.readUnits += keys.length - found.size;
    };
    return {
      ...(inner.ordinals ? { ordinals: true } : {}),
      async startRun(run) {
        const r = await inner.startRun(run);
        write(kb(run.input));
        if (!r.created) read();
        return r;
      },
      async getRun(runId, options) {
        read();
        return inner.getRun(runId, options);
      },
      async runStatus(runId) {
        read();
        return inner.runStatus(runId);
      },
      finishRun: async (runId, update) => {
        write(kb(update.output ?? update.error ?? null));
        const finished = await inner.finishRun(runId, update);
        if (finished) this.#runsEnded++;
        return finished;
      },
      async arrive(runId, trigger, key, need, ordinal) {
        const s = await inner.arrive(runId, trigger, key, need, ordinal);
        write();
        // A duplicate fails the condition and is read back.
        if (!s.fresh) read();
        return s;
      },
      async setNeed(runId, trigger, need) {
        write();
        return inner.setNeed(runId, trigger, need);
      },
      async claim(runId, trigger, now, leaseMs) {
        const c = await inner.claim(runId, trigger, now, leaseMs);
        write();
        // A lost first claim tries the stale-claim takeover as a second conditional write.
        if (c !== 'won') write();
        return c;
      },
      async markDispatched(runId, trigger, now) {
        write();
        return inner.markDispatched(runId, trigger, now);
      },
      async saveResult(runId, key, output) {
        write(kb(output));
        return inner.saveResult(runId, key, output);
      },
      async getResults(runId, keys) {
        const found = await inner.getResults(runId, keys);
        batchGet(keys, found);
        return found;
      },
      async savedKeys(runId, keys) {
        // DynamoDB bills a read that projects the keys alone by the size of the whole items: the
        // values are read here (from the local store) only to size them.
        const found = await inner.getResults(runId, keys);
        batchGet(keys, found);
        return new Set(found.keys());
      },
      commit: () => inner.commit(),
      release: (runId) => inner.release(runId),
      ...(inner.abandon ? { abandon: (error: unknown) => inner.abandon!(error) } : {}),
      // Not metered: the engine on AWS has no such write (it does not wait for what a run's end stops).
      ...(inner.settleRun ? { settleRun: (runId: string, finishedAt: number) => inner.settleRun!(runId, finishedAt) } : {}),
    };
  }
}

function bytes(v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v ?? null));
}

/** Write units of an item holding `v`: 1 per KB, at least 1. */
function kb(v: unknown): number {
  return Math.max(1, Math.ceil(bytes(v) / 1024));
}
