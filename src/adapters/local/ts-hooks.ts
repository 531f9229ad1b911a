/**
 * Module hooks of the compiled CLI's handler workers (registered by function-worker.ts), run in
 * the worker's loader-hooks thread: a TypeScript file is loaded as the JavaScript that the main
 * thread compiles for it (ts-transpiler.ts), and an import of this package gets its compiled copy
 * (own-package.ts). A file the main thread leaves to tsx fails to load with the code
 * JOINFLOW_USE_TSX before any of its module graph runs, and the worker imports it with tsx.
 * It imports nothing heavy (esbuild is the main thread's): this thread starts in every worker.
 */
import { fileURLToPath } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { initialize as initializeOwn, resolve as resolveOwn, type OwnPackage } from './own-package.ts';
import { COMPILED_HERE, type TranspileReply, type TranspileRequest } from './ts-transpiler.ts';

/** What the hooks are given when registered: the port to the main thread's compiler, and own-package.ts's data. */
export type TsHooksData = { port: MessagePort; own: OwnPackage };

type Resolved = { url: string; format?: string | null | undefined };
type Loaded = { format: string; source?: string | ArrayBuffer | Uint8Array | null; shortCircuit?: boolean };
type Context = { parentURL?: string; format?: string | null; [key: string]: unknown };

let port: MessagePort | undefined;
let nextId = 1;
const waiting = new Map<number, (reply: TranspileReply) => void>();

export function initialize(data: TsHooksData): void {
  initializeOwn(data.own);
  port = data.port;
  port.on('message', (reply: TranspileReply) => {
    const done = waiting.get(reply.id);
    waiting.delete(reply.id);
    if (waiting.size === 0) port!.unref();
    done?.(reply);
  });
  port.unref();
}

const TS_PARENT = /\.(?:mts|tsx?)$/;
/** What a TypeScript file's import of `x.js` may mean: `x.ts` (TypeScript's NodeNext style). */
const TS_FOR_JS: Record<string, string[]> = { '.js': ['.ts', '.tsx'], '.mjs': ['.mts'], '.jsx': ['.tsx'] };

export async function resolve(specifier: string, context: Context, nextResolve: (specifier: string, context: Context) => Promise<Resolved>): Promise<Resolved> {
  return resolveOwn(specifier, context, async (s, c) => {
    try {
      return await nextResolve(s, c as Context);
    } catch (err) {
      // A TypeScript file that imports `./x.js` for its `./x.ts`.
      const ext = /\.[mc]?jsx?$/.exec(s)?.[0];
      const relative = s.startsWith('./') || s.startsWith('../') || s.startsWith('/') || s.startsWith('file:');
      if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND' || !relative || ext === undefined || !TS_PARENT.test(pathOf(context.parentURL))) throw err;
      for (const ts of TS_FOR_JS[ext] ?? []) {
        try {
          return await nextResolve(s.slice(0, -ext.length) + ts, c as Context);
        } catch {
          // Not this one either.
        }
      }
      throw err;
    }
  });
}

export async function load(url: string, context: Context, nextLoad: (url: string, context: Context) => Promise<Loaded>): Promise<Loaded> {
  // A format set before this hook (by tsx's, registered after it) is theirs to load.
  if (context.format !== undefined && context.format !== null) return nextLoad(url, context);
  if (!url.startsWith('file:') || !COMPILED_HERE.test(pathOf(url)) || port === undefined) return nextLoad(url, context);
  const reply = await ask(url);
  if ('source' in reply) return { format: 'module', source: reply.source, shortCircuit: true };
  if ('useTsx' in reply) throw Object.assign(new Error(`${fileURLToPath(url)}: ${reply.useTsx}, so tsx loads it`), { code: 'JOINFLOW_USE_TSX' });
  throw Object.assign(new SyntaxError(reply.error), { code: 'JOINFLOW_TS_COMPILE' });
}

function ask(url: string): Promise<TranspileReply> {
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    port!.ref();
    port!.postMessage({ id, url } satisfies TranspileRequest);
  });
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const end = url.search(/[?#]/);
  return end < 0 ? url : url.slice(0, end);
}
