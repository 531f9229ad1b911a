/**
 * A state dir written by the journal store's schema 3 (facts as JSON text; the fixture and how it
 * was made: test/fixtures/journal-v3) reads back exactly as it did then, and its running run goes
 * on: new rows in bytes after the old rows of the same run, the file upgraded with that commit.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournalState, type JournalState } from '../../src/adapters/local/journal-state.ts';
import type { Task } from '../../src/ports.ts';
import { readout } from '../helpers/journal-readout.ts';

const fixture = path.join(import.meta.dirname, '../fixtures/journal-v3');
const expected = JSON.parse(readFileSync(path.join(fixture, 'expected.json'), 'utf8'));
const dirs: string[] = [];
const opened: JournalState[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function copy(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-v3-'));
  dirs.push(dir);
  cpSync(path.join(fixture, 'state.db'), path.join(dir, 'state.db'));
  return dir;
}
function open(dir: string): JournalState {
  const s = openJournalState({ dir });
  opened.push(s);
  return s;
}
function versions(dir: string): number[] {
  const db = new Database(path.join(dir, 'state.db'), { readonly: true });
  try {
    return db.prepare<[], number>('SELECT version FROM schema_version ORDER BY version').pluck().all();
  } finally {
    db.close();
  }
}
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

describe('a state dir of schema 3', () => {
  it('reads back as it did with the code that wrote it, and stays schema 3 while only read', async () => {
    const dir = copy();
    const s = open(dir);
    expect(plain(await readout(s))).toEqual(expected);
    expect(versions(dir)).toEqual([3]);
  });

  it('goes on: a running run takes new facts after its old rows, and the file becomes schema 5', async () => {
    const dir = copy();
    const s = open(dir);
    // The join "join" of run "live" has arrival "a" of 2 (written as JSON in schema 3).
    expect(await s.store.arrive('live', 'join', 'a', 2)).toEqual({ fresh: false, count: 1, need: 2 });
    expect(await s.store.arrive('live', 'join', 'b', 2)).toEqual({ fresh: true, count: 2, need: 2 });
    const pending = s.log.pendingEvents();
    expect(plain(pending)).toEqual(expected.pending);
    expect(pending.map((p) => p.event['detail-type'])).toEqual(['Step Completed', 'Something']);
    s.log.markProcessed(pending.map((p) => p.seq));
    const [unfinished] = s.log.unfinishedTasks('live');
    s.log.taskFinished(unfinished!.task, 'succeeded', unfinished!.startedAt! + 10);
    const b: Task = { ...unfinished!.task, step: 'b', event: { input: null, results: { a: 'x' } } };
    s.log.recordTask(b);
    s.log.taskStarted(b, unfinished!.startedAt! + 11);
    await s.store.saveResult('live', 'a', 'x');
    await s.store.commit();
    expect(versions(dir)).toEqual([3, 5]);
    s.close();
    opened.length = 0;

    const again = open(dir);
    const now = plain(await readout(again)) as typeof expected;
    // The finished run and the dead letter are as they were; the running run has its new facts.
    expect(now.runs.done).toEqual(expected.runs.done);
    expect(now.deadLetters).toEqual(expected.deadLetters);
    expect(now.pending).toEqual([]);
    expect(now.events).toEqual(expected.events);
    expect(now.runs.live.tasks).toEqual([
      { ...expected.runs.live.tasks[0], status: 'succeeded', finishedAt: unfinished!.startedAt! + 10 },
      { task: plain(b), status: 'started', startedAt: unfinished!.startedAt! + 11 },
    ]);
    expect(now.unfinished).toEqual([{ task: plain(b), status: 'started', startedAt: unfinished!.startedAt! + 11 }]);
    expect(await again.store.arrive('live', 'join', 'b', 2)).toEqual({ fresh: false, count: 2, need: 2 });
    expect(await again.store.getResults('live', ['a'])).toEqual(new Map([['a', 'x']]));
  });
});
