/**
 * Noticing that the reader of this process's output has gone away while nothing is written.
 *
 * Node learns that a pipe's reader is gone only from the EPIPE of its next write, so a command
 * that waits for something to print (`events tail` on an idle state dir, piped into
 * `grep -m1 Failed`) would wait on after grep has exited. Linux reports such a pipe at once: poll()
 * on its write end returns POLLERR (and a socket whose peer has closed, as a parent's
 * `stdio: 'pipe'` is, POLLHUP); GNU `tail -f` stops the same way. poll() is not reachable from
 * JavaScript, so the native/spawn addon's outputGone(fd) makes the call, and the watch asks it
 * every few hundred milliseconds.
 *
 * Where that is not available (not Linux, or the addon was not built: `npm run build:native`) the
 * watch does nothing, and a command notices a vanished reader at its next write, as before.
 */
import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { NATIVE_SPAWN_ADDON } from './native-launcher.ts';

type Probe = (fd: number) => boolean;

/** How often a watched output is checked: a reader's exit is noticed within about this long. */
export const OUTPUT_WATCH_MS = 250;

let loaded: { probe: Probe } | { reason: string } | undefined;

function load(): { probe: Probe } | { reason: string } {
  if (loaded) return loaded;
  // Other systems' poll() does not report a pipe without readers the same way (or at all).
  if (process.platform !== 'linux') return (loaded = { reason: `only on Linux (this is ${process.platform})` });
  try {
    const addon = createRequire(import.meta.url)(NATIVE_SPAWN_ADDON) as { outputGone?: Probe };
    if (typeof addon.outputGone !== 'function') return (loaded = { reason: 'the native/spawn addon predates outputGone (npm run build:native)' });
    return (loaded = { probe: addon.outputGone.bind(addon) });
  } catch (error) {
    return (loaded = { reason: `the native/spawn addon is not built (npm run build:native): ${(error as Error).message.split('\n')[0]}` });
  }
}

/** Whether outputs can be watched for a vanished reader; else why not. */
export function outputWatchStatus(): { available: true } | { available: false; reason: string } {
  const l = load();
  return 'probe' in l ? { available: true } : { available: false, reason: l.reason };
}

/**
 * Whether nothing written to `fd` (a pipe's write end or a socket) can be read any more, or
 * undefined where this cannot be told (see outputWatchStatus).
 */
export function outputGone(fd: number): boolean | undefined {
  const l = load();
  return 'probe' in l ? l.probe(fd) : undefined;
}

/**
 * Calls `onGone` once when the reader of `fd` goes away, checking every `intervalMs`; returns the
 * function that stops the watch. Only pipes and sockets are watched (a file or a terminal has no
 * reader to lose); elsewhere, and where outputGone is not available, this does nothing. The timer
 * is unref'd: the watch never keeps the process alive by itself.
 */
export function watchOutput(fd: number, onGone: () => void, intervalMs = OUTPUT_WATCH_MS): () => void {
  const l = load();
  if (!('probe' in l)) return () => {};
  let watched: boolean;
  try {
    const stat = fstatSync(fd);
    watched = stat.isFIFO() || stat.isSocket();
  } catch {
    watched = false; // not open: a write will say so
  }
  if (!watched) return () => {};
  const timer = setInterval(() => {
    let gone: boolean;
    try {
      gone = l.probe(fd);
    } catch {
      gone = false; // poll() itself failed (ENOMEM): leave it to the next write
    }
    if (!gone) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
