/**
 * Worker-thread side of the function executor: imports handler modules (once per worker), runs one
 * handler at a time and posts exactly one reply per request. Started by function-executor.ts.
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { StepContext, StepEvent } from '../../model/workflow.ts';
import type { DescribeReply, DescribeRequest, Owner, WorkerNotice, WorkerReply, WorkerRequest } from './function-protocol.ts';
import { messageOf, notLoaded, thrown } from './handler-errors.ts';
import { owners, watchLeftovers } from './handler-leftovers.ts';
import { trackSpawns } from './handler-spawns.ts';
import { ownPackageHook } from './own-package.ts';
import type { TsHooksData } from './ts-hooks.ts';
import { COMPILED_HERE, RESOLUTION_ERRORS, TS_HOOKS_ERRORS } from './ts-transpiler.ts';

/**
 * What getRemainingTimeInMillis reports without a timeout. The largest delay setTimeout accepts:
 * handlers commonly do `setTimeout(..., remaining - margin)`, and anything larger makes Node fire
 * the timer after 1 ms instead.
 */
const NO_DEADLINE_MS = 2_147_483_647;

function requirePort(): MessagePort {
  if (parentPort === null) throw new Error('function-worker.ts must run in a worker thread (see function-executor.ts)');
  return parentPort;
}
const port = requirePort();

type Module = Record<string, unknown>;
const modules = new Map<string, { mtimeMs: number; loading: Promise<Module> }>();
const imported = new Set<string>();

/**
 * Where tsx's APIs are, and whether the bootstrap registered it (it does when this file runs as
 * .ts); compiled (dist/), the port to the main thread's TypeScript compiler (ts-transpiler.ts).
 */
const boot = workerData as { tsx: { esm: string; cjs: string }; tsxRegistered?: boolean; preload?: string[]; transpiler?: MessagePort };
let tsx: Promise<void> | undefined = boot.tsxRegistered ? Promise.resolve() : undefined;
/** ts-hooks.ts is registered: TypeScript compiled on the main thread, this package's imports redirected. */
let tsHooks = false;

/**
 * Registers ts-hooks.ts in this worker, once, when it can (compiled, tsx not registered): a
 * TypeScript handler then loads in ~1/3 of the time tsx takes to start (see ts-transpiler.ts).
 */
function registerTsHooks(): boolean {
  if (tsHooks) return true;
  if (boot.transpiler === undefined || tsx !== undefined) return false;
  const own = ownPackageHook(import.meta.url, 2).data;
  register(new URL('./ts-hooks.js', import.meta.url), { data: { port: boot.transpiler, own } satisfies TsHooksData, transferList: [boot.transpiler] });
  // Stack traces point into the TypeScript (the compiled code carries an inline source map).
  process.setSourceMapsEnabled(true);
  tsHooks = true;
  return true;
}

/**
 * Registers tsx in this worker, once: for TypeScript handlers, and for JavaScript ones that need
 * what tsx adds to Node's resolution (importing .ts files, imports without an extension).
 */
function registerTsx(): Promise<void> {
  tsx ??= import(boot.tsx.esm).then((api: { register(): unknown }) => {
    api.register();
    (createRequire(import.meta.url)(boot.tsx.cjs) as { register(): unknown }).register();
    // Compiled (dist/): a handler's import of this package gets the compiled copy (own-package.ts;
    // ts-hooks.ts, when registered, does that already).
    if (import.meta.url.endsWith('.js') && !tsHooks) {
      const { hook, data } = ownPackageHook(import.meta.url, 2);
      register(hook, { data });
    }
  });
  return tsx;
}

const TYPESCRIPT = /\.(?:[cm]?tsx?|jsx)$/;

/**
 * Imports a handler module once per worker — again when its file changed since (`joinflow dev`
 * picks up edited handlers without a restart; ESM's own cache would keep the old code forever).
 */
function load(path: string): Promise<Module> {
  let mtimeMs = 0;
  try {
    mtimeMs = statSync(path).mtimeMs;
  } catch {
    // A missing file fails in import() below, with the loader's own message.
  }
  const cached = modules.get(path);
  if (cached !== undefined && cached.mtimeMs === mtimeMs) return cached.loading;
  // Node's ESM cache keeps the first import of a URL: every later one must be a fresh tsImport.
  const first = !imported.has(path);
  imported.add(path);
  // tsx takes a specifier: a bare path with '#' or '%20' in it would be read as a URL.
  const fresh = () => registerTsx().then(() => import('tsx/esm/api')).then((api) => api.tsImport(pathToFileURL(path).href, import.meta.url));
  const plain = () => import(pathToFileURL(path).href) as Promise<Module>;
  // A .ts handler in a project without "type": "module" is CommonJS, which the ESM loader can
  // refuse to import ("in a cycle"): tsx's tsImport loads it either way.
  // Without tsx: a JavaScript handler in a worker that has loaded no TypeScript yet; compiled, a
  // TypeScript handler through ts-hooks.ts. Either is tried again with tsx if it failed in a way
  // tsx may cure, before any of its code ran (and the file itself exists).
  const viaHooks = first && tsx === undefined && COMPILED_HERE.test(path) && registerTsHooks();
  const bare = tsx === undefined && !TYPESCRIPT.test(path);
  const curable = viaHooks ? TS_HOOKS_ERRORS : bare ? RESOLUTION_ERRORS : undefined;
  // What the module's top-level code sets up (a timer, say) is the module's, not the task's that
  // happened to import it first.
  const loading = owners.run({ module: path }, () =>
    first
      ? (viaHooks || bare ? plain() : registerTsx().then(plain)).catch((error: { code?: string } | null) => {
          // A module's top level may throw anything, null included.
          const code = error?.code;
          if (code === 'ERR_REQUIRE_CYCLE_MODULE' || (curable !== undefined && mtimeMs !== 0 && curable.has(code ?? ''))) return fresh();
          throw error;
        })
      : fresh(),
  ) as Promise<Module>;
  modules.set(path, { mtimeMs, loading });
  // A failed import is not cached so that a fixed file can be picked up by the next attempt.
  loading.catch(() => modules.delete(path));
  return loading;
}

function pick(mod: Module, name: string): unknown {
  if (typeof mod[name] === 'function') return mod[name];
  // CommonJS modules imported from ESM expose module.exports as `default`.
  const fallback = mod['default'];
  if (fallback !== null && typeof fallback === 'object' && name in fallback) return (fallback as Module)[name];
  return mod[name];
}

function contextFor(req: WorkerRequest): StepContext {
  const deadline = req.timeoutMs === undefined ? undefined : Date.now() + req.timeoutMs;
  const context: StepContext = {
    workflow: req.workflow,
    runId: req.runId,
    step: req.step,
    attempt: req.attempt,
    awsRequestId: randomUUID(),
    getRemainingTimeInMillis:
      deadline === undefined ? () => NO_DEADLINE_MS : () => Math.max(0, deadline - Date.now()),
  };
  if (req.item !== undefined) context.item = req.item;
  if (req.runStartedAt !== undefined) context.runStartedAt = req.runStartedAt;
  return context;
}

watchLeftovers(port);
trackSpawns(port);

async function run(req: WorkerRequest): Promise<WorkerReply> {
  const known = modules.get(req.module);
  const loading = load(req.module);
  // The pool counts the handler as started (it takes this worker to have the module), but it is
  // imported again: its timeout must wait for 'started' (see lanes.ts).
  if (modules.get(req.module) !== known && !req.announce) port.postMessage({ notice: 'loading', id: req.id } satisfies WorkerNotice);
  let mod: Module;
  try {
    mod = await loading;
  } catch (err) {
    return notLoaded(req, err);
  }
  const handler = pick(mod, req.export);
  if (typeof handler !== 'function') {
    const exported = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
    return {
      id: req.id,
      ok: false,
      error: {
        type: 'HandlerNotFound',
        message:
          `handler module '${req.module}' has no function export '${req.export}'` +
          (handler === undefined ? '' : ` (it is ${typeof handler})`) +
          (exported.length > 0 ? `; function exports: ${exported.join(', ')}` : ''),
      },
      retriable: false,
    };
  }
  const loaded = modules.get(req.module) !== known;
  if (loaded || req.announce) port.postMessage({ notice: 'started', id: req.id } satisfies WorkerNotice);
  const began = performance.now();
  const reply = await call(req, handler as (event: StepEvent, context: StepContext) => unknown);
  reply.handlerMs = performance.now() - began;
  if (loaded) reply.loaded = true;
  return reply;
}

/** The task of a request, whose callbacks are told apart from other tasks' (handler-leftovers.ts). */
function ownerOf(req: WorkerRequest): Owner {
  const owner: Owner = { id: req.id, workflow: req.workflow, runId: req.runId, step: req.step, attempt: req.attempt };
  if (req.item !== undefined) owner.item = req.item;
  return owner;
}

/** Calls the handler; its outcome as a reply. */
async function call(req: WorkerRequest, handler: (event: StepEvent, context: StepContext) => unknown): Promise<WorkerReply> {
  try {
    const output: unknown = await handler(req.event, contextFor(req));
    // Lambda turns an undefined result into null; the other executors report "no output" as null too.
    if (output === undefined || output === null || typeof output === 'string' || typeof output === 'boolean') {
      return { id: req.id, ok: true, output: output ?? null };
    }
    if (typeof output === 'bigint') return notJson(req.id, 'a BigInt cannot be written as JSON');
    // Outputs travel as JSON (events, the durable log, Lambda): one that JSON cannot write (a
    // BigInt inside, a cycle) fails its step here, as Lambda would, not the engine later. The
    // output is what JSON kept (a Date as its string, no undefined fields, NaN as null), so that
    // `when` and later steps see what they would see after a restart, and on AWS.
    let text: string | undefined;
    try {
      text = JSON.stringify(output, lossless);
    } catch (err) {
      return notJson(req.id, messageOf(err));
    }
    return { id: req.id, ok: true, output: text === undefined ? null : JSON.parse(text) };
  } catch (err) {
    return thrown(req.id, err);
  }
}

/**
 * A JSON.stringify replacer that refuses what JSON would drop or write as `{}` without a word: a
 * function or a symbol, a Map or a Set.
 */
function lossless(key: string, value: unknown): unknown {
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new Error(`a ${typeof value}${key === '' ? '' : ` (at "${key}")`} cannot be written as JSON`);
  }
  if (value instanceof Map || value instanceof Set) {
    const what = value instanceof Map ? 'a Map' : 'a Set';
    throw new Error(`${what}${key === '' ? '' : ` (at "${key}")`} would be written as {}: return ${value instanceof Map ? 'Object.fromEntries(map)' : '[...set]'} instead`);
  }
  return value;
}

function notJson(id: number, why: string): WorkerReply {
  return { id, ok: false, error: { type: 'OutputNotSerializable', message: `handler output cannot be written as JSON: ${why}` }, retriable: false };
}

function reply(result: WorkerReply): void {
  try {
    port.postMessage(result);
  } catch (err) {
    // DataCloneError: the output holds functions, symbols, class handles... Retrying will not help.
    port.postMessage({
      id: result.id,
      ok: false,
      error: { type: 'OutputNotSerializable', message: `handler output cannot be structured-cloned: ${messageOf(err)}` },
      retriable: false,
    } satisfies WorkerReply);
  }
}

/**
 * The names of a module's function exports, as {@link pick} finds them: a CommonJS module
 * imported from ESM (a .ts file in a package without "type": "module", among others) may expose
 * its module.exports only as `default`, without named exports.
 */
function functionExports(mod: Module): string[] {
  const names = new Set(Object.keys(mod).filter((k) => typeof mod[k] === 'function'));
  const cjs = mod['default'];
  if (cjs !== null && typeof cjs === 'object') for (const k of Object.keys(cjs)) if (typeof (cjs as Module)[k] === 'function') names.add(k);
  return [...names].sort();
}

port.on('message', (req: WorkerRequest | DescribeRequest) => {
  if ('describe' in req) {
    void load(req.describe).then(
      (mod) => port.postMessage({ id: req.id, exports: functionExports(mod) } satisfies DescribeReply),
      (err: unknown) => port.postMessage({ id: req.id, error: messageOf(err), syntax: (err as Error | null)?.name === 'SyntaxError' } satisfies DescribeReply),
    );
  } else {
    // Whatever goes wrong, one reply: without it the step would wait for ever.
    void owners
      .run(ownerOf(req), () => run(req))
      .catch((err: unknown) => thrown(req.id, err))
      .then(async (result) => reply(await stdioFlushed(result)));
  }
});

/**
 * Waits for what the handler wrote to process.stdout and stderr to reach the main thread (a
 * worker's stdio is a stream of messages, each write acknowledged), then gives back the reply: sent
 * before, its output would arrive after it, and be lost when the run ends and the worker goes.
 */
async function stdioFlushed(result: WorkerReply): Promise<WorkerReply> {
  await Promise.all([process.stdout, process.stderr].map((stream) => (stream.writableLength === 0 || !stream.writable ? undefined : new Promise((resolve) => stream.write('', resolve)))));
  return result;
}
// The modules the pool's other workers have imported: loaded before this one takes a job, so
// that its first jobs do not wait for them mid-run. One that fails to load fails its job later.
const preload = boot.preload ?? [];
void Promise.allSettled(preload.map((m) => load(m))).then(() => port.postMessage({ notice: 'ready', warm: preload.length > 0 } satisfies WorkerNotice));
