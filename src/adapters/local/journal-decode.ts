/**
 * Reading the journal's rows (journal-codec.ts writes them): each fact reported in order, with
 * tasks and the engine's step events rebuilt exactly as they were written. Reads both forms of
 * a row: bytes (journal-bytes.ts, schemas 4 to 6) and the JSON text of schema 3, whose facts are
 * the same fields in the same order. A Run Requested written without its input (schema 6) gets
 * the run's back.
 */
import { JOINFLOW_SOURCE, type EventEnvelope } from '../../model/events.ts';
import type { Task } from '../../ports.ts';
import type { TaskEntry } from './durable-log.ts';
import { splitRow } from './journal-bytes.ts';
import { EventFlag, Fact, STATUS, STEP_TYPES, TaskFlag } from './journal-codec.ts';
import type { NameTable } from './journal-names.ts';
import { JoinflowError } from '../../model/errors.ts';
import { StateDamagedError } from './sqlite-schema.ts';

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

/** A row as stored: bytes, or JSON text (schema 3). */
export type StoredRow = Uint8Array | string;

/** The fields of a row's facts, in order: unsigned integers, numbers and any values. */
type Fields = { readonly at: number; more(): boolean; u(): number; s(): number; v(): unknown };

/** The facts of a schema-3 row: a JSON list. */
class JsonFields implements Fields {
  at = 0;
  readonly #f: unknown[];
  constructor(f: unknown[]) {
    this.#f = f;
  }
  more(): boolean {
    return this.at < this.#f.length;
  }
  u(): number {
    return this.#f[this.at++] as number;
  }
  s(): number {
    return this.#f[this.at++] as number;
  }
  v(): unknown {
    return this.#f[this.at++];
  }
}

type Head = { base: number; names: string[]; objects: unknown[]; t0: number; id0: number };

function open(row: StoredRow): { head: Head; f: Fields } {
  if (typeof row === 'string') {
    const [base, names, objects, t0, id0, facts] = JSON.parse(row) as [number, string[], unknown[], number, number, unknown[]];
    return { head: { base, names, objects, t0, id0 }, f: new JsonFields(facts) };
  }
  const { head, facts } = splitRow(row);
  const [base, names, objects, t0, id0] = head as [number, string[], unknown[], number, number];
  return { head: { base, names, objects, t0, id0 }, f: facts };
}

/** The names a row defines and the number of the first: what a run's name table needs of it. */
export function rowNames(row: StoredRow, runId: string | null = null): { base: number; names: string[] } {
  try {
    return namesOf(row);
  } catch (error) {
    throw damaged(runId, error);
  }
}

function namesOf(row: StoredRow): { base: number; names: string[] } {
  if (typeof row === 'string') {
    const [base, names] = JSON.parse(row) as [number, string[]];
    return { base, names };
  }
  const [base, names] = splitRow(row).head as [number, string[]];
  return { base, names };
}

/**
 * Decodes a row of run `runId` (whose input is `input`, as its row has it: tasks and its Run
 * Requested events may be written without it), calling `visit` for each fact. `table`
 * holds the run's names of its earlier rows (a fresh one for a row of no run) and gains this
 * row's.
 */
export function readRow(runId: string | null, input: unknown, row: StoredRow, table: NameTable, visit: RowVisitor): void {
  try {
    decodeRow(runId, input, row, table, visit);
  } catch (error) {
    throw damaged(runId, error);
  }
}

/**
 * A row that cannot be decoded: bytes changed on disk. A JoinflowError (a plan deleted under
 * the run) and what the visitor throws pass as they are.
 */
function damaged(runId: string | null, error: unknown): unknown {
  if (error instanceof JoinflowError || !(error instanceof SyntaxError || error instanceof RangeError || error instanceof TypeError || /^journal row/.test((error as Error)?.message ?? ''))) return error;
  return new StateDamagedError(`a journal row of ${runId === null ? 'no run' : `run ${runId}`}`, error);
}

function decodeRow(runId: string | null, input: unknown, row: StoredRow, table: NameTable, visit: RowVisitor): void {
  const { head, f } = open(row);
  table.define(head.base, head.names);
  const names = table.list;
  const { t0 } = head;
  const name = () => {
    const n = f.u();
    const s = names[n];
    if (s === undefined) throw new Error(`journal row of run ${runId ?? '(none)'}: name ${n} is not defined (field ${f.at - 1})`);
    return s;
  };
  const opt = () => {
    const x = f.s();
    return x < 0 ? undefined : x;
  };
  while (f.more()) {
    const at = f.at;
    const code = f.u();
    // Every field is read before the visitor is called: `visit.x?.(...)` does not evaluate
    // its arguments when the visitor has no `x`, and the fields must be read in any case.
    switch (code) {
      case Fact.Arrive: {
        const trigger = name();
        const key = name();
        const need = opt();
        visit.arrive?.(trigger, key, need);
        break;
      }
      case Fact.Need: {
        const trigger = name();
        const need = f.s();
        visit.need?.(trigger, need);
        break;
      }
      case Fact.Claim: {
        const trigger = name();
        const t = t0 + f.s();
        visit.claim?.(trigger, t);
        break;
      }
      case Fact.Dispatched: {
        const trigger = name();
        const t = t0 + f.s();
        visit.dispatched?.(trigger, t);
        break;
      }
      case Fact.Result: {
        const key = name();
        const output = f.v();
        visit.result?.(key, output);
        break;
      }
      case Fact.Task: {
        const task = decodeTask(runId!, input, names, head.objects, t0, f);
        visit.task?.(task);
        break;
      }
      case Fact.TaskJson: {
        const task = f.v() as Task;
        visit.task?.(task);
        break;
      }
      case Fact.Started: {
        const step = name();
        const item = opt();
        const attempt = f.s();
        const t = t0 + f.s();
        visit.started?.(step, item, attempt, t);
        break;
      }
      case Fact.Finished: {
        const step = name();
        const item = opt();
        const attempt = f.s();
        const status = STATUS[f.u()]!;
        const t = t0 + f.s();
        visit.finished?.(step, item, attempt, status, t);
        break;
      }
      case Fact.EventJson: {
        const seq = f.u();
        const flags = f.u();
        const event = f.v() as EventEnvelope;
        // The event is this row's own copy (its values are parsed anew on each read).
        if (flags & EventFlag.RunInput) event.detail.input = input;
        visit.event?.(seq, event, (flags & EventFlag.Processed) !== 0);
        break;
      }
      case Fact.StepEvent: {
        const seq = f.u();
        const flags = f.u();
        const event = decodeStepEvent(runId!, names, f, flags, head);
        visit.event?.(seq, event, (flags & 1) === 1);
        break;
      }
      case Fact.Processed: {
        const seq = f.u();
        visit.processed?.(seq);
        break;
      }
      default:
        throw new Error(`journal row of run ${runId ?? '(none)'}: unknown fact code ${String(code)} at field ${at}`);
    }
  }
}

/** A Task fact's fields: the task, in makeTask's key order. */
function decodeTask(runId: string, input: unknown, names: readonly string[], objects: unknown[], t0: number, f: Fields): Task {
  const flags = f.u();
  const workflow = names[f.u()]!;
  const step = names[f.u()]!;
  const attempt = f.s();
  const maxAttempts = f.s();
  const executor = objects[f.u()] as Task['executor'];
  let item: number | undefined;
  let itemValue: unknown;
  if (flags & TaskFlag.Item) {
    item = f.s();
    itemValue = f.v();
  }
  const timeoutMs = flags & TaskFlag.Timeout ? f.s() : undefined;
  const placement = flags & TaskFlag.Placement ? names[f.u()] : undefined;
  const files = flags & TaskFlag.Files ? objects[f.u()] : undefined;
  const eventInput = flags & TaskFlag.Input ? f.v() : input;
  const runStartedAt = flags & TaskFlag.RunStartedAt ? t0 + f.s() : undefined;
  const results: Record<string, unknown> = {};
  const n = f.u();
  for (let k = 0; k < n; k++) {
    const key = names[f.u()]!;
    results[key] = f.v();
  }
  // Field by field in makeTask's order (runtime/tasks.ts), so the task reads back the same.
  const task: Task =
    item !== undefined
      ? { workflow, runId, step, item, attempt, maxAttempts, executor, event: { input: eventInput, results, item: itemValue, index: item } }
      : { workflow, runId, step, attempt, maxAttempts, executor, event: { input: eventInput, results } };
  if (timeoutMs !== undefined) task.timeoutMs = timeoutMs;
  if (placement !== undefined) task.placement = placement as Task['placement'];
  if (flags & TaskFlag.Fallback) task.fallback = 'batch';
  if (files !== undefined) task.files = files as Task['files'];
  if (runStartedAt !== undefined) task.runStartedAt = runStartedAt;
  return task;
}

/** A StepEvent fact's fields after its flags: the envelope. */
function decodeStepEvent(runId: string, names: readonly string[], f: Fields, flags: number, head: Head): EventEnvelope {
  const prefix = names[f.u()]!;
  const counter = head.id0 + f.s();
  const time = head.t0 + f.s();
  const detail: Record<string, unknown> = { workflow: names[f.u()]!, runId, step: names[f.u()]!, attempt: f.s() };
  if (flags & 8) detail['item'] = f.s();
  if (flags & 16) detail['placement'] = names[f.u()];
  const rest = f.u();
  for (let k = 0; k < rest; k++) {
    const key = names[f.u()]!;
    detail[key] = f.v();
  }
  return {
    id: prefix + counter.toString(16).padStart(12, '0'),
    source: JOINFLOW_SOURCE,
    'detail-type': STEP_TYPES[(flags >> 1) & 3]!,
    time: new Date(time).toISOString(),
    detail,
  };
}
