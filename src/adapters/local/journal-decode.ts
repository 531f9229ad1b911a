/**
 * Reading the journal's rows (journal-codec.ts writes them): each fact reported in order, with
 * tasks and the engine's step events rebuilt exactly as they were written.
 */
import { JOINFLOW_SOURCE, type EventEnvelope } from '../../model/events.ts';
import type { Task } from '../../ports.ts';
import type { TaskEntry } from './durable-log.ts';
import { Fact, STATUS, STEP_TYPES, TaskFlag, type NameTable } from './journal-codec.ts';

/** What decoding a row reports, fact by fact, in order. */
export type RowVisitor = {
  arrive?(trigger: string, key: string, need: number | undefined): void;
  need?(trigger: string, need: number): void;
  claim?(trigger: string, at: number): void;
  dispatched?(trigger: string, at: number): void;
  result?(key: string, output: unknown): void;
  task?(task: Task): void;
  started?(step: string, item: number | undefined, attempt: number, at: number): void;
  finished?(step: string, item: number | undefined, attempt: number, status: TaskEntry['status'], at: number): void;
  event?(seq: number, event: EventEnvelope, processed: boolean): void;
  processed?(seq: number): void;
};

/**
 * Decodes a row of run `runId` (whose input is `input`), calling `visit` for each fact. `table`
 * holds the run's names of its earlier rows (a fresh one for a row of no run) and gains this
 * row's.
 */
export function readRow(runId: string | null, input: unknown, text: string, table: NameTable, visit: RowVisitor): void {
  const [base, defined, objects, t0, id0, f] = JSON.parse(text) as [number, string[], unknown[], number, number, unknown[]];
  table.define(base, defined);
  const names = table.list;
  const num = (i: number) => f[i] as number;
  const time = (i: number) => t0 + (f[i] as number);
  const name = (i: number) => names[f[i] as number]!;
  const opt = (i: number) => ((f[i] as number) < 0 ? undefined : (f[i] as number));
  let i = 0;
  while (i < f.length) {
    const code = f[i] as number;
    switch (code) {
      case Fact.Arrive:
        visit.arrive?.(name(i + 1), name(i + 2), opt(i + 3));
        i += 4;
        break;
      case Fact.Need:
        visit.need?.(name(i + 1), num(i + 2));
        i += 3;
        break;
      case Fact.Claim:
        visit.claim?.(name(i + 1), time(i + 2));
        i += 3;
        break;
      case Fact.Dispatched:
        visit.dispatched?.(name(i + 1), time(i + 2));
        i += 3;
        break;
      case Fact.Result:
        visit.result?.(name(i + 1), f[i + 2]);
        i += 3;
        break;
      case Fact.Task: {
        const [task, next] = decodeTask(runId!, input, names, objects, f, i);
        visit.task?.(task);
        i = next;
        break;
      }
      case Fact.TaskJson:
        visit.task?.(f[i + 1] as Task);
        i += 2;
        break;
      case Fact.Started:
        visit.started?.(name(i + 1), opt(i + 2), num(i + 3), time(i + 4));
        i += 5;
        break;
      case Fact.Finished:
        visit.finished?.(name(i + 1), opt(i + 2), num(i + 3), STATUS[num(i + 4)]!, time(i + 5));
        i += 6;
        break;
      case Fact.EventJson:
        visit.event?.(num(i + 1), f[i + 3] as EventEnvelope, f[i + 2] === 1);
        i += 4;
        break;
      case Fact.StepEvent: {
        const [event, next] = decodeStepEvent(runId!, names, f, i, t0, id0);
        visit.event?.(num(i + 1), event, (num(i + 2) & 1) === 1);
        i = next;
        break;
      }
      case Fact.Processed:
        visit.processed?.(num(i + 1));
        i += 2;
        break;
      default:
        throw new Error(`journal row of run ${runId ?? '(none)'}: unknown fact code ${String(code)} at ${i}`);
    }
  }
}

/** A Task fact at `i`: the task (in makeTask's key order) and where the next fact starts. */
function decodeTask(runId: string, input: unknown, names: readonly string[], objects: unknown[], f: unknown[], i: number): [Task, number] {
  const flags = f[i + 1] as number;
  let j = i + 7;
  let item: number | undefined;
  let itemValue: unknown;
  if (flags & TaskFlag.Item) {
    item = f[j++] as number;
    itemValue = f[j++];
  }
  const timeoutMs = flags & TaskFlag.Timeout ? (f[j++] as number) : undefined;
  const placement = flags & TaskFlag.Placement ? names[f[j++] as number] : undefined;
  const files = flags & TaskFlag.Files ? objects[f[j++] as number] : undefined;
  const eventInput = flags & TaskFlag.Input ? f[j++] : input;
  const results: Record<string, unknown> = {};
  const n = f[j++] as number;
  for (let k = 0; k < n; k++, j += 2) results[names[f[j] as number]!] = f[j + 1];
  const workflow = names[f[i + 2] as number]!;
  const step = names[f[i + 3] as number]!;
  const attempt = f[i + 4] as number;
  const maxAttempts = f[i + 5] as number;
  const executor = objects[f[i + 6] as number] as Task['executor'];
  // Field by field in makeTask's order (runtime/tasks.ts), so the task reads back the same.
  const task: Task =
    item !== undefined
      ? { workflow, runId, step, item, attempt, maxAttempts, executor, event: { input: eventInput, results, item: itemValue, index: item } }
      : { workflow, runId, step, attempt, maxAttempts, executor, event: { input: eventInput, results } };
  if (timeoutMs !== undefined) task.timeoutMs = timeoutMs;
  if (placement !== undefined) task.placement = placement as Task['placement'];
  if (flags & TaskFlag.Fallback) task.fallback = 'batch';
  if (files !== undefined) task.files = files as Task['files'];
  return [task, j];
}

/** A StepEvent fact at `i`: the envelope and where the next fact starts. */
function decodeStepEvent(runId: string, names: readonly string[], f: unknown[], i: number, t0: number, id0: number): [EventEnvelope, number] {
  const flags = f[i + 2] as number;
  const detail: Record<string, unknown> = { workflow: names[f[i + 6] as number]!, runId, step: names[f[i + 7] as number]!, attempt: f[i + 8] as number };
  let j = i + 9;
  if (flags & 8) detail['item'] = f[j++];
  if (flags & 16) detail['placement'] = names[f[j++] as number];
  const rest = f[j++] as number;
  for (let k = 0; k < rest; k++, j += 2) detail[names[f[j] as number]!] = f[j + 1];
  const event: EventEnvelope = {
    id: names[f[i + 3] as number]! + (id0 + (f[i + 4] as number)).toString(16).padStart(12, '0'),
    source: JOINFLOW_SOURCE,
    'detail-type': STEP_TYPES[(flags >> 1) & 3]!,
    time: new Date(t0 + (f[i + 5] as number)).toISOString(),
    detail,
  };
  return [event, j];
}
