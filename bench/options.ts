/**
 * The command lines of `npm run bench` and `npm run bench:peers`, checked before anything runs:
 * a bad flag, value or name is a UsageError saying which (the entry points print its message and
 * exit 2, with no stack trace), and `--help` asks for the usage text.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../src/model/errors.ts';

/** `npm run bench`, as its --help prints it. */
export const BENCH_USAGE = `usage: npm run bench -- [--runs N] [--only NAME,...] [--json]
  --runs N       fresh processes per scenario, medians over them (default 3)
  --only a,b     scenarios to run (default: all)
  --json         one JSON object on stdout (npm run -s bench -- --json keeps npm's banner off it)`;

/** `npm run bench:peers`, as its --help prints it. */
export const PEER_USAGE = `usage: npm run bench:peers -- [--runs N] [--only SHAPE,...] [--variants V,...] [--steady-tasks N]
                            [--redis-aof] [--timeout SECONDS] [--json | --markdown]
  --runs N            rounds; each engine runs in a fresh process per round (default 3)
  --only a,b          shapes (default: all)
  --variants a,b      joinflow rows (default: memory-simulate, sqlite-simulate, sqlite-function)
  --steady-tasks N    each engine process runs the DAG until N tasks have run (default 0: 10 runs)
  --redis-aof         HyperFlow's Redis with an append-only file, fsynced every second
  --timeout SECONDS   time limit for one engine process (default 600)
  --json | --markdown compact JSON, or a Markdown table and the meta line (default: pretty JSON)`;

/** Options of `npm run bench`. */
export type BenchOptions = { json: boolean; runs: number; names: string[] };

/** Options of `npm run bench:peers`. */
export type PeerOptions = {
  json: boolean;
  markdown: boolean;
  runs: number;
  names: string[];
  variants: string[];
  timeoutMs: number;
  steadyTasks: number;
  redisAof: boolean;
};

/** `parse()`, or on a UsageError its message after `prefix: ` on stderr, no stack trace, and exit 2. */
export function orExit<T>(prefix: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${prefix}: ${error.message}\n`);
    process.exit(2);
  }
}

/** The flag definitions of node:util's parseArgs. */
export type Flags = NonNullable<ParseArgsConfig['options']>;

/** The longest time limit Node's timers keep (a larger one fires at once). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The flags of `options` (and --help, -h) in `args`; anything else is a UsageError. */
export function parseFlags(args: readonly string[], options: Flags): Record<string, string | boolean | undefined> | 'help' {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: [...args], options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('. To specify a positional')[0]} (see --help)`);
  }
  if (values['help']) return 'help';
  return values as Record<string, string | boolean | undefined>;
}

/** A whole number of at least `min`, written as digits. */
export function wholeNumber(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${flag} must be a whole number of at least ${min}, got "${text}"`);
  }
  return n;
}

/**
 * The names of a comma-separated list (`--only`, `--variants`), trimmed; every unknown one is
 * named in one error, so that a typo at the end does not cost the runs before it.
 */
export function namesFrom(flag: string, list: string | undefined, known: readonly string[], what: string, defaults: readonly string[] = known): string[] {
  if (list === undefined) return [...defaults];
  const names = list.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(`unknown ${what}${unknown.length === 1 ? '' : 's'} ${unknown.map((n) => `"${n}"`).join(', ')} in ${flag} (have: ${known.join(', ')})`);
  }
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) throw new UsageError(`${flag} names ${[...new Set(twice)].map((n) => `"${n}"`).join(', ')} more than once`);
  return names;
}

/** `npm run bench` options; `scenarios` are the names `--only` may use. */
export function parseBenchOptions(args: readonly string[], scenarios: readonly string[]): BenchOptions | 'help' {
  const values = parseFlags(args, { json: { type: 'boolean' }, runs: { type: 'string' }, only: { type: 'string' } });
  if (values === 'help') return values;
  return {
    json: values['json'] === true,
    runs: wholeNumber('--runs', (values['runs'] as string | undefined) ?? '3', 1),
    names: namesFrom('--only', values['only'] as string | undefined, scenarios, 'scenario'),
  };
}

/** `npm run bench:peers` options; `shapes` and `variants` are the names `--only` and `--variants` may use. */
export function parsePeerOptions(args: readonly string[], shapes: readonly string[], variants: readonly string[], defaultVariants: readonly string[]): PeerOptions | 'help' {
  const values = parseFlags(args, {
    json: { type: 'boolean' },
    markdown: { type: 'boolean' },
    runs: { type: 'string' },
    only: { type: 'string' },
    variants: { type: 'string' },
    timeout: { type: 'string' },
    'steady-tasks': { type: 'string' },
    'redis-aof': { type: 'boolean' },
  });
  if (values === 'help') return values;
  if (values['json'] && values['markdown']) throw new UsageError('--json and --markdown: give one of them');
  const timeout = (values['timeout'] as string | undefined) ?? '600';
  const timeoutMs = Math.round(Number(timeout) * 1000);
  if (timeout.trim() === '' || !Number.isFinite(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new UsageError(`--timeout must be a number of seconds from 0.001 to ${Math.floor(MAX_TIMEOUT_MS / 1000)}, got "${timeout}"`);
  }
  return {
    json: values['json'] === true,
    markdown: values['markdown'] === true,
    runs: wholeNumber('--runs', (values['runs'] as string | undefined) ?? '3', 1),
    names: namesFrom('--only', values['only'] as string | undefined, shapes, 'shape'),
    variants: namesFrom('--variants', values['variants'] as string | undefined, variants, 'variant', defaultVariants),
    timeoutMs,
    steadyTasks: wholeNumber('--steady-tasks', (values['steady-tasks'] as string | undefined) ?? '0', 0),
    redisAof: values['redis-aof'] === true,
  };
}
