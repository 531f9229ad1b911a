#!/usr/bin/env node
// Entry point: registers the TypeScript loader (workflows and handlers may be .ts), then runs the CLI.
import { register } from 'tsx/esm/api';

register();
// A reader that goes away (`joinflow status r1 | head`) closes the pipe: stop quietly, as a Unix
// tool killed by SIGPIPE does, instead of dying on an unhandled EPIPE with a stack trace. A run
// stopped this way is interrupted like a killed one: `joinflow resume` continues it.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}
const { main } = await import('../src/cli/main.ts');
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
