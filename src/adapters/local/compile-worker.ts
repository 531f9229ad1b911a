/**
 * Runs in a worker thread of its own (compile-isolated.ts): compiles the workflow files it is
 * given and posts back each plan or the message of what was wrong, then ends. Everything the
 * files imported goes with the thread.
 *
 * Compiled (dist/), the thread starts no esbuild of its own: its TypeScript, and that of the
 * handler workers its definition check starts, is compiled on the main thread (ts-transpiler.ts,
 * through ts-hooks.ts as in handler workers), which is sent a port per user. An esbuild service
 * started in a thread (by tsx, or by a transpiler here) is a child process that no one reaps once
 * the thread has ended: `joinflow dev` kept a zombie process per reload. What ts-hooks.ts leaves
 * to tsx (a CommonJS package, a tsconfig.json that extends another) is still imported with tsx.
 */
import { register } from 'node:module';
import { MessageChannel, parentPort, workerData } from 'node:worker_threads';
import type { TriggerPlan } from '../../model/plan.ts';
import { transpilers } from './handler-worker-start.ts';
import { ownPackageHook } from './own-package.ts';
import type { TsHooksData } from './ts-hooks.ts';
import { TS_HOOKS_ERRORS } from './ts-transpiler.ts';
import { compileFile, userModules } from './workflow-files.ts';

/** What the worker posts for each file. */
export type CompiledFile = { file: string; plan: TriggerPlan } | { file: string; error: string };
/** What the worker posts for a port that the main thread's TypeScript compiler is to serve. */
export type ServeTranspiler = { serve: import('node:worker_threads').MessagePort };

if (import.meta.url.endsWith('.js')) {
  transpilers.open = () => {
    const channel = new MessageChannel();
    parentPort!.postMessage({ serve: channel.port1 } satisfies ServeTranspiler, [channel.port1]);
    // The main thread closes the ports it served when this thread ends.
    return { port: channel.port2, close: () => {} };
  };
  const { port } = transpilers.open();
  register(new URL('./ts-hooks.js', import.meta.url), { data: { port, own: ownPackageHook(import.meta.url, 2).data } satisfies TsHooksData, transferList: [port] });
  process.setSourceMapsEnabled(true);
  userModules.tsxCures = TS_HOOKS_ERRORS;
}

const { files, root } = workerData as { files: string[]; root: string };
const out: CompiledFile[] = [];
for (const file of files) {
  try {
    out.push({ file, plan: await compileFile(file, root) });
  } catch (error) {
    out.push({ file, error: (error as Error).message });
  }
}
parentPort!.postMessage(out);
