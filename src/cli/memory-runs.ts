/**
 * The files of `joinflow run --memory` (and `dev --memory`) runs. No state records such a run, but its process steps
 * still write logs and data under <state>/runs/<runId>; a marker with the run's pid lets
 * `joinflow gc` tell a finished one (its process gone) from one still running.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DetailType, JOINFLOW_SOURCE, type EventEnvelope } from '../model/events.ts';
import { findOrphansOfRuns, stopProcesses } from '../adapters/local/orphans.ts';
import { alive } from './state.ts';

const MARKER = '.memory-run.json';

/** Whether <dir>/runs/<runId> is the directory of a --memory run (no state records it). */
export function isMemoryRun(dir: string, runId: string): boolean {
  return existsSync(path.join(dir, 'runs', runId, MARKER));
}

/** Marks <dir>/runs/<runId> as a --memory run of this process; the returned function removes it again if nothing else was written. */
export function markMemoryRun(dir: string, runId: string): () => void {
  const runDir = path.join(dir, 'runs', runId);
  mkdirSync(runDir, { recursive: true });
  writeFileSync(path.join(runDir, MARKER), `${JSON.stringify({ runId, pid: process.pid, startedAt: Date.now() })}\n`);
  return () => {
    // Directories are removed only while empty (rmdir refuses others): a step of another run may
    // be creating its own directory at this moment.
    let names: string[];
    try {
      names = readdirSync(runDir);
    } catch {
      return; // gone already
    }
    if (!names.every((f) => f === MARKER)) return;
    rmSync(path.join(runDir, MARKER), { force: true });
    for (const d of [runDir, path.join(dir, 'runs'), dir]) {
      try {
        rmdirSync(d);
      } catch {
        return; // not empty (or gone already)
      }
    }
  };
}

/**
 * For `joinflow dev --memory`, which starts runs as events arrive: marks each run's directory when
 * its first step starts (a process step writes there; its logs are opened after its spawn, so
 * the directory may not be there yet), and removes the marker with the directory, if nothing
 * else was written, when the run ends. Returns the function to call with every batch of events.
 */
export function memoryRunFiles(dir: string): (events: readonly EventEnvelope[]) => void {
  const marked = new Map<string, () => void>();
  return (events) => {
    for (const e of events) {
      const runId = (e.detail as { runId?: unknown } | undefined)?.runId;
      if (typeof runId !== 'string' || e.source !== JOINFLOW_SOURCE) continue;
      const type = e['detail-type'];
      if (type === DetailType.StepStarted) {
        if (!marked.has(runId)) marked.set(runId, markMemoryRun(dir, runId));
      } else if (type === DetailType.RunSucceeded || type === DetailType.RunFailed || type === DetailType.RunCancelled) {
        marked.get(runId)?.();
        marked.delete(runId);
      }
    }
  };
}

/**
 * Removes the directories of --memory runs whose process is gone and that started before
 * `before`. Processes their steps left running (the run's process was killed) are stopped first,
 * as `resume` and `cancel` stop a durable run's: nothing can resume a run that has no state.
 */
export async function sweepMemoryRuns(dir: string, before: number): Promise<{ removed: number; stopped: number }> {
  const runs = path.join(dir, 'runs');
  if (!existsSync(runs)) return { removed: 0, stopped: 0 };
  const dead: string[] = [];
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
    dead.push(name);
  }
  if (dead.length === 0) return { removed: 0, stopped: 0 };
  // The directory is named after the run id, which its steps have in JOINFLOW_RUN_ID.
  const orphans = [...findOrphansOfRuns(dead).values()].flat();
  const stopped = orphans.length === 0 ? 0 : await stopProcesses(orphans);
  for (const name of dead) rmSync(path.join(runs, name), { recursive: true, force: true });
  return { removed: dead.length, stopped };
}
