/**
 * The files of `joinflow run --memory` runs. No state records such a run, but its process steps
 * still write logs and data under <state>/runs/<runId>; a marker with the run's pid lets
 * `joinflow gc` tell a finished one (its process gone) from one still running.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { alive } from './state.ts';

const MARKER = '.memory-run.json';

/** Marks <dir>/runs/<runId> as a --memory run of this process; the returned function removes it again if nothing else was written. */
export function markMemoryRun(dir: string, runId: string): () => void {
  const runDir = path.join(dir, 'runs', runId);
  mkdirSync(runDir, { recursive: true });
  writeFileSync(path.join(runDir, MARKER), `${JSON.stringify({ runId, pid: process.pid, startedAt: Date.now() })}\n`);
  return () => {
    try {
      if (readdirSync(runDir).every((f) => f === MARKER)) rmSync(runDir, { recursive: true, force: true });
      const runs = path.join(dir, 'runs');
      if (readdirSync(runs).length === 0) rmSync(runs, { recursive: true, force: true });
      if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true });
    } catch {
      // gone already
    }
  };
}

/** Removes the directories of --memory runs whose process is gone and that started before `before`; returns how many. */
export function sweepMemoryRuns(dir: string, before: number): number {
  const runs = path.join(dir, 'runs');
  if (!existsSync(runs)) return 0;
  let removed = 0;
  for (const name of readdirSync(runs)) {
    const marker = path.join(runs, name, MARKER);
    if (!statSync(marker, { throwIfNoEntry: false })?.isFile()) continue;
    let info: { pid?: unknown; startedAt?: unknown };
    try {
      info = JSON.parse(readFileSync(marker, 'utf8')) as typeof info;
    } catch {
      continue; // being written
    }
    if (alive(info.pid) || !(typeof info.startedAt === 'number' && info.startedAt < before)) continue;
    rmSync(path.join(runs, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}
