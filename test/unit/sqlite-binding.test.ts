/** A SQLite module not built for this Node: the state commands say what to do, not the loader's 14 lines. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';

vi.mock('better-sqlite3', () => {
  class Database {
    constructor() {
      throw new Error('Could not locate the bindings file. Tried:\n → /x/build/better_sqlite3.node\n → /x/build/Debug/better_sqlite3.node');
    }
  }
  return { default: Object.assign(Database, { SqliteError: class extends Error {} }) };
});

describe('opening the state without a built SQLite module', () => {
  it('names the module, the fix and --memory, with the loader message cut to its first line', async () => {
    const { openJournalState } = await import('../../src/adapters/local/journal-state.ts');
    const dir = mkdtempSync(path.join(tmpdir(), 'jf-binding-'));
    try {
      let error: unknown;
      try {
        openJournalState({ dir });
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: 'STATE_UNREADABLE' });
      const message = (error as Error).message;
      expect(message).toContain(`cannot open the state database: the SQLite module (better-sqlite3) is not built for this Node.js (${process.version}): run 'npm rebuild better-sqlite3' (it compiles from source), or run with --memory. (Could not locate the bindings file. Tried:)`);
      expect(message).not.toContain('\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
