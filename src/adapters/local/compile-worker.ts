/**
 * Runs in a worker thread of its own (compile-isolated.ts): compiles the workflow files it is
 * given and posts back each plan or the message of what was wrong, then ends. Everything the
 * files imported goes with the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { TriggerPlan } from '../../model/plan.ts';
import { compileFile } from './workflow-files.ts';

/** What the worker posts for each file. */
export type CompiledFile = { file: string; plan: TriggerPlan } | { file: string; error: string };

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
