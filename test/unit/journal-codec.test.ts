/** The journal's facts: what is written compactly reads back exactly, and anything else as JSON. */
import { describe, expect, it } from 'vitest';
import { RowWriter } from '../../src/adapters/local/journal-codec.ts';
import { NameTable } from '../../src/adapters/local/journal-names.ts';
import { ByteReader, ByteWriter, splitRow } from '../../src/adapters/local/journal-bytes.ts';
import { readRow, rowNames, type RowVisitor } from '../../src/adapters/local/journal-decode.ts';
import { createEventFactory, createIdFactory } from '../../src/adapters/local/step-events.ts';
import { stepRef, type EventEnvelope } from '../../src/model/events.ts';
import type { Task } from '../../src/ports.ts';

const input = { doc: 'abc', n: [1, 2] };
const exec = { type: 'process', command: 'sleep', args: ['1'], env: {} } as unknown as Task['executor'];

function task(over: Partial<Task> = {}): Task {
  return { workflow: 'wf', runId: 'r1', step: 'align', attempt: 1, maxAttempts: 3, executor: exec, event: { input, results: { split: [1, 2], 'long step name': null } }, ...over };
}

/** Writes with `write`, reads the row back; returns the tasks and events read. */
function roundTrip(write: (w: RowWriter) => void, runId: string | null = 'r1', table = new NameTable(), readTable = new NameTable()) {
  const w = new RowWriter(runId, table);
  write(w);
  const tasks: Task[] = [];
  const events: Array<{ seq: number; event: EventEnvelope; processed: boolean }> = [];
  const visit: RowVisitor = { task: (t) => tasks.push(t), event: (seq, event, processed) => events.push({ seq, event, processed }) };
  const row = w.bytes();
  readRow(runId, input, row, readTable, visit);
  // The row as text, to look for strings in it (its facts are bytes, its head JSON).
  return { tasks, events, row, text: row.toString('latin1') };
}

describe('journal facts', () => {
  it('rebuilds tasks written field by field, in the same key order', () => {
    const item: Task = { workflow: 'wf', runId: 'r1', step: 'map', item: 4, attempt: 2, maxAttempts: 4, executor: exec, event: { input, results: { split: 'x' }, item: { k: 1 }, index: 4 } };
    item.timeoutMs = 1500;
    item.placement = 'lambda';
    item.fallback = 'batch';
    item.files = { inputs: ['a.txt'], outputs: ['b.txt'] } as Task['files'];
    // The run's start, from before the row's first time.
    item.runStartedAt = 1_700_000_000_123;
    const other = task({ event: { input: { different: true }, results: {} }, runStartedAt: 1_700_000_000_123 });
    const { tasks, text } = roundTrip((w) => {
      w.task(task(), input);
      w.task(item, input);
      w.task(other, input);
    });
    expect(tasks.map((t) => JSON.stringify(t))).toEqual([task(), item, other].map((t) => JSON.stringify(t)));
    // The executor is written once for the three tasks; the input not at all.
    expect(text.split('"sleep"').length - 1).toBe(1);
    expect(text).not.toContain('"abc"');
  });

  it('keeps a task of another shape as JSON', () => {
    const odd = { ...task(), extra: 1 } as Task;
    const noResults = task({ event: { input } as Task['event'] });
    const { tasks } = roundTrip((w) => {
      w.task(odd, input);
      w.task(noResults, input);
    });
    expect(tasks).toEqual([odd, noResults]);
  });

  it("rebuilds the engine's step events exactly, and keeps other events as JSON", () => {
    let now = Date.UTC(2026, 10, 22, 8, 0, 0, 5);
    const make = createEventFactory(() => now);
    const t = task({ item: 3, placement: 'batch-gpu' } as Partial<Task>);
    const started = make('Step Started', stepRef(t, { startedAt: now }));
    now += 7;
    const completed = make('Step Completed', stepRef(task(), { output: { rows: [1, 2, 3], note: 'a,b' } }));
    const failed = make('Step Failed', stepRef(task(), { error: { type: 'Boom', message: 'x' }, retrying: true }));
    const custom: EventEnvelope = { id: 'e-1', source: 'my.app', 'detail-type': 'Order Placed', time: '2026-01-01T00:00:00Z', detail: { runId: 'r1', x: 1 } };
    const reordered: EventEnvelope = { ...completed, detail: { runId: 'r1', workflow: 'wf', step: 'align', attempt: 1 } };
    const otherRun: EventEnvelope = { ...completed, detail: { ...completed.detail, runId: 'r2' } };
    const { events, text } = roundTrip((w) => {
      w.event(10, started, true);
      w.event(11, completed, false);
      w.event(12, failed, false);
      w.event(13, custom, false);
      w.event(14, reordered, false);
      w.event(15, otherRun, false);
      w.processed(11);
    });
    expect(events.map((e) => [e.seq, JSON.stringify(e.event), e.processed])).toEqual([
      [10, JSON.stringify(started), true],
      [11, JSON.stringify(completed), false],
      [12, JSON.stringify(failed), false],
      [13, JSON.stringify(custom), false],
      [14, JSON.stringify(reordered), false],
      [15, JSON.stringify(otherRun), false],
    ]);
    // Ids and times of the compact events are not written out.
    expect(text).not.toContain(started.id);
    expect(text).not.toContain(started.time);
  });

  it("rebuilds step events the engine's factory remembered (their counter not read from the id), and one whose id was changed", () => {
    const now = Date.UTC(2026, 10, 22, 8, 0, 0, 5);
    const make = createEventFactory(() => now, createIdFactory(), true);
    const events = Array.from({ length: 12 }, (_, i) => make('Step Completed', stepRef(task({ step: `s${i}` }), { output: i })));
    // Only the last 8 are remembered; the 5th has a new id (of the same length) since it was made.
    const changed = events[4]!;
    changed.id = `${changed.id.slice(0, 24)}00000000abcd`;
    const read = roundTrip((w) => events.forEach((e, i) => w.event(20 + i, e, false))).events;
    expect(read.map((e) => JSON.stringify(e.event))).toEqual(events.map((e) => JSON.stringify(e)));
    // A second encoding of the same envelopes (the factory has forgotten them) reads back the same.
    const again = roundTrip((w) => events.forEach((e, i) => w.event(20 + i, e, false))).events;
    expect(again.map((e) => JSON.stringify(e.event))).toEqual(events.map((e) => JSON.stringify(e)));
  });

  it("numbers a run's names across its rows, read in order", () => {
    const table = new NameTable();
    const read = new NameTable();
    const first = roundTrip((w) => w.task(task(), input), 'r1', table, read);
    const second = roundTrip((w) => w.task(task({ attempt: 2 }), input), 'r1', table, read);
    // The second row defines no name: the first did.
    expect(rowNames(second.row).names).toEqual([]);
    const reader = new NameTable();
    const seen: Task[] = [];
    for (const row of [first.row, second.row]) readRow('r1', input, row, reader, { task: (t) => seen.push(t) });
    expect(seen.map((t) => t.attempt)).toEqual([1, 2]);
    // Read alone, the second row cannot be decoded: it says so instead of misreading names.
    expect(() => readRow('r1', input, second.row, new NameTable(), {})).toThrow(/defines names from \d+ on, but only 0 are known/);
  });

  it('numbers names through its cache of recent ones as a map would: the empty name, names of equal length, vocabulary or not', () => {
    const vocabulary = { map: new Map([['wf', 0], ['stepA', 1], ['stepB', 2]]), list: ['wf', 'stepA', 'stepB'] };
    const table = new NameTable(vocabulary);
    const names = ['', 'stepA', 'stepB', 'other', 'stepA', '', 'x'.repeat(37), 'wf', 'other', 'y'.repeat(37), 'x'.repeat(37)];
    const numbers = names.map((n) => table.number(n));
    // Each name keeps one number; the vocabulary's are theirs, new ones are numbered after them.
    expect(numbers).toEqual([3, 1, 2, 4, 1, 3, 5, 0, 4, 6, 5]);
    expect(table.list).toEqual(['wf', 'stepA', 'stepB', '', 'other', 'x'.repeat(37), 'y'.repeat(37)]);
    // known: the vocabulary's numbers only, numbering nothing.
    expect(['stepB', '', 'other', 'wf', 'nope'].map((n) => table.known(n))).toEqual([2, undefined, undefined, 0, undefined]);
    expect(table.list).toHaveLength(7);
    expect(new NameTable().known('wf')).toBeUndefined();
  });

  it('reports store facts with their times', () => {
    const w = new RowWriter('r1', new NameTable());
    w.arrive('t', 'k', 2);
    w.claim('t', 1_000_000);
    w.dispatched('t', 1_000_050);
    w.result('k', { v: 1 });
    w.need('u', 7);
    const seen: unknown[] = [];
    readRow('r1', input, w.bytes(), new NameTable(), {
      arrive: (...a) => seen.push(['arrive', ...a]),
      claim: (...a) => seen.push(['claim', ...a]),
      dispatched: (...a) => seen.push(['dispatched', ...a]),
      result: (...a) => seen.push(['result', ...a]),
      need: (...a) => seen.push(['need', ...a]),
    });
    expect(seen).toEqual([['arrive', 't', 'k', 2], ['claim', 't', 1_000_000], ['dispatched', 't', 1_000_050], ['result', 'k', { v: 1 }], ['need', 'u', 7]]);
  });

  it('names the run whose row cannot be written (a value too large for JSON), and how to let the other runs resume', () => {
    const w = new RowWriter('r1', new NameTable());
    w.result('fine', 'small');
    // What JSON.stringify throws for a value over V8's largest string (~512 MB), without making one.
    w.result('huge', { toJSON: () => { throw new RangeError('Invalid string length'); } });
    expect(() => w.bytes()).toThrow(/^run r1: value 1 of the row \(a step's output, input or collected results\) is too large to write as JSON \(over about 512 MB\) \('joinflow cancel r1' lets the other runs resume\)$/);
    // A run id that starts with a dash goes after --, where cancel reads it as the run id.
    const dashed = new RowWriter('-r1', new NameTable());
    dashed.result('huge', { toJSON: () => { throw new RangeError('Invalid string length'); } });
    expect(() => dashed.bytes()).toThrow("('joinflow cancel -- -r1' lets the other runs resume)");
  });

  it('refuses a row with an unknown fact, or one cut short', () => {
    expect(() => readRow('r1', input, JSON.stringify([0, [], [], 0, 0, [99]]), new NameTable(), {})).toThrow(/unknown fact code 99/);
    const w = new RowWriter('r1', new NameTable());
    w.u(99);
    expect(() => readRow('r1', input, w.bytes(), new NameTable(), {})).toThrow(/unknown fact code 99/);
    const cut = new RowWriter('r1', new NameTable());
    cut.claim('t', 5);
    const row = cut.bytes();
    // The last byte (the claim's time) missing.
    expect(() => readRow('r1', input, row.subarray(0, row.length - 1), new NameTable(), {})).toThrow(/runs past the end/);
    expect(() => readRow('r1', input, Buffer.from([7, 0]), new NameTable(), {})).toThrow(/unknown format 7/);
  });

  it('writes a Run Requested whose input is the run\'s without it, flagged beside its processed flag, and reads it back whole', () => {
    const own = { doc: 'its own input' };
    const request = (seq: number, detail: Record<string, unknown>): EventEnvelope => ({ id: `rq-${seq}`, source: 'joinflow', 'detail-type': 'Run Requested', time: '2026-12-01T00:00:00.000Z', detail: { workflow: 'wf', runId: 'r1', ...detail } });
    // The fifth as an outside producer might send it (the processor dead-letters it).
    const events = [request(1, { input }), request(2, { input: own }), request(3, {}), request(4, { input }), { ...request(5, {}), detail: null as never }];
    const { events: read, text } = roundTrip((w) => {
      const flags = events.map((e, i) => w.event(i + 1, e, false));
      // Processed in place before the row is written, as most are; the input flag set after it.
      w.processedAt(flags[0]!);
      w.processedAt(flags[1]!);
      expect(w.requested).toBe(true);
      w.markRunInput(input);
    });
    expect(read).toEqual(events.map((event, i) => ({ seq: i + 1, event, processed: i < 2 })));
    // The keys in their order: the input back where it was.
    expect(read.map((e) => JSON.stringify(e.event))).toEqual(events.map((e) => JSON.stringify(e)));
    expect(text).not.toContain('abc');
    expect(text).toContain('its own input');
    // A row of no run (an unknown input) keeps its requests whole.
    const none = roundTrip((w) => {
      w.event(1, request(1, { input }), false);
      w.markRunInput(undefined);
    }, null);
    expect(none.text).toContain('abc');
  });

  it('reads every fact even for a visitor that wants only some kinds', () => {
    const w = new RowWriter('r1', new NameTable());
    w.arrive('t', 'k', undefined);
    w.result('k', 'out');
    w.task(task(), input);
    w.started(task(), 10);
    const tasks: Task[] = [];
    readRow('r1', input, w.bytes(), new NameTable(), { task: (t) => tasks.push(t) });
    expect(tasks).toEqual([task()]);
  });

  it('reads rows of schema 3 (JSON text): the same fields in the same order', () => {
    // Written by schema 3's codec: an arrival, a task, its start and a step event, processed.
    const v3 = JSON.stringify([
      0, ['t', 'k', 'wf', 'align', 'split', '9f3c4d2e-8a1b-8c2d-9e3f-', 'startedAt'], [exec], 1_000, 16,
      [1, 0, 1, -1, 10, 0, 2, 3, 1, 3, 0, 1, 4, [1, 2], 12, 3, -1, 1, 5, 21, 7, 1, 5, 2, 5, 2, 3, 1, 1, 6, 1_005],
    ]);
    const seen: unknown[] = [];
    readRow('r1', input, v3, new NameTable(), {
      arrive: (...a) => seen.push(['arrive', ...a]),
      task: (t) => seen.push(['task', JSON.stringify(t)]),
      started: (...a) => seen.push(['started', ...a]),
      event: (seq, e, processed) => seen.push(['event', seq, JSON.stringify(e), processed]),
    });
    expect(seen).toEqual([
      ['arrive', 't', 'k', undefined],
      ['task', JSON.stringify({ ...task(), event: { input, results: { split: [1, 2] } } })],
      ['started', 'align', undefined, 1, 1_005],
      ['event', 7, JSON.stringify({
        id: '9f3c4d2e-8a1b-8c2d-9e3f-000000000012', source: 'joinflow', 'detail-type': 'Step Started', time: new Date(1_005).toISOString(),
        detail: { workflow: 'wf', runId: 'r1', step: 'align', attempt: 1, startedAt: 1_005 },
      }), true],
    ]);
  });
});

describe('journal bytes', () => {
  function readBack(write: (w: ByteWriter) => void, read: (r: ByteReader) => unknown[]): unknown[] {
    const w = new ByteWriter(Buffer.allocUnsafe(4));
    write(w);
    const { facts } = splitRow(w.row('['));
    const out = read(facts);
    expect(facts.more()).toBe(false);
    return out;
  }

  it('round-trips unsigned integers up to 2^53 - 1', () => {
    const xs = [0, 1, 127, 128, 300, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 + 5, 2 ** 50, Number.MAX_SAFE_INTEGER];
    expect(readBack((w) => xs.forEach((x) => w.u(x)), (r) => xs.map(() => r.u()))).toEqual(xs);
  });

  it('round-trips any number, integers in a byte or two', () => {
    const xs = [0, 1, -1, 31, -32, 1_000, -1_000, 2 ** 50, -(2 ** 50), 2 ** 50 + 2, 0.5, -0.25, 1e300, Number.MIN_VALUE, Infinity, -Infinity];
    expect(readBack((w) => xs.forEach((x) => w.s(x)), (r) => xs.map(() => r.s()))).toEqual(xs);
    expect(Number.isNaN(readBack((w) => w.s(NaN), (r) => [r.s()])[0])).toBe(true);
    const w = new ByteWriter();
    for (const x of [0, 31, -32]) w.s(x);
    expect(w.length).toBe(3);
  });

  it('round-trips JSON values as JSON would', () => {
    const xs: unknown[] = [null, true, false, 0, -7.5, 2 ** 40, 'text', '', { a: [1, 'b', null] }, [1, 2]];
    expect(readBack((w) => xs.forEach((x) => w.v(x)), (r) => xs.map(() => r.v()))).toEqual(xs);
    // What JSON cannot write reads back as JSON.stringify writes it: null.
    expect(readBack((w) => [undefined, NaN, Infinity].forEach((x) => w.v(x)), (r) => [r.v(), r.v(), r.v()])).toEqual([null, null, null]);
  });

  it('lists an object written twice into a row once (a fan-in\'s collected outputs: result, event, next task)', () => {
    const collected = Array.from({ length: 50 }, (_, i) => `output-${i}:${'x'.repeat(2_000)}`);
    const w = new ByteWriter();
    w.v(collected);
    w.v(collected);
    w.v(collected.slice());
    w.v(collected);
    const row = w.row('[');
    // Twice: once for the object, once for its copy by slice (another object); not four times.
    expect(row.toString('latin1').split('output-49:').length - 1).toBe(2);
    const { facts } = splitRow(row);
    const [a, b, c, d] = [facts.v(), facts.v(), facts.v(), facts.v()];
    expect(a).toEqual(collected);
    expect(b).toBe(a);
    expect(c).toEqual(collected);
    expect(c).not.toBe(a);
    expect(d).toBe(a);
  });

  it('forgets the objects of a write it takes back (truncate), so a later one is listed again', () => {
    const x = { big: 'y'.repeat(100) };
    const w = new ByteWriter();
    w.v('first');
    const at = w.length;
    w.v(x);
    w.truncate(at, 1);
    w.v(x);
    const { facts } = splitRow(w.row('['));
    expect([facts.v(), facts.v()]).toEqual(['first', x]);
    expect(facts.more()).toBe(false);
  });

  it('writes a row into the scratch buffer up to 16 MiB, and a larger one into a buffer of its own, which the scratch does not keep', () => {
    const scratch = { buf: Buffer.allocUnsafe(16) };
    const small = new ByteWriter();
    small.v({ s: 'x'.repeat(1000) });
    const row = small.row('[', scratch);
    expect(row.buffer).toBe(scratch.buf.buffer);
    const grown = scratch.buf;
    expect(grown.length).toBeGreaterThanOrEqual(row.length);
    const s = 'y'.repeat(20 * 1024 * 1024);
    const big = new ByteWriter();
    big.u(7);
    big.v({ s });
    const bigRow = big.row('[3,', scratch);
    expect(scratch.buf).toBe(grown);
    expect(bigRow.buffer).not.toBe(grown.buffer);
    expect(bigRow[0]).toBe(1);
    const { head, facts } = splitRow(bigRow);
    expect(head[0]).toBe(3);
    expect(facts.u()).toBe(7);
    expect((facts.v() as { s: string }).s === s).toBe(true);
    expect(facts.more()).toBe(false);
  });

  // About 540 MB of JSON in one row: more than a JavaScript string holds (~512 MB).
  it('writes a row whose values together are too large for one JSON string (format 2), and reads it back', { timeout: 120_000 }, () => {
    const a = 'a'.repeat(270_000_000);
    const b = 'b'.repeat(270_000_000);
    const w = new ByteWriter();
    w.u(7);
    w.v(a);
    w.v({ b });
    w.v(null);
    const row = w.row('[3,');
    expect(row[0]).toBe(2);
    const { head, facts } = splitRow(row);
    expect(head[0]).toBe(3);
    expect(facts.u()).toBe(7);
    const ra = facts.v() as string;
    expect(ra.length).toBe(a.length);
    expect(ra === a).toBe(true);
    expect(((facts.v() as { b: string }).b === b)).toBe(true);
    expect(facts.v()).toBe(null);
    expect(facts.more()).toBe(false);
  });
});
