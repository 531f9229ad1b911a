/** `joinflow gc`: compacts the state dir by deleting finished runs older than a cutoff. */
import { parseArgs } from 'node:util';
import { UsageError } from '../model/errors.ts';
import { openState, stateDir } from './state.ts';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Runs `joinflow gc`. */
export async function gcCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { state: { type: 'string' }, 'older-than': { type: 'string', default: '0s' } } });
  const m = /^(\d+)([smhd])$/.exec(values['older-than']);
  if (!m) throw new UsageError(`--older-than: "${values['older-than']}" is not a duration like 30m, 12h or 7d`);
  const before = Date.now() - Number(m[1]) * UNITS[m[2]!]!;
  const state = openState(stateDir(values.state), { mustExist: true });
  try {
    const { runs } = state.log.gc(before);
    // Finished subscription deliveries are kept only to recognise a late duplicate of their event.
    const outbox = state.outbox();
    const deliveries = outbox.prune(before);
    outbox.commit();
    process.stderr.write(`joinflow gc: removed ${runs} finished run(s) and ${deliveries} finished subscription deliver${deliveries === 1 ? 'y' : 'ies'}\n`);
    return 0;
  } finally {
    state.close();
  }
}
