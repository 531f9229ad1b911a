/**
 * The facts of the journal store (journal-state.ts): every change the engine makes to a run's
 * joins, results, tasks and events, written as one compact row per run per commit instead of a
 * row per task and per event. A row is a head `[base, names, objects, t0, id0, values]` and the
 * facts, in bytes (journal-bytes.ts):
 * - names (steps, triggers, keys, event id prefixes) are numbered per run, across its rows: a row
 *   lists only the names first used in it, numbered from `base` on, so a run's rows are read in
 *   order (rows of no run number their names from 0 each);
 * - objects (executors, file lists, shared by identity) are listed once per row;
 * - times are milliseconds after `t0`, and event id counters are counted from `id0`, so that
 *   most numbers take a byte or two;
 * - values (outputs, inputs, items that are strings or objects) are listed in the head as JSON;
 *   null, booleans and numbers are written inline.
 * Facts are flat: a code, then a fixed list of fields for that code (or a counted list). Tasks
 * and the engine's own step events are encoded field by field and rebuilt on reading; anything
 * of another shape is kept as JSON. Rows of schema 3 were the same list as JSON text
 * (`[base, names, objects, t0, id0, facts]`); journal-decode.ts reads both.
 *
 * A run's Run Requested event whose input is the run's (the same value, in the run's row of the
 * same commit or an earlier one) is written without it, flagged {@link EventFlag.RunInput}: a
 * large input is kept once, in the run's row, and put back on reading (schema 6; before, every
 * event was written whole).
 */
import { DetailType, JOINFLOW_SOURCE, runIdCommand, type EventEnvelope } from '../../model/events.ts';
import type { Task } from '../../ports.ts';
import type { TaskEntry } from './durable-log.ts';
import { ByteWriter } from './journal-bytes.ts';
import { NameTable } from './journal-names.ts';
import { forgetMade, madeCounter, madePrefix, madeSlot } from './step-events.ts';

/** Fact codes. Store: joins and results. Log: tasks and events. */
export const Fact = {
  Arrive: 1,
  Need: 2,
  Claim: 3,
  Dispatched: 4,
  Result: 5,
  Task: 10,
  TaskJson: 11,
  Started: 12,
  Finished: 13,
  EventJson: 20,
  StepEvent: 21,
  Processed: 22,
} as const;

/** The flags of an EventJson fact: processed, and whether its `detail.input` is the run's (schema 6; not written). */
export const EventFlag = { Processed: 1, RunInput: 2 } as const;

/** Which optional fields a Task fact carries, in this order after its fixed ones. */
export const TaskFlag = { Item: 1, Timeout: 2, Placement: 4, Fallback: 8, Files: 16, Input: 32, RunStartedAt: 64 } as const;

// Appended only: the codes are on file. `skipped` came with choices (`when`).
export const STATUS: ReadonlyArray<TaskEntry['status']> = ['succeeded', 'failed', 'cancelled', 'dispatched', 'started', 'skipped'];
const STATUS_CODE = new Map(STATUS.map((s, i) => [s, i]));
export const STEP_TYPES = ['Step Started', 'Step Completed', 'Step Failed'];
const STEP_TYPE_CODE = new Map(STEP_TYPES.map((t, i) => [t, i]));
/** Event ids of the engine (step-events.ts): 24 characters of prefix, 12 hex digits of counter. */
const ID_PREFIX = 24;
const REF_KEYS = ['workflow', 'runId', 'step', 'attempt', 'item', 'placement'];

/** The facts of one run (or of no run) gathered for the next commit, as bytes (journal-bytes.ts). */
export class RowWriter extends ByteWriter {
  readonly runId: string | null;
  readonly #names: NameTable;
  readonly #base: number;
  readonly #objects = new Map<object, number>();
  readonly #objectList: unknown[] = [];
  minSeq = 0;
  maxSeq = 0;
  /** Times are written as ms after t0 (the first in the row); id counters after id0. */
  t0 = -1;
  #id0 = -1;
  // Cache of the last event time parsed: events are made many per millisecond.
  #iso = '';
  #ms = 0;
  #prefix = '\u0000';
  #prefixName = -1;
  /** Run Requested events of this row, by pairs: where the flags are, the number of the value. */
  #requests: number[] | undefined;
  /** The input of the run as it was started in this commit (undefined: not started in it). */
  runInput: unknown;

  constructor(runId: string | null, names: NameTable, buf?: Buffer) {
    super(buf);
    this.runId = runId;
    this.#names = names;
    this.#base = names.list.length;
  }

  name(s: string): number {
    return this.#names.number(s);
  }

  /** A time as written: ms after the row's first. */
  time(t: number): number {
    if (this.t0 < 0) this.t0 = t;
    return t - this.t0;
  }

  #object(o: object): number {
    let n = this.#objects.get(o);
    if (n === undefined) {
      n = this.#objectList.length;
      this.#objects.set(o, n);
      this.#objectList.push(o);
    }
    return n;
  }

  /** A join's arrival (and its need, when this arrival brought it; -1: none). */
  arrive(trigger: string, key: string, need: number | undefined): void {
    this.u(Fact.Arrive);
    this.u(this.name(trigger));
    this.u(this.name(key));
    this.s(need ?? -1);
  }

  need(trigger: string, need: number): void {
    this.u(Fact.Need);
    this.u(this.name(trigger));
    this.s(need);
  }

  claim(trigger: string, at: number): void {
    this.u(Fact.Claim);
    this.u(this.name(trigger));
    this.s(this.time(at));
  }

  dispatched(trigger: string, at: number): void {
    this.u(Fact.Dispatched);
    this.u(this.name(trigger));
    this.s(this.time(at));
  }

  result(key: string, output: unknown): void {
    this.u(Fact.Result);
    this.u(this.name(key));
    this.v(output);
  }

  /** A task; `input` is its run's input, which most tasks carry unchanged (written as a flag). */
  task(task: Task, input: unknown): void {
    const ev = task.event as { input?: unknown; results?: unknown; item?: unknown; index?: unknown };
    // The task as the processor makes it (runtime/tasks.ts): its seven fields of the right types,
    // and as many more keys as it has optional fields set, so no key of another name.
    if (typeof task.workflow !== 'string' || task.runId !== this.runId || typeof task.step !== 'string' || typeof task.attempt !== 'number' || typeof task.maxAttempts !== 'number' || typeof task.executor !== 'object' || task.executor === null || typeof ev !== 'object' || ev === null) {
      return this.#taskJson(task);
    }
    let keys = 0;
    for (const _ in task) keys++;
    let eventKeys = 0;
    for (const _ in ev) eventKeys++;
    const item = task.item;
    if (eventKeys !== (item === undefined ? 2 : 4) || typeof ev.results !== 'object' || ev.results === null || Array.isArray(ev.results) || (item !== undefined && ev.index !== item)) return this.#taskJson(task);
    const expected = 7 + (item !== undefined ? 1 : 0) + (task.timeoutMs !== undefined ? 1 : 0) + (task.placement !== undefined ? 1 : 0) + (task.fallback !== undefined ? 1 : 0) + (task.files !== undefined ? 1 : 0) + (task.runStartedAt !== undefined ? 1 : 0);
    if (keys !== expected) return this.#taskJson(task);
    const sameInput = ev.input === input;
    // Flags say which optional fields follow (TaskFlag); most tasks have none of them.
    const flags =
      (item !== undefined ? TaskFlag.Item : 0) | (task.timeoutMs !== undefined ? TaskFlag.Timeout : 0) | (task.placement !== undefined ? TaskFlag.Placement : 0) |
      (task.fallback !== undefined ? TaskFlag.Fallback : 0) | (task.files !== undefined ? TaskFlag.Files : 0) | (sameInput ? 0 : TaskFlag.Input) |
      (task.runStartedAt !== undefined ? TaskFlag.RunStartedAt : 0);
    this.u(Fact.Task);
    this.u(flags);
    this.u(this.name(task.workflow));
    this.u(this.name(task.step));
    this.s(task.attempt);
    this.s(task.maxAttempts);
    this.u(this.#object(task.executor));
    if (item !== undefined) {
      this.s(item);
      this.v(ev.item);
    }
    if (task.timeoutMs !== undefined) this.s(task.timeoutMs);
    if (task.placement !== undefined) this.u(this.name(task.placement));
    if (task.files !== undefined) this.u(this.#object(task.files));
    if (!sameInput) this.v(ev.input);
    if (task.runStartedAt !== undefined) this.s(this.time(task.runStartedAt));
    // The results by name: their keys are step names, long and already numbered.
    // Object.keys, not for-in: the processor makes results without a prototype (a dictionary),
    // over which for-in is several times slower.
    const results = ev.results as Record<string, unknown>;
    const names = Object.keys(results);
    let n = 0;
    for (let i = 0; i < names.length; i++) if (results[names[i]!] !== undefined) n++;
    this.u(n);
    for (let i = 0; i < names.length; i++) {
      const k = names[i]!;
      const v = results[k];
      if (v === undefined) continue;
      this.u(this.name(k));
      this.v(v);
    }
  }

  #taskJson(task: Task): void {
    this.u(Fact.TaskJson);
    this.v(task);
  }

  started(task: Task, at: number): void {
    this.u(Fact.Started);
    this.u(this.name(task.step));
    this.s(task.item ?? -1);
    this.s(task.attempt);
    this.s(this.time(at));
  }

  finished(task: Task, status: TaskEntry['status'], at: number): void {
    this.u(Fact.Finished);
    this.u(this.name(task.step));
    this.s(task.item ?? -1);
    this.s(task.attempt);
    this.u(STATUS_CODE.get(status)!);
    this.s(this.time(at));
  }

  /**
   * An event with its sequence number; `processed` when it needs no processing (Step Started).
   * Returns where its processed flag is, for {@link processedAt}.
   */
  event(seq: number, event: EventEnvelope, processed: boolean): number {
    if (this.minSeq === 0) this.minSeq = seq;
    this.maxSeq = seq;
    const flag = this.#stepEvent(seq, event, processed);
    if (flag >= 0) return flag;
    this.u(Fact.EventJson);
    this.u(seq);
    const at = this.length;
    this.u(processed ? EventFlag.Processed : 0);
    // Whether its input is the run's is known when the row is written (markRunInput): the run
    // is started after its request is logged, most often in the same commit.
    if (event['detail-type'] === DetailType.RunRequested) (this.#requests ??= []).push(at, this.own(event));
    else this.v(event);
    return at;
  }

  /** Marks an event of this row processed in place (no Processed fact needed). */
  processedAt(flag: number): void {
    this.setBits(flag, EventFlag.Processed);
  }

  /** Whether the row has Run Requested events (for {@link markRunInput}). */
  get requested(): boolean {
    return this.#requests !== undefined;
  }

  /**
   * Before the row is written: its Run Requested events whose `detail.input` is `input`, the
   * input in the run's row (in this commit or an earlier one), are written without it (a null
   * in its place keeps the keys' order) and flagged; one with another input keeps its own.
   */
  markRunInput(input: unknown): void {
    const r = this.#requests;
    // undefined: the run's input is not known here (no run has it).
    if (r === undefined || input === undefined) return;
    for (let i = 0; i < r.length; i += 2) {
      const e = this.value(r[i + 1]!) as EventEnvelope;
      const d = e.detail as unknown;
      if (typeof d !== 'object' || d === null || !('input' in d) || d.input !== input) continue;
      this.replaceValue(r[i + 1]!, { ...e, detail: { ...e.detail, input: null } });
      this.setBits(r[i]!, EventFlag.RunInput);
    }
  }

  processed(seq: number): void {
    this.u(Fact.Processed);
    this.u(seq);
  }

  /**
   * A Step Started/Completed/Failed envelope as the engine makes it, field by field: returns
   * where its flags are; -1 (nothing written) for an envelope of another shape.
   */
  #stepEvent(seq: number, e: EventEnvelope, processed: boolean): number {
    const type = STEP_TYPE_CODE.get(e['detail-type']);
    const id = e.id;
    if (type === undefined || e.source !== JOINFLOW_SOURCE || typeof id !== 'string' || id.length !== ID_PREFIX + 12) return -1;
    let n = 0;
    for (const _ in e) n++;
    if (n !== 5) return -1;
    // The counter: 12 lowercase hex digits, as the engine's id factory writes them. An envelope
    // the engine has just made comes with its prefix and counter.
    const slot = madeSlot(e);
    let counter = 0;
    if (slot >= 0) {
      counter = madeCounter(slot);
      const prefix = madePrefix(slot);
      forgetMade(slot);
      if (prefix !== this.#prefix) {
        this.#prefix = prefix;
        this.#prefixName = this.name(prefix);
      }
    } else {
      for (let i = ID_PREFIX; i < ID_PREFIX + 12; i++) {
        const c = id.charCodeAt(i);
        const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
        if (digit < 0) return -1;
        counter = counter * 16 + digit;
      }
    }
    if (e.time !== this.#iso) {
      const ms = Date.parse(e.time);
      if (!Number.isFinite(ms) || new Date(ms).toISOString() !== e.time) return -1;
      this.#iso = e.time;
      this.#ms = ms;
    }
    const d = e.detail;
    if (typeof d.workflow !== 'string' || d.runId !== this.runId || typeof d.step !== 'string' || typeof d.attempt !== 'number') return -1;
    if (d.item !== undefined && typeof d.item !== 'number') return -1;
    if (d.placement !== undefined && typeof d.placement !== 'string') return -1;
    // One engine's ids share their prefix: compared, not cut out and looked up, each time.
    if (slot < 0 && !id.startsWith(this.#prefix)) {
      this.#prefix = id.slice(0, ID_PREFIX);
      this.#prefixName = this.name(this.#prefix);
    }
    const start = this.length;
    const values = this.valueCount;
    this.u(Fact.StepEvent);
    this.u(seq);
    const at = this.length;
    // Flags: processed (1), the type (2 bits from 2), and whether an item (8) and a placement (16) follow.
    this.u((processed ? 1 : 0) | (type << 1) | (d.item !== undefined ? 8 : 0) | (d.placement !== undefined ? 16 : 0));
    this.u(this.#prefixName);
    this.s(this.#idDelta(counter));
    this.s(this.time(this.#ms));
    this.u(this.name(d.workflow));
    this.u(this.name(d.step));
    this.s(d.attempt);
    if (d.item !== undefined) this.s(d.item as number);
    if (d.placement !== undefined) this.u(this.name(d.placement as string));
    // The reference fields come first, in stepRef's order (item and placement when present);
    // the rest follow in their own order, counted in one byte (at most 127 of them). Anything
    // else is kept as JSON: what was written of it is dropped.
    const count = this.length;
    this.u(0);
    let rest = 0;
    let j = 0;
    for (const k in d) {
      if (j < 4) {
        if (k !== REF_KEYS[j]) return this.#drop(start, values);
        j++;
        continue;
      }
      if (j === 4) {
        j = 5;
        if (k === 'item') continue;
      }
      if (j === 5) {
        j = 6;
        if (k === 'placement') continue;
      }
      if (k === 'workflow' || k === 'runId' || k === 'step' || k === 'attempt' || k === 'item' || k === 'placement') return this.#drop(start, values);
      const v = d[k];
      // As JSON would: a key whose value is undefined is not written.
      if (v === undefined) continue;
      if (++rest > 127) return this.#drop(start, values);
      this.u(this.name(k));
      this.v(v);
    }
    if (j < 4) return this.#drop(start, values);
    this.buf[count] = rest;
    return at;
  }

  /** Drops a step event begun at `start` that turned out not to fit; -1, for the caller to return. */
  #drop(start: number, values: number): -1 {
    this.truncate(start, values);
    return -1;
  }

  #idDelta(counter: number): number {
    if (this.#id0 < 0) this.#id0 = counter;
    return counter - this.#id0;
  }

  /**
   * The row to store (journal-bytes.ts): head `[base, names, objects, t0, id0, values]`, then the
   * facts; written into `scratch` when given (see ByteWriter.row).
   */
  bytes(scratch?: { buf: Buffer }): Buffer {
    try {
      return this.row(`[${this.#base},${JSON.stringify(this.#names.list.slice(this.#base))},${JSON.stringify(this.#objectList)},${this.t0},${this.#id0},`, scratch);
    } catch (error) {
      // Resuming the run would fail the same way: say which, so that it can be cancelled.
      const hint = this.runId === null ? '' : ` ('${runIdCommand('cancel', this.runId)}' lets the other runs resume)`;
      throw new Error(`run ${this.runId ?? '(none)'}: ${(error as Error).message}${hint}`, { cause: error });
    }
  }
}
