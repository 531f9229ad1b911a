/** The `joinflow` command: parses the subcommand and hands over. Wiring only. */
import { JoinflowError, UsageError, visible, WorkflowDefinitionError } from '../model/errors.ts';
import { HELP, usage } from './help.ts';
import { stuckThreads } from '../adapters/local/stuck-threads.ts';

type Command = (args: string[]) => Promise<number>;

// Loaded on demand: the AWS commands pull in the SDK, which `run` does not need.
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run-command.ts')).runCommand,
  compile: async () => (await import('./compile-command.ts')).compileCommand,
  import: async () => (await import('./import-command.ts')).importCommand,
  'cwl-tool': async () => (await import('./cwl-tool-command.ts')).cwlToolCommand,
  start: async () => (await import('./start-command.ts')).startCommand,
  status: async () => (await import('./status-command.ts')).statusCommand,
  worker: async () => (await import('./worker-command.ts')).workerCommand,
  resume: async () => (await import('./resume-command.ts')).resumeCommand,
  cancel: async () => (await import('./cancel-command.ts')).cancelCommand,
  dlq: async () => (await import('./dlq-command.ts')).dlqCommand,
  gc: async () => (await import('./gc-command.ts')).gcCommand,
  'test-pattern': async () => (await import('./test-pattern-command.ts')).testPatternCommand,
  dev: async () => (await import('./dev-command.ts')).devCommand,
  list: async () => (await import('./list-command.ts')).listCommand,
  logs: async () => (await import('./logs-command.ts')).logsCommand,
  events: async () => (await import('./events-command.ts')).eventsCommand,
  timeline: async () => (await import('./timeline-command.ts')).timelineCommand,
  plan: async () => (await import('./plan-command.ts')).planCommand,
};

/** Runs the CLI; resolves with the exit code (0 ok, 1 run failed, 2 bad usage or definition). */
export async function main(argv: string[]): Promise<number> {
  // `joinflow cancel` signals the process that runs a run with SIGUSR2, whose default action ends
  // a process: a joinflow process never dies of it, whenever it comes (before its engine listens,
  // or while it shuts down); the request it stands for stays in the state dir (see resume).
  process.on('SIGUSR2', () => {});
  // Under Node 20 the AWS SDK prints on every command that its releases after January 2027 need
  // Node 22: eight lines before the command's own output. joinflow pins its SDK release
  // (package-lock.json), which supports Node 20. Set the variable to "false" to see the warning.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined;
    process.stdout.write(topic && HELP[topic] ? HELP[topic] : usage());
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write('joinflow 0.1.0\n');
    return 0;
  }
  const load = COMMANDS[command];
  if (!load) {
    const { suggest } = await import('../compiler/validate.ts');
    process.stderr.write(`joinflow: unknown command ${visible(JSON.stringify(command))}${suggest(command, Object.keys(COMMANDS))}\n\n${usage()}`);
    return 2;
  }
  // Not after `--`, where `-h` is an operand (the run id `-h`: `joinflow status -- -h`).
  const options = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (options.includes('--help') || options.includes('-h')) {
    process.stdout.write(HELP[command] ?? usage());
    return 0;
  }
  try {
    const code = await (await load())(rest);
    await leaveStuckThreads(command, code);
    return code;
  } catch (error) {
    // A message may quote what a file held (a trace's task name, a step id): its control
    // characters are shown as \uXXXX rather than acting on the terminal.
    if (error instanceof WorkflowDefinitionError || error instanceof UsageError) {
      process.stderr.write(`joinflow ${command}: ${visible(error.message, { lines: true })}\n`);
      if (error instanceof UsageError) process.stderr.write(`Run 'joinflow ${command} --help' for usage.\n`);
      return 2;
    }
    if (error instanceof JoinflowError && error.code === 'STATE_DAMAGED') {
      process.stderr.write(`joinflow ${command}: ${await stateFileOf(rest)}: ${error.message}. '${await stateHint(rest, 'cancel', '<runId>')}' sets a run that cannot be read aside (resume, cancel and status go on with the others); or move the file away to start afresh.\n`);
      return 2;
    }
    if (error instanceof JoinflowError) {
      process.stderr.write(`joinflow ${command}: ${visible(error.message, { lines: true })}\n`);
      // The engine stopped as if killed: what it had committed is there to continue from.
      if (error.code === 'STATE_WRITE' && (error as { resumable?: boolean }).resumable !== false && ENGINES.has(command)) process.stderr.write(`Once there is room (or the cause is fixed), '${await stateHint(rest, 'resume')}' continues the runs it was executing.\n`);
      return 2;
    }
    // A page SQLite found damaged after the file opened (opening checks only the header).
    if ((error as Error)?.name === 'SqliteError' && /^SQLITE_(CORRUPT|NOTADB)/.test(String((error as { code?: unknown }).code))) {
      process.stderr.write(`joinflow ${command}: ${await stateFileOf(rest)}: not a valid state database (${(error as Error).message}, ${(error as { code: string }).code}): it is damaged; move it away to start afresh.\n`);
      return 2;
    }
    const environment = environmentError(error);
    if (environment !== undefined) {
      process.stderr.write(`joinflow ${command}: ${environment}\n`);
      return 2;
    }
    // Not every error's code is a string (a DOMException's is a number).
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      const dashed = RUN_ID_COMMANDS.has(command) ? await dashedOperand(error as Error, rest) : undefined;
      const message = dashed === undefined ? parseArgsMessage(error as Error) : `unknown option ${dashed} (a run id that starts with a dash goes after --: '${await dashedCommand(command, rest, dashed)}')`;
      process.stderr.write(`joinflow ${command}: ${message}\nRun 'joinflow ${command} --help' for usage.\n`);
      return 2;
    }
    throw error;
  }
}

/**
 * A handler's thread that did not stop when told, blocked in a native call (stuck-threads.ts),
 * would keep the process alive after the command is done, its output written and its state
 * committed and closed: said, and the process exits without waiting for it, where it can.
 */
async function leaveStuckThreads(command: string, code: number): Promise<void> {
  const stuck = stuckThreads();
  if (stuck.length === 0) return;
  process.stderr.write(`joinflow ${command}: the thread of ${stuck.join(', and of ')} did not stop when told: it is blocked in a native call that cannot be interrupted (a read that never returns, say).\n`);
  const { exitWithoutThreads } = await import('../adapters/local/native-exit.ts');
  if (!(await exitWithoutThreads(code))) process.stderr.write(`joinflow ${command}: done; the process ends when that call returns (interrupting it now loses nothing).\n`);
}

/**
 * The state file a command's arguments name (`--state DIR`, else the default dir), for the
 * errors of a damaged file, raised where the file is not known.
 */
async function stateFileOf(args: string[]): Promise<string> {
  const path = await import('node:path');
  return path.resolve(await stateDirOf(args), 'state.db');
}

/** The state dir a command's arguments name (`--state DIR`, else the default dir). */
async function stateDirOf(args: string[]): Promise<string> {
  // Imported here: main loads no more than the command it runs needs.
  const { DEFAULT_STATE_DIR } = await import('./state.ts');
  let dir = DEFAULT_STATE_DIR;
  for (const [i, arg] of args.entries()) {
    if (arg === '--state' && args[i + 1] !== undefined) dir = args[i + 1]!;
    else if (arg.startsWith('--state=')) dir = arg.slice('--state='.length);
  }
  return dir;
}

/** `joinflow <words>` on the state dir of a command's arguments, with its --state (stateCommand). */
async function stateHint(args: string[], ...words: string[]): Promise<string> {
  const { stateCommand } = await import('./hint.ts');
  return stateCommand(await stateDirOf(args), ...words);
}

/** The commands whose operand is a run id, which may start with a dash (`-x`). */
const RUN_ID_COMMANDS = new Set(['status', 'logs', 'timeline', 'resume', 'cancel']);

/**
 * The argument parseArgs took for an unknown option that is a run id (`-x`, or `-abc`, which
 * parseArgs names `-a`): undefined for anything else (`--typo` is an option mistyped).
 */
async function dashedOperand(error: Error, args: string[]): Promise<string | undefined> {
  const { runIdProblem } = await import('../model/events.ts');
  const unknown = /^Unknown option '(-[^-][^']*)'/.exec(error.message)?.[1];
  if (unknown === undefined) return undefined;
  // After `--` an operand is given already: a second one is no run id to move there.
  if (args.includes('--')) return undefined;
  const arg = args.find((a) => a === unknown || (unknown.length === 2 && a.startsWith(unknown) && !a.startsWith('--')));
  return arg !== undefined && runIdProblem(arg) === undefined ? arg : undefined;
}

/** The command as given, with its run id `dashed` moved after `--`. */
async function dashedCommand(command: string, args: string[], dashed: string): Promise<string> {
  const { quoted } = await import('./hint.ts');
  const others = [...args];
  others.splice(others.indexOf(dashed), 1);
  return ['joinflow', command, ...others.map(quoted), '--', dashed].join(' ');
}

/** The commands that execute runs: a failed commit stops their runs, which `resume` continues. */
const ENGINES = new Set(['run', 'resume', 'dev']);

/** What errno codes of a file operation say about the environment (exit 2 rather than a stack trace). */
const ENVIRONMENT: Record<string, string> = {
  EACCES: 'no permission',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'not a directory',
  EEXIST: 'already exists',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/**
 * The line for an error of the environment that no command turned into a message of its own: a
 * file operation refused (no permission, a read-only file system, a file where a directory must
 * be), or a state database SQLite may not write. Undefined for any other error.
 */
export function environmentError(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, syscall, path } = error as NodeJS.ErrnoException;
  if (typeof code !== 'string') return undefined;
  if (typeof syscall === 'string' && ENVIRONMENT[code] !== undefined) return `${path === undefined ? '' : `${path}: `}${ENVIRONMENT[code]} (${code}, ${syscall})`;
  if (/^SQLITE_(READONLY|CANTOPEN|PERM)/.test(code)) {
    return `the state database: ${error.message} (${code}); joinflow needs write access to it and to its directory, also to read it (SQLite WAL)`;
  }
  return undefined;
}

/**
 * node:util's parseArgs message, in a line: an option followed by something starting with a dash
 * (`--limit -1`) is "ambiguous" in three lines that suggest `--limit=-XYZ`, and an unknown option
 * comes with advice about positional arguments.
 */
export function parseArgsMessage(error: Error): string {
  const ambiguous = /^Option '(-[^']+)' argument is ambiguous/.exec(error.message);
  if (ambiguous) return `${ambiguous[1]} needs a value, but what follows it starts with a dash (write ${ambiguous[1]}=VALUE for a value that does)`;
  const unknown = /^Unknown option '([^']+)'/.exec(error.message);
  if (unknown) return `unknown option ${unknown[1]}`;
  return error.message;
}
