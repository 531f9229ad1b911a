/**
 * Starts the worker threads that run handlers (function-worker.ts), for the function executor's
 * pool and the definition check (module-check.ts); the isolated compile (compile-isolated.ts)
 * starts its own with the same tsx and node options.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { serveTranspiler } from './ts-transpiler.ts';

/** The source tree runs as .ts (tsx, vitest); a `tsc` build rewrites imports to .js. */
export const COMPILED = import.meta.url.endsWith('.js');
const WORKER_ENTRY = new URL(COMPILED ? './function-worker.js' : './function-worker.ts', import.meta.url).href;

/**
 * Node 20 does not apply `--import tsx` to worker threads (tsx registers its hooks only on the main
 * thread there), so a worker registers tsx through its API: before importing its entry when that
 * is .ts (the source tree), otherwise (the compiled CLI) only once a handler needs it
 * (function-worker.ts), since registering costs ~150 ms of each worker's start. Compiled, a
 * TypeScript handler is first tried without it: see ts-transpiler.ts.
 */
export const TSX = { esm: tsxEsmApi(), cjs: createRequire(import.meta.url).resolve('tsx/cjs/api') };

/**
 * The ESM build of tsx/esm/api (its CommonJS build registers a wrong hooks path). vitest's module
 * runner has no import.meta.resolve, so fall back to the package's exports map there.
 */
function tsxEsmApi(): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve('tsx/esm/api');
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('tsx/package.json');
  const pkg = require(manifest) as { exports?: Record<string, { import?: { default?: string } }> };
  const entry = pkg.exports?.['./esm/api']?.import?.default;
  if (entry === undefined) throw new Error(`cannot locate tsx/esm/api in ${manifest}`);
  return pathToFileURL(join(dirname(manifest), entry)).href;
}

/** Evaluated as CommonJS in each new worker; paths come through workerData, never spliced into code. */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (!workerData.entry.endsWith('.ts')) import(workerData.entry);
else import(workerData.tsx.esm).then((tsx) => {
  tsx.register();
  require(workerData.tsx.cjs).register();
  workerData.tsxRegistered = true;
  return import(workerData.entry);
});
`;

/**
 * Options a worker may inherit. Everything else is dropped: --import/--require preloads belong to
 * the main program (tsx is registered explicitly), and V8 or per-process flags make `new Worker` throw.
 */
const INHERITED_FLAGS = new Set([
  '--enable-source-maps',
  '--no-warnings',
  '--no-deprecation',
  '--trace-warnings',
  '--trace-deprecation',
  '--trace-uncaught',
  '--experimental-vm-modules',
]);

/**
 * The condition of package.json's `exports` under which `joinflow` (and `joinflow/handler`,
 * `joinflow/asl`) resolve to the TypeScript sources, src/, instead of the compiled dist/ that
 * plain Node gets. bin/source-condition.js, vitest.config.ts and tsconfig.json name it too.
 */
export const SOURCE_CONDITION = 'joinflow-source';

/**
 * The options of `argv` (the main thread's) that a worker keeps. `sources`: the worker runs the
 * TypeScript sources (src/, as this module does when it is .ts), so it gets SOURCE_CONDITION:
 * a handler's `import ... from 'joinflow/handler'` then loads the same copy as the worker's own
 * code, not dist/ (which may be older than the sources, or not built at all).
 */
export function workerExecArgv(argv: readonly string[], sources = !COMPILED): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    // Custom conditions must match the main thread's or a package could resolve to another build.
    if ((arg === '--conditions' || arg === '-C') && i + 1 < argv.length) kept.push(arg, argv[++i]!);
    else if (arg.startsWith('--conditions=') || INHERITED_FLAGS.has(arg)) kept.push(arg);
  }
  if (sources && !kept.includes(SOURCE_CONDITION) && !kept.includes(`--conditions=${SOURCE_CONDITION}`)) kept.push(`--conditions=${SOURCE_CONDITION}`);
  return kept;
}

/**
 * Starts a handler worker (function-worker.ts) that imports `preload` before it says it is ready;
 * `output`: where its stdout goes (by default the process's own); `memoryMb`: its heap's cap (the
 * old generation's, where its objects live), beyond which the thread ends with
 * ERR_WORKER_OUT_OF_MEMORY instead of growing to V8's limit for the process.
 */
export function startHandlerWorker(preload: readonly string[], output?: NodeJS.WritableStream, execArgv = workerExecArgv(process.execArgv), memoryMb?: number): Worker {
  // Compiled, the worker's TypeScript is compiled by ts-transpiler.ts, asked for on this port.
  const channel = COMPILED ? transpilers.open() : undefined;
  const worker = new Worker(BOOTSTRAP, {
    eval: true,
    execArgv,
    ...(memoryMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: memoryMb } }),
    stdout: output !== undefined,
    workerData: { tsx: TSX, entry: WORKER_ENTRY, preload: [...preload], transpiler: channel?.port },
    transferList: channel === undefined ? [] : [channel.port],
  });
  // Written chunk by chunk rather than piped: a pipe per worker would add listeners to `output`
  // itself, over Node's warning threshold with more than 10 workers.
  if (output !== undefined) worker.stdout.on('data', (chunk: Buffer) => output.write(chunk));
  if (channel !== undefined) worker.once('exit', channel.close);
  return worker;
}

/**
 * Where handler workers' TypeScript is compiled: on this thread by default. A thread that ends
 * (compile-worker.ts) has the main thread's compiler serve its workers instead (see there).
 */
export const transpilers = {
  open(): { port: MessagePort; close: () => void } {
    const channel = new MessageChannel();
    serveTranspiler(channel.port1);
    return { port: channel.port2, close: () => channel.port1.close() };
  },
};
