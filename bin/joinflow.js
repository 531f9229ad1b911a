#!/usr/bin/env node
// Entry point. Runs the compiled CLI (dist/, built by `npm ci` or `npm run build`) while it is up to
// date with src/, else the TypeScript sources through tsx (see cli-entry.js). Workflows and handlers
// may be TypeScript either way: the compiled CLI registers tsx when it first loads such a module.
// Their `import ... from 'joinflow'` gets the copy the CLI runs: dist/ by package.json's exports,
// src/ by the `joinflow-source` condition that source-condition.js adds.
import { register } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compiledCli } from './cli-entry.js';

// A reader that goes away (`joinflow status r1 | head`) closes the pipe: stop quietly, as a Unix
// tool killed by SIGPIPE does, instead of dying on an unhandled EPIPE with a stack trace. A run
// stopped this way is interrupted like a killed one: `joinflow resume` continues it.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

let registered;
/**
 * Registers the TypeScript loader (tsx) once: for ES modules, and for CommonJS, which a .ts file
 * is in a package without "type": "module" (Node then loads it through require). `ownPackage`:
 * the compiled CLI also sends an ES import of this package to dist/ (src/adapters/local/own-package.ts).
 */
function registerTsx(ownPackage = false) {
  registered ??= Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]).then(([esm, cjs]) => {
    esm.register();
    cjs.register();
    // Registered after tsx, so it runs first and sees what tsx and Node resolve.
    if (ownPackage) {
      register(new URL('../dist/adapters/local/own-package.js', import.meta.url), {
        data: {
          src: new URL('../src/index.ts', import.meta.url).href,
          dist: new URL('../dist/index.js', import.meta.url).href,
          handlerSrc: new URL('../src/handler.ts', import.meta.url).href,
          handlerDist: new URL('../dist/handler.js', import.meta.url).href,
        },
      });
    }
  });
  return registered;
}

let main;
const compiled = compiledCli(fileURLToPath(new URL('..', import.meta.url)));
if (compiled) {
  const files = await import(new URL('../dist/adapters/local/workflow-files.js', import.meta.url).href);
  files.userModules.prepare = () => registerTsx(true);
  ({ main } = await import(pathToFileURL(compiled).href));
} else {
  await registerTsx();
  // Registered after tsx, so it runs first: tsx and Node resolve with the condition added.
  register(new URL('./source-condition.js', import.meta.url));
  ({ main } = await import('../src/cli/main.ts'));
}
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
