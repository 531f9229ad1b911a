/** Journal states a test file opens in temp dirs of its own: closed, and the dirs removed, after each test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { openJournalState, type JournalState } from '../../src/adapters/local/journal-state.ts';

/** `freshDir` makes an empty dir (named with `prefix`); `open` opens the journal state of a dir. */
export function journalStates(prefix: string): { open(dir: string): JournalState; freshDir(): string } {
  const dirs: string[] = [];
  const opened: JournalState[] = [];
  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return {
    open(dir) {
      const s = openJournalState({ dir });
      opened.push(s);
      return s;
    },
    freshDir() {
      const dir = mkdtempSync(path.join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
  };
}
