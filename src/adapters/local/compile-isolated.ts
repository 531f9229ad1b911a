/**
 * Compiles workflow files in a worker thread that ends afterwards, for `joinflow dev`'s reloads.
 * A module, once imported, stays in its thread for good (ESM has no unloading), and importing an
 * edited workflow file anew imports everything it imports anew too (the joinflow package
 * included): in the server's own thread every reload kept ~70 MB more, until the heap ran out.
 */
import { Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { CompiledFile, ServeTranspiler } from './compile-worker.ts';
import { TSX, workerExecArgv } from './handler-worker-start.ts';
import { serveTranspiler } from './ts-transpiler.ts';

export type { CompiledFile } from './compile-worker.ts';

const COMPILED = import.meta.url.endsWith('.js');
const ENTRY = new URL(COMPILED ? './compile-worker.js' : './compile-worker.ts', import.meta.url).href;

/**
 * Workflow files may be TypeScript: from the sources, the thread registers tsx first (paths come
 * through workerData); compiled, compile-worker.ts has this thread compile them (see there).
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.tsx === undefined) import(workerData.entry);
else import(workerData.tsx.esm).then((tsx) => {
  tsx.register();
  require(workerData.tsx.cjs).register();
  return import(workerData.entry);
});
`;

/**
 * Each file's plan, or the message of why it does not compile, in the order given. `signal` ends
 * the thread (and the handler imports it checks with) and rejects: the files changed meanwhile.
 */
export function compileIsolated(files: readonly string[], root: string, signal?: AbortSignal): Promise<CompiledFile[]> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('the compile was stopped'));
    const worker = new Worker(BOOTSTRAP, { eval: true, execArgv: workerExecArgv(process.execArgv), workerData: { tsx: COMPILED ? undefined : TSX, entry: ENTRY, files: [...files], root } });
    signal?.addEventListener('abort', () => void worker.terminate(), { once: true });
    let result: CompiledFile[] | undefined;
    const served: MessagePort[] = [];
    worker.on('message', (message: CompiledFile[] | ServeTranspiler) => {
      if (Array.isArray(message)) {
        result = message;
      } else {
        served.push(message.serve);
        serveTranspiler(message.serve);
      }
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      for (const port of served) port.close();
      if (result) resolve(result);
      else reject(new Error(`the thread that compiles the workflows ended (exit code ${code}) without an answer`));
    });
  });
}
