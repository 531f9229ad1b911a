/** `joinflow dlq list`: events the embedded engine could not process, with the reason. */
import { parseArgs } from 'node:util';
import { UsageError, visible } from '../model/errors.ts';
import { openState, stateDir } from './state.ts';

/** Runs `joinflow dlq list`. */
export async function dlqCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { state: { type: 'string' }, json: { type: 'boolean', default: false } } });
  if (positionals[0] !== 'list' || positionals.length !== 1) throw new UsageError('usage: joinflow dlq list [--state DIR] [--json]');
  const state = openState(stateDir(values.state), { mustExist: true });
  try {
    const letters = state.log.deadLetters();
    if (values.json) {
      process.stdout.write(`${JSON.stringify(letters)}\n`);
      return 0;
    }
    if (letters.length === 0) process.stderr.write('no dead letters\n');
    for (const d of letters) {
      const e = JSON.stringify(d.event) ?? String(d.event);
      process.stdout.write(`${new Date(d.at).toISOString()}  ${visible(d.reason, { lines: true })}\n    ${e.length > 200 ? `${e.slice(0, 197)}...` : e}\n`);
    }
    return 0;
  } finally {
    state.close();
  }
}
