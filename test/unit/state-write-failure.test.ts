/**
 * A state that cannot be written (the disk is full): the engine stops as if its process had died,
 * with an error naming the file, and the file keeps every commit before. Resumed with room, the
 * run ends as it would have; other runs of the state dir are not blocked.
 */
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { createBatch } from '../../src/adapters/local/sqlite-batch.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { plan } from '../helpers/plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-full-');
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const N = 2000;
const FAN = plan({
  name: 'fan',
  steps: {
    list: { executor: { type: 'simulate', durationMs: 0, output: Array.from({ length: N }, (_, i) => i) } },
    each: { needs: ['list'], forEach: 'list', executor: { type: 'simulate', durationMs: 2, output: 'done' } },
    sum: { needs: ['each'], executor: { type: 'simulate', durationMs: 0, output: 'ok' } },
  },
});
const SMALL = plan({ name: 'small', steps: { one: { executor: { type: 'simulate', durationMs: 0, output: 1 } } } });

const stores = [
  // Room in pages for the start of the fan-out, not for all of it (the row store writes more per task).
  { name: 'journal store', open: openJournalState, room: 700 },
  { name: 'row store', open: openSqliteState, room: 700 },
];

describe.each(stores)('a full disk, on the $name', ({ open }) => {
  it('stops the run with an error naming the file; resumed with room, it succeeds, and so do other runs', async () => {
    type State = ReturnType<typeof open>;
    const pagesOf = (dir: string) => Math.ceil(statSync(path.join(dir, 'state.db')).size / 4096);
    const runOnce = async (state: State, p: typeof FAN, runId: string) => {
      const engine = createEngine({ store: state.store, log: state.log, concurrency: { simulate: 50 } });
      engine.register(p);
      const result = await engine.run(p.workflow, null, { runId });
      await engine.close();
      state.close();
      return result;
    };
    // How many pages the fan-out adds to a file (closed, its WAL is in the file).
    const probe = tmp();
    await runOnce(open({ dir: probe }), SMALL, 'small-0');
    const base = pagesOf(probe);
    await runOnce(open({ dir: probe }), FAN, 'fan-0');
    const growth = pagesOf(probe) - base;
    expect(growth).toBeGreaterThan(20);

    // A run of another workflow, then the fan-out with room for half of what it writes.
    const dir = tmp();
    expect((await runOnce(open({ dir }), SMALL, 'small-1')).status).toBe('succeeded');
    const pages = pagesOf(dir);
    const full = open({ dir, maxPages: pages + Math.floor(growth / 2) });
    closers.push(() => full.close());
    // Items a few at a time, so that the run commits many times before the file is full.
    const engine = createEngine({ store: full.store, log: full.log, concurrency: { simulate: 50 } });
    closers.push(() => engine.close());
    engine.register(FAN);
    const failure = await engine.run('fan', null, { runId: 'fan-1' }).then(() => undefined, (error: unknown) => error as Error & { code?: string });
    expect(failure?.code).toBe('STATE_WRITE');
    expect(failure?.message).toContain(path.join(dir, 'state.db'));
    expect(failure?.message).toContain('the database or its disk is full (SQLITE_FULL)');
    await engine.close();
    full.close();

    // With room again: the run continues from its last commit and ends as it would have.
    const again = open({ dir });
    closers.push(() => again.close());
    expect(again.store.getRun('small-1')).toMatchObject({ status: 'succeeded' });
    const resumed = createEngine({ store: again.store, log: again.log });
    closers.push(() => resumed.close());
    expect(await resumed.recover()).toEqual(['fan-1']);
    const result = await resumed.wait('fan-1');
    expect(result).toMatchObject({ status: 'succeeded', output: { sum: 'ok' } });
    expect(again.log.tasks('fan-1').filter((t) => t.task.step === 'each' && t.status === 'succeeded').length).toBeGreaterThanOrEqual(N);
    resumed.register(SMALL);
    expect((await resumed.run('small', null)).status).toBe('succeeded');
  });
});

describe.each(stores)('a state dir deleted under a running engine, on the $name', ({ open }) => {
  it('stops the engine at its next commit, naming the file: no run is reported as saved', async () => {
    const dir = tmp();
    const state = open({ dir });
    const engine = createEngine({ store: state.store, log: state.log, groupCommitMs: 0 });
    closers.push(() => state.close(), () => engine.close());
    engine.register(SMALL);
    expect((await engine.run('small', null)).status).toBe('succeeded');
    rmSync(dir, { recursive: true, force: true });
    const error = await engine.run('small', null).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'STATE_WRITE', message: expect.stringContaining('the state database was deleted, moved or replaced while this engine ran') });
    // Stopped as if killed: no more runs.
    await expect(engine.run('small', null)).rejects.toThrow(/stopped/);
  });
});

describe('a failed commit', () => {
  it('rolls back, forgets what memory held, and refuses every later write with the same error', () => {
    const file = path.join(tmp(), 'x.db');
    const db = new Database(file);
    closers.push(() => db.close());
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (x BLOB)');
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 2}`);
    const batch = createBatch(db, file);
    let resets = 0;
    batch.afterRollback(() => resets++);
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    batch.write();
    insert.run(Buffer.alloc(100));
    batch.commit();
    batch.write();
    let error: unknown;
    try {
      // Over the cap: fails in the statement or in the commit, whichever first.
      insert.run(Buffer.alloc(64 * 1024));
      batch.commit();
    } catch (e) {
      error = batch.abandon(e);
    }
    expect((error as { code?: string }).code).toBe('STATE_WRITE');
    expect(db.inTransaction).toBe(false);
    expect(resets).toBe(1);
    expect(() => batch.write()).toThrow(error as Error);
    expect(() => batch.commit()).toThrow(error as Error);
    expect(db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(1);
  });

  it('on a damaged file says so, and not that resume continues once there is room', () => {
    const file = path.join(tmp(), 'x.db');
    const db = new Database(file);
    closers.push(() => db.close());
    const batch = createBatch(db, file);
    const corrupt = new Database.SqliteError('database disk image is malformed', 'SQLITE_CORRUPT');
    const error = batch.abandon(corrupt) as Error & { code: string; resumable: boolean };
    expect(error.code).toBe('STATE_WRITE');
    expect(error.message).toBe(`${file}: cannot write the state database: it is damaged (database disk image is malformed, SQLITE_CORRUPT); move it away to start afresh.`);
    expect(error.resumable).toBe(false);
  });
});
