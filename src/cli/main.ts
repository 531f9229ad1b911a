/** The `joinflow` command: parses the subcommand and hands over. Wiring only. */
import { JoinflowError, UsageError, WorkflowDefinitionError } from '../model/errors.ts';
import { compileCommand } from './compile-command.ts';
import { HELP, usage } from './help.ts';
import { importCommand } from './import-command.ts';
import { runCommand } from './run-command.ts';

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  run: runCommand,
  compile: compileCommand,
  import: importCommand,
};

/** Runs the CLI; resolves with the exit code (0 ok, 1 run failed, 2 bad usage or definition). */
export async function main(argv: string[]): Promise<number> {
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
  const handler = COMMANDS[command];
  if (!handler) {
    process.stderr.write(`joinflow: unknown command "${command}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP[command] ?? usage());
    return 0;
  }
  try {
    return await handler(rest);
  } catch (error) {
    if (error instanceof WorkflowDefinitionError || error instanceof UsageError) {
      process.stderr.write(`joinflow ${command}: ${error.message}\n`);
      if (error instanceof UsageError) process.stderr.write(`Run 'joinflow ${command} --help' for usage.\n`);
      return 2;
    }
    if (error instanceof JoinflowError) {
      process.stderr.write(`joinflow ${command}: ${error.message}\n`);
      return 2;
    }
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`joinflow ${command}: ${(error as Error).message}\nRun 'joinflow ${command} --help' for usage.\n`);
      return 2;
    }
    throw error;
  }
}
