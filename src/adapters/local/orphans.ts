/**
 * Processes that a run's steps started and that outlived the engine running them (killed with
 * kill -9, say): they are nobody's children any more, and would go on running beside the attempt
 * that `resume` starts again, or after `cancel`. Every process step gets JOINFLOW_RUN_ID in its
 * environment, and its own children inherit it, so on Linux they are found by reading
 * /proc/<pid>/environ (readable for one's own processes only). Elsewhere nothing is found.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Pids of the processes whose environment names `runId`, and their descendants (this process and its ancestors excluded). */
export function findOrphans(runId: string): number[] {
  return findProcesses({ JOINFLOW_RUN_ID: runId });
}

/**
 * Pids of the processes whose environment has every variable of `vars` (this process and its
 * ancestors excluded), with their descendants: a `joinflow run` inside a step gives its own steps
 * another JOINFLOW_RUN_ID, and a program may clear its children's environment.
 */
export function findProcesses(vars: Record<string, string>): number[] {
  const needles = Object.entries(vars).map(([k, v]) => Buffer.from(`\0${k}=${v}\0`));
  return findMatching([(environ) => needles.every((n) => environ.includes(n))])[0]!;
}

/**
 * The orphans of several runs with one reading of /proc (`joinflow gc` sweeps many runs at once):
 * for each run id, the pids findOrphans would give.
 */
export function findOrphansOfRuns(runIds: readonly string[]): Map<string, number[]> {
  const needles = runIds.map((id) => Buffer.from(`\0JOINFLOW_RUN_ID=${id}\0`));
  const found = findMatching(needles.map((n) => (environ: Buffer) => environ.includes(n)));
  return new Map(runIds.map((id, i) => [id, found[i]!]));
}

/**
 * For each test (on a process's environment, NUL-separated with a NUL at each end), the pids
 * that pass it and their descendants; this process and its ancestors are never included.
 */
function findMatching(tests: ReadonlyArray<(environ: Buffer) => boolean>): number[][] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return tests.map(() => []);
  }
  const mine = ancestry();
  const found = tests.map(() => new Set<number>());
  const parents = new Map<number, number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (mine.has(pid)) continue;
    const ppid = parentOf(pid);
    if (ppid !== undefined) parents.set(pid, ppid);
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${pid}/environ`);
    } catch {
      continue; // gone, or another user's
    }
    // NUL-separated: look for each variable as a whole entry (the first one has no NUL before it).
    const all = Buffer.concat([Buffer.from([0]), environ, Buffer.from([0])]);
    for (let i = 0; i < tests.length; i++) if (tests[i]!(all)) found[i]!.add(pid);
  }
  // Descendants: whoever has a found process as its parent, until nothing is added.
  for (const set of found) {
    for (let grew = set.size > 0; grew; ) {
      grew = false;
      for (const [pid, ppid] of parents) {
        if (!set.has(pid) && set.has(ppid) && !mine.has(pid)) {
          set.add(pid);
          grew = true;
        }
      }
    }
  }
  return found.map((set) => [...set]);
}

/** Stops the run's orphans: SIGTERM, then SIGKILL for those still there after `graceMs`. Returns how many there were. */
export async function stopOrphans(runId: string, graceMs = 2000): Promise<number> {
  return stopProcesses(findOrphans(runId), graceMs);
}

/** SIGTERM to each, then SIGKILL for those still there after `graceMs`; returns how many there were. */
export async function stopProcesses(pids: readonly number[], graceMs = 2000): Promise<number> {
  for (const pid of pids) signal(pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  let left = pids.filter(exists);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    left = left.filter(exists);
  }
  for (const pid of left) signal(pid, 'SIGKILL');
  return pids.length;
}

/** This process and its ancestors: never signalled (a joinflow run inside a step has the outer run's id). */
function ancestry(): Set<number> {
  const out = new Set<number>([process.pid]);
  let pid: number | undefined = process.ppid;
  for (let i = 0; i < 64 && pid !== undefined && pid > 1 && !out.has(pid); i++) {
    out.add(pid);
    pid = parentOf(pid);
  }
  return out;
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie (exited, not yet reaped by init) counts as gone.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
