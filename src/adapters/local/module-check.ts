/**
 * The definition check's look at handler modules (which function exports they have): each is
 * imported in a handler worker thread (function-worker.ts, so exactly as a step will import it),
 * and the thread is ended afterwards. Imported on the CLI's own thread, a module's top-level
 * code ran inside the joinflow process: what it printed went into `run --json`'s stdout, a timer
 * or socket it opened kept `joinflow run` from ever exiting, and a process.exit() in it ended the
 * command without a word.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startHandlerWorker } from './handler-worker-start.ts';
import type { DescribeReply, WorkerNotice } from './function-protocol.ts';

/** A module's function exports, or why it could not be imported. */
export type ModuleExports = { exports: string[]; note?: string } | { error: string };

export type DescribeOptions = {
  /** Where the modules' stdout goes while they are imported; default: the process's stderr. */
  output?: NodeJS.WritableStream;
  /** How long one module may take to import (a Lambda's init phase has 10 s); default 60 s. */
  limitMs?: number;
};

/** The function exports of each module (absolute paths), imported one after the other. */
export async function describeModules(paths: readonly string[], options: DescribeOptions = {}): Promise<Map<string, ModuleExports>> {
  const out = new Map<string, ModuleExports>();
  // A module that hangs or ends its thread is answered for; the rest go to a new thread.
  while (out.size < paths.length) await session(paths.slice(out.size), out, options);
  return out;
}

/** Imports modules in one thread until they are done, or one of them hangs or ends the thread. */
function session(paths: readonly string[], out: Map<string, ModuleExports>, options: DescribeOptions): Promise<void> {
  const limitMs = options.limitMs ?? 60_000;
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = startHandlerWorker([], options.output ?? process.stderr);
    } catch (error) {
      for (const p of paths) out.set(p, { error: `cannot start a thread to import it: ${(error as Error).message}` });
      return resolve();
    }
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    let crash: Error | undefined;
    let over = false;
    const end = (why?: string) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      if (why !== undefined && i < paths.length) out.set(paths[i]!, { error: why });
      void worker.terminate().then(() => resolve());
    };
    const ask = () => {
      if (i >= paths.length) return end();
      timer = setTimeout(() => end(`it did not finish loading within ${limitMs / 1000} s (a top-level await that never settles?)`), limitMs);
      worker.postMessage({ id: i, describe: paths[i]! });
    };
    worker.on('message', (message: DescribeReply | WorkerNotice) => {
      if ('notice' in message) {
        if (message.notice === 'ready') ask();
        // A timer of a module's top-level code that throws: that module's error, as when it ended
        // the thread (it would fail the steps of that module), and this thread, no longer sound, ends.
        if (message.notice === 'uncaught' && !over) {
          const why = `a callback of its top-level code threw and nothing caught it: ${message.error}`;
          const owner = message.owner !== undefined && 'module' in message.owner ? paths.indexOf(message.owner.module) : -1;
          if (owner >= 0 && owner <= i) out.set(paths[owner]!, { error: why });
          end(owner >= 0 && owner <= i ? undefined : why);
        }
        return;
      }
      if (message.id !== i || over) return;
      clearTimeout(timer);
      out.set(paths[i]!, 'exports' in message ? withNote(paths[i]!, message.exports) : { error: message.syntax ? withLine(paths[i]!, message.error) : message.error });
      i++;
      ask();
    });
    worker.on('error', (error: Error) => {
      crash = error;
    });
    worker.on('exit', (code) => {
      end(crash ? `it crashed its thread while being imported: ${crash.message}` : `it ended its thread (process.exit(${code})) while being imported`);
      resolve();
    });
  });
}

/**
 * A JavaScript module's syntax error with its line: Node's ES module loader gives only the
 * message, and `node --check` the place (run on this error's path only). TypeScript's compile
 * errors name their line already.
 */
function withLine(file: string, message: string): string {
  if (!/\.[cm]?js$/.test(file)) return message;
  const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
  const line = check.status === 0 ? undefined : /:(\d+)$/m.exec(check.stderr ?? '')?.[1];
  return line === undefined ? message : `line ${line}: ${message}`;
}

/**
 * A `.js` module with no function exports that is written as CommonJS (`exports.x =`,
 * `module.exports`) in a package of `"type": "module"`: Node reads it as an ES module, where those
 * assignments export nothing. Said, so that the fix is found.
 */
function withNote(file: string, exports: string[]): ModuleExports {
  if (exports.length > 0 || !file.endsWith('.js')) return { exports };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { exports };
  }
  if (!/\b(module\.exports|exports\.[\w$]+\s*=|require\s*\()/.test(text) || packageType(path.dirname(file)) !== 'module') return { exports };
  return { exports, note: 'it is written as CommonJS (exports.x = ..., require), but its package.json says "type": "module", so Node reads it as an ES module, which exports nothing that way: rename it .cjs, or use export' };
}

/** The `type` of the nearest package.json above `dir`. */
function packageType(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      return (JSON.parse(readFileSync(path.join(d, 'package.json'), 'utf8')) as { type?: string }).type ?? 'commonjs';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    }
    if (path.dirname(d) === d) return undefined;
  }
}
