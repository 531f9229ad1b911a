/** Commands the CLI suggests in its messages, written so that they work when copied as they are. */
import path from 'node:path';
import { shellQuote } from '../adapters/local/shell-quote.ts';
import { DEFAULT_STATE_DIR } from './state.ts';

/**
 * A state dir as messages show it: relative when it is under the current directory (as
 * `.joinflow`), absolute elsewhere (not `../../x`).
 */
export function shownDir(dir: string): string {
  const rel = path.relative(process.cwd(), dir);
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(dir) : rel;
}

/**
 * `joinflow <words>` for a command on the state dir `dir`, with `--state DIR` unless `dir` is the
 * default one (`.joinflow` of the current directory): a hint that names a run of another state dir
 * must say which, or the command it suggests finds no such run. Words are quoted as a shell needs
 * them, but for placeholders (`<runId>`): in double quotes, as messages put the whole command in
 * single quotes. The second word is the command's operand (a run id), put after `--` when it
 * starts with a dash.
 */
export function stateCommand(dir: string, ...words: string[]): string {
  const [name, operand, ...rest] = words.map((w) => (/^<\w+>$/.test(w) ? w : quoted(w)));
  // A run id that starts with a dash (`-x`) would be read as an option: it goes last, after `--`.
  const dashed = operand !== undefined && operand.startsWith('-');
  const command = ['joinflow', ...(name === undefined ? [] : [name]), ...(operand === undefined || dashed ? [] : [operand]), ...rest];
  if (path.resolve(dir) !== path.resolve(DEFAULT_STATE_DIR)) {
    // A dir that starts with a dash would be read as an option (`--state -runs`): `./-runs`.
    const shown = shownDir(dir);
    command.push('--state', quoted(shown.startsWith('-') ? `.${path.sep}${shown}` : shown));
  }
  if (dashed) command.push('--', operand);
  return command.join(' ');
}

/**
 * A word as a shell reads it back: bare when it can be, else in double quotes; shellQuote's
 * single quotes for a `!` (an interactive bash expands it in double quotes), its ANSI-C form for
 * control characters.
 */
export function quoted(word: string): string {
  const q = shellQuote(word);
  if (q === word || q.startsWith('$') || word.includes('!')) return q;
  return `"${word.replace(/["\\$`]/g, '\\$&')}"`;
}
