/**
 * What durability could cost per task at the least (not a test, not part of `npm run bench`):
 * `node --import tsx bench/peers/durable-floor.ts [--shape epigenomics] [--tasks 200000]`.
 *
 * The durable store writes rows per task and per event; the alternative it is measured against
 * is an append-only journal: one row per commit holding what the batch's tasks produced, with
 * everything else rebuilt from it on recovery. This times only that journal's part: turning each
 * task's records into text, and one INSERT + COMMIT per batch (WAL, synchronous=NORMAL, as the
 * state file), for two encodings:
 * - `full`: the task as the engine dispatches it and its Step Started and Step Completed events,
 *   as JSON (what the row store, the durable default before the journal store, serialized per task);
 * - `compact`: step, item, attempt, time and output JSON, tab-separated (a journal from which the
 *   tasks and events would be derived).
 * The tasks and events are captured from a real run of the shape on the in-memory engine. Prints
 * one JSON object: microseconds per task, median of 3 rounds, per encoding and batch size.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { Executor, Task } from '../../src/ports.ts';
import { shapes } from './shapes.ts';

const { values } = parseArgs({ options: { shape: { type: 'string', default: 'epigenomics' }, tasks: { type: 'string', default: '200000' } } });
const build = shapes[values.shape];
if (!build) throw new Error(`--shape: unknown shape "${values.shape}" (one of ${Object.keys(shapes).join(', ')})`);
const total = Number(values.tasks);
if (!Number.isInteger(total) || total < 1) throw new Error(`--tasks: a positive integer, got "${values.tasks}"`);

const plan = compileWorkflow(build(), { source: 'bench' });
const tasks: Task[] = [];
const started = new Map<string, EventEnvelope>();
const completed = new Map<string, EventEnvelope>();
const keyOf = (step: string, item: number | undefined) => `${step}/${item ?? -1}`;
const capture: Executor = {
  kind: 'simulate',
  local: true,
  async execute(task) {
    tasks.push(task);
    return { status: 'succeeded', output: null };
  },
  async close() {},
};
const engine = createEngine({
  executors: { simulate: capture },
  onEvents(events) {
    for (const e of events) {
      const d = e.detail as { step?: string; item?: number };
      if (d.step === undefined) continue;
      if (e['detail-type'] === 'Step Started') started.set(keyOf(d.step, d.item), e);
      if (e['detail-type'] === 'Step Completed') completed.set(keyOf(d.step, d.item), e);
    }
  },
});
engine.register(plan);
const result = await engine.run(plan.workflow, null);
await engine.close();
if (result.status !== 'succeeded') throw new Error(`the capture run ${result.status}`);
const records = tasks.map((task) => {
  const key = keyOf(task.step, task.item);
  const done = completed.get(key);
  if (!done) throw new Error(`no Step Completed event captured for ${key}`);
  return { task, started: started.get(key) ?? done, completed: done };
});

const encoders: Record<string, (r: (typeof records)[number], i: number) => string> = {
  full: (r) => `${JSON.stringify(r.task)}\n${JSON.stringify(r.started)}\n${JSON.stringify(r.completed)}`,
  compact: (r, i) => `${r.task.step}\t${r.task.item ?? -1}\t${r.task.attempt}\t${i}\t${JSON.stringify((r.completed.detail as { output?: unknown }).output ?? null)}`,
};

const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-durable-floor-'));
const results: Array<{ encoding: string; batch: number; bytesPerTask: number; usPerTask: number; rounds: number[] }> = [];
try {
  for (const [encoding, encode] of Object.entries(encoders)) {
    for (const batch of [20, 100, 1000]) {
      const db = new Database(path.join(dir, `${encoding}-${batch}.db`));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec('CREATE TABLE journal (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)');
      const insert = db.prepare('INSERT INTO journal (body) VALUES (?)');
      const begin = db.prepare('BEGIN IMMEDIATE');
      const commit = db.prepare('COMMIT');
      const rounds: number[] = [];
      let bytes = 0;
      for (let round = 0; round < 3; round++) {
        let parts: string[] = [];
        bytes = 0;
        const t0 = performance.now();
        for (let i = 0; i < total; i++) {
          const text = encode(records[i % records.length]!, i);
          bytes += text.length;
          parts.push(text);
          if (parts.length === batch || i === total - 1) {
            begin.run();
            insert.run(parts.join('\n'));
            commit.run();
            parts = [];
          }
        }
        rounds.push(((performance.now() - t0) * 1000) / total);
        process.stderr.write(`${encoding} batch ${batch} round ${round + 1}: ${rounds.at(-1)!.toFixed(2)} µs/task\n`);
      }
      db.close();
      const sorted = [...rounds].sort((a, b) => a - b);
      results.push({ encoding, batch, bytesPerTask: Math.round(bytes / total), usPerTask: Number(sorted[1]!.toFixed(2)), rounds: rounds.map((r) => Number(r.toFixed(2))) });
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify({ shape: values.shape, tasks: total, captured: records.length, results })}\n`);
