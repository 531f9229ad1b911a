/**
 * Drives the trigger processor directly, standing in for bus and executors, with at-least-once
 * faults: each event delivered 1..maxCopies times and taken from a shuffled window.
 */
import { createRandom } from '../../src/adapters/local/chaos.ts';
import { createMemoryStore } from '../../src/adapters/local/memory-store.ts';
import { DetailType, type EventEnvelope } from '../../src/model/events.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import type { Task, TriggerStore } from '../../src/ports.ts';
import { TriggerProcessor } from '../../src/runtime/processor.ts';

/** What a fake executor does with a task: return an output, or fail. */
export type Behaviour = (task: Task) => { output: unknown } | { error: string; retriable?: boolean };

export type DriveOptions = {
  maxCopies?: number;
  window?: number;
  seed?: number;
  runId?: string;
  /** The store the processor runs on (default: a fresh memory store). */
  store?: TriggerStore;
};

export type DriveResult = {
  status: string | undefined;
  output: unknown;
  /** Executions per `step#item@attempt`. */
  executions: Map<string, number>;
  /** Fires per trigger id (from acks). */
  fires: Map<string, number>;
  deadLetters: string[];
  store: TriggerStore;
  /**
   * The most items of each forEach step running at once: an item runs from its dispatch until the
   * processor has taken in its end for good (its result, or a failure not retried).
   */
  widest: Map<string, number>;
};

/** The seeded generator the chaos bus uses, so a failing order can be replayed. */
export const rng = createRandom;

let ids = 0;
export function event(type: string, detail: Record<string, unknown>): EventEnvelope {
  return { id: `e${++ids}`, source: 'joinflow', 'detail-type': type, time: new Date(0).toISOString(), detail };
}

export function outcomeEvent(task: Task, behaviour: Behaviour): EventEnvelope {
  const result = behaviour(task);
  const ref = { workflow: task.workflow, runId: task.runId, step: task.step, attempt: task.attempt, ...(task.item === undefined ? {} : { item: task.item }) };
  if ('output' in result) return event(DetailType.StepCompleted, { ...ref, output: result.output });
  const retrying = (result.retriable ?? true) && task.attempt < task.maxAttempts;
  return event(DetailType.StepFailed, { ...ref, error: { type: 'Error', message: result.error }, retrying });
}

export async function drive(plans: TriggerPlan[], start: Array<{ workflow: string; runId: string; input: unknown }>, behaviour: Behaviour, options: DriveOptions = {}): Promise<Map<string, DriveResult>> {
  const random = rng(options.seed ?? 1);
  const maxCopies = options.maxCopies ?? 1;
  const window = options.window ?? 1;
  const store = options.store ?? createMemoryStore();
  const processor = new TriggerProcessor({ store, clock: { now: () => 0 }, newId: () => `p${++ids}` });
  for (const p of plans) processor.register(p);
  const results = new Map<string, DriveResult>();
  for (const s of start) {
    results.set(s.runId, { status: undefined, output: undefined, executions: new Map(), fires: new Map(), deadLetters: [], store, widest: new Map() });
  }
  const running = new Map<string, Set<number>>();
  const ended = (e: EventEnvelope): void => {
    const d = e.detail as { runId: string; step: string; item?: number; retrying?: boolean };
    const done = e['detail-type'] === DetailType.StepCompleted || (e['detail-type'] === DetailType.StepFailed && d.retrying === false);
    if (done && d.item !== undefined) running.get(`${d.runId}/${d.step}`)?.delete(d.item);
  };
  const queue: EventEnvelope[] = [];
  const enqueue = (e: EventEnvelope) => {
    const copies = 1 + Math.floor(random() * maxCopies);
    for (let i = 0; i < copies; i++) queue.push(e);
  };
  for (const s of start) enqueue(event(DetailType.RunRequested, { workflow: s.workflow, runId: s.runId, input: s.input }));
  while (queue.length > 0) {
    const i = Math.floor(random() * Math.min(window, queue.length));
    const e = queue.splice(i, 1)[0]!;
    ended(e);
    const effects = await processor.process(e);
    for (const effect of effects) {
      const runId = (effect as { runId?: string }).runId ?? (effect as { task?: Task }).task?.runId ?? (effect as { tasks?: Task[] }).tasks?.[0]?.runId;
      const r = runId ? results.get(runId) : undefined;
      switch (effect.type) {
        case 'dispatch':
        case 'schedule':
          for (const task of effect.type === 'dispatch' ? effect.tasks : [effect.task]) {
            const key = `${task.step}#${task.item ?? ''}@${task.attempt}`;
            r!.executions.set(key, (r!.executions.get(key) ?? 0) + 1);
            if (task.item !== undefined) {
              const items = running.get(`${task.runId}/${task.step}`) ?? new Set<number>();
              running.set(`${task.runId}/${task.step}`, items.add(task.item));
              r!.widest.set(task.step, Math.max(r!.widest.get(task.step) ?? 0, items.size));
            }
            enqueue(outcomeEvent(task, behaviour));
          }
          break;
        case 'publish':
          for (const pe of effect.events) {
            const d = pe.detail as { runId: string; output?: unknown };
            if (pe['detail-type'] === DetailType.RunSucceeded || pe['detail-type'] === DetailType.RunFailed) {
              const rr = results.get(d.runId)!;
              rr.status = pe['detail-type'];
              rr.output = d.output;
            }
            enqueue(pe);
          }
          break;
        case 'ack':
          r!.fires.set(effect.trigger, (r!.fires.get(effect.trigger) ?? 0) + 1);
          await store.markDispatched(effect.runId, effect.trigger, 0);
          break;
        case 'dead-letter':
          for (const rr of results.values()) rr.deadLetters.push(effect.reason);
          break;
        case 'finish-run':
          if (await store.finishRun(effect.runId, effect.update)) {
            for (const pe of effect.events) {
              const rr = results.get((pe.detail as { runId: string }).runId)!;
              rr.status = pe['detail-type'];
              rr.output = (pe.detail as { output?: unknown }).output;
              enqueue(pe);
            }
          }
          break;
      }
    }
  }
  return results;
}
