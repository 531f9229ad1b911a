/** `joinflow events tail`: streams the events of the embedded engine's state dir that match a pattern. */
import { parseArgs } from 'node:util';
import { watchOutput } from '../adapters/local/output-watch.ts';
import { UsageError } from '../model/errors.ts';
import type { EventPattern } from '../model/plan.ts';
import { compilePattern, MAX_PATTERN_LENGTH, PatternError } from '../model/pattern.ts';
import { openState, stateDir } from './state.ts';
import { readJson } from './test-pattern-command.ts';

/** How often the log is read for new events while following. */
const POLL_MS = 100;
const PAGE = 1000;

/** Runs `joinflow events tail`; resolves with the exit code once stopped (SIGINT, --limit, --no-follow). */
export async function eventsCommand(args: string[], options: { signal?: AbortSignal } = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      pattern: { type: 'string' },
      state: { type: 'string' },
      'from-start': { type: 'boolean', default: false },
      'no-follow': { type: 'boolean', default: false },
      limit: { type: 'string' },
    },
  });
  if (positionals[0] !== 'tail' || positionals.length !== 1) throw new UsageError('usage: joinflow events tail [--pattern JSON|@file] [--from-start] [--no-follow] [--limit N] [--state DIR]');
  const limit = values.limit === undefined ? Infinity : Number(values.limit);
  if (!(limit === Infinity || (Number.isInteger(limit) && limit > 0))) throw new UsageError(`--limit must be a whole number > 0 (got "${values.limit}")`);
  let test: (event: unknown) => boolean = () => true;
  if (values.pattern !== undefined) {
    const pattern = readJson('--pattern', values.pattern);
    if (typeof pattern !== 'object' || pattern === null || Array.isArray(pattern)) throw new UsageError('--pattern must be a JSON object');
    try {
      test = compilePattern(pattern as EventPattern, { maxLength: MAX_PATTERN_LENGTH });
    } catch (error) {
      if (error instanceof PatternError) throw new UsageError(`--pattern: invalid ${error.message}`);
      throw error;
    }
  }

  // A reader next to the engine that writes the dir (SQLite WAL): it never takes the write lock.
  const state = openState(stateDir(values.state), { mustExist: true });
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  options.signal?.addEventListener('abort', onSignal, { once: true });
  // While following, nothing may be written for a long time, and Node learns that the reader has
  // gone (`events tail | grep -m1 Failed`) only from the EPIPE of its next write: the watch stops
  // the tail (exit 0) as soon as the pipe has no reader. Where it cannot tell (not Linux, the
  // native/spawn addon not built) it does nothing, and the tail stops at its next write.
  const unwatch = values['no-follow'] ? () => {} : watchOutput(1, onSignal);
  let shown = 0;
  try {
    // Following, new events only unless --from-start; --no-follow prints what the log holds
    // (from its end it would print nothing, ever).
    let seq = values['from-start'] || values['no-follow'] ? 0 : state.log.lastEventSeq();
    while (!stop && !options.signal?.aborted) {
      const page = state.log.eventsAfter(seq, PAGE);
      for (const { seq: s, event } of page) {
        seq = s;
        if (!test(event)) continue;
        process.stdout.write(`${JSON.stringify(event)}\n`);
        if (++shown >= limit) return 0;
      }
      if (page.length >= PAGE) continue;
      if (values['no-follow']) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return 0;
  } finally {
    unwatch();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    state.close();
  }
}
