/**
 * Which process runs a durable run. The engine saves its pid with every run it executes, and,
 * where /proc tells, the process's start time (`pidStart`, the 22nd field of /proc/<pid>/stat): a
 * pid the system has since given to another process is then not taken for the engine, whatever
 * that process is (a library engine's command line need not name joinflow).
 */
import { existsSync, readFileSync } from 'node:fs';

/** The start time of a process as /proc/<pid>/stat gives it (clock ticks after boot); undefined without /proc. */
export function processStart(pid: number = process.pid): string | undefined {
  return statFields(pid)?.[19];
}

/** A process's state (`R`, `S`, `Z` for a zombie...), parent and start time, as /proc/<pid>/stat gives them; undefined without it. */
export function processStatus(pid: number): { state: string; ppid: number; start: string } | undefined {
  const fields = statFields(pid);
  return fields === undefined ? undefined : { state: fields[0]!, ppid: Number(fields[1]), start: fields[19]! };
}

/** The fields of /proc/<pid>/stat after the command name (state first); undefined without it. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces or parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Whether the process with this pid is alive (signal 0 checks without signalling, and it is not a
 * zombie) and is the one that saved it: with `start`, its start time must match; without (runs saved before it was
 * kept, other joinflow files), its command line must name joinflow, where /proc tells.
 */
export function alive(pid: unknown, start?: unknown): boolean {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!existsSync('/proc/self')) return true;
  // A zombie (killed, and its parent has not reaped it: a supervisor that does not wait, a
  // container's PID 1 that reaps no orphans) still answers signal 0, but it will never write again.
  const fields = statFields(pid);
  if (fields !== undefined && (fields[0] === 'Z' || fields[0] === 'X')) return false;
  if (typeof start === 'string') return fields?.[19] === start;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('joinflow');
  } catch {
    // Not readable: the signal's answer stands.
    return existsSync(`/proc/${pid}`);
  }
}

let own: { pid: number; pidStart?: string } | undefined;

/**
 * What a run's saved options say of its engine, to be saved with every run an engine executes.
 * Read from /proc once per process: it was a file read per run (about 50 µs, a few percent of a
 * short run).
 */
export function engineIdentity(): { pid: number; pidStart?: string } {
  if (own?.pid !== process.pid) {
    const start = processStart();
    own = start === undefined ? { pid: process.pid } : { pid: process.pid, pidStart: start };
  }
  return { ...own };
}

/** The pid of another live process that executes the run whose saved options these are; undefined for none. */
export function runOwner(options: Record<string, unknown> | undefined): number | undefined {
  const pid = options?.['pid'];
  return pid !== process.pid && alive(pid, options?.['pidStart']) ? (pid as number) : undefined;
}
