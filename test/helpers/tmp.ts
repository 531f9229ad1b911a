/** Temporary directories for a test file, removed in afterAll. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

/** Returns a maker of fresh temp dirs (named with `prefix`) that are deleted after the file's tests. */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(path.join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

/** Like {@link tempDirs}, each dir holding these files (relative path → text), parent dirs made. */
export function projectDirs(prefix: string): (files: Record<string, string>) => string {
  const tmp = tempDirs(prefix);
  return (files) => {
    const dir = tmp();
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), text);
    }
    return dir;
  };
}
