/** The state file's write-ahead log: how large it stays while an engine keeps the file open. */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type Database from 'better-sqlite3';
import { openDatabase } from '../../src/adapters/local/sqlite-schema.ts';
import { JOURNAL_SCHEMA } from '../../src/adapters/local/journal-schema.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-wal-');
const open: Database.Database[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

describe('the state database WAL', () => {
  it('is cut back to 64 MiB once it starts over after a transaction larger than that', () => {
    const file = path.join(tmp(), 'state.db');
    const db = openDatabase(file, {}, JOURNAL_SCHEMA);
    open.push(db);
    const insert = db.prepare<[string, null, null, Buffer]>('INSERT INTO journal (run_id, min_seq, max_seq, facts) VALUES (?, ?, ?, ?)');
    // One commit of 100 MB (a row of a large fan-in's outputs): the WAL holds all of it.
    insert.run('r', null, null, Buffer.alloc(100_000_000, 1));
    const wal = () => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    expect(wal()).toBeGreaterThan(100_000_000);
    // The commits after it: the checkpoint copied the big one, and the WAL starts over.
    for (let i = 0; i < 200; i++) insert.run('r', null, null, Buffer.alloc(1_000, 2));
    expect(wal()).toBeLessThanOrEqual(64 * 1024 * 1024);
  });
});
