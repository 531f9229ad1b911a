/**
 * Worker-thread side of the function executor: imports handler modules (once per worker), runs one
 * handler at a time and posts exactly one reply per request. Started by function-executor.ts.
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { StepError } from '../../model/events.ts';
import type { StepContext, StepEvent } from '../../model/workflow.ts';
import { ownPackageHook } from './own-package.ts';
import type { TsHooksData } from './ts-hooks.ts';
import { COMPILED_HERE, RESOLUTION_ERRORS, TS_HOOKS_ERRORS } from './ts-transpiler.ts';

/**
 * One handler invocation, sent by the pool. `timeoutMs` counts from the handler's start, after
 * its module has loaded (absent: no timeout): getRemainingTimeInMillis() counts down from it.
 */
export type WorkerRequest = {
  id: number;
  module: string;
  export: string;
  event: StepEvent;
  workflow: string;
  runId: string;
  step: string;
  attempt: number;
  item: number | undefined;
  timeoutMs: number | undefined;
  runStartedAt?: number | undefined;
};

/** The single reply to a request with the same `id`. */
export type WorkerReply = ({ id: number; ok: true; output: unknown } | { id: number; ok: false; error: StepError; retriable: boolean }) & {
  /** Milliseconds in the handler itself; absent when it was never called (its module did not load). */
  handlerMs?: number;
  /** The handler's module was imported for this request (its first in this worker, or changed on disk). */
  loaded?: boolean;
};

/**
 * Told to the pool apart from replies: the worker is ready for jobs (once, when it has started and
 * imported the modules it was given to preload: `warm` when there were any), and the handler of
 * request `id` is about to run after its module was imported for it.
 */
export type WorkerNotice = { notice: 'ready'; warm: boolean } | { notice: 'started'; id: number };

/** The definition check (module-check.ts) asks for a handler module's function exports. */
export type DescribeRequest = { id: number; describe: string };
/** Its answer: the names, or why the module did not load. */
export type DescribeReply = { id: number; exports: string[] } | { id: number; error: string; syntax: boolean };

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
  const loading = (first
    ? (viaHooks || bare ? plain() : registerTsx().then(plain)).catch((error: { code?: string } | null) => {
        // A module's top level may throw anything, null included.
        const code = error?.code;
        if (code === 'ERR_REQUIRE_CYCLE_MODULE' || (curable !== undefined && mtimeMs !== 0 && curable.has(code ?? ''))) return fresh();
        throw error;
      })
    : fresh()) as Promise<Module>;
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

/**
 * What a thrown value says, whatever it is: it never throws itself, since a reply must go back
 * for every request (an object without a prototype has no toString, a Proxy's traps may throw).
 */
function messageOf(err: unknown): string {
  if (err === null || typeof err !== 'object') return String(err);
  let message: unknown;
  let text: string | undefined;
  try {
    message = (err as { message?: unknown }).message;
    if (typeof message === 'string') return message;
    text = String(err);
  } catch {
    // No toString (a null prototype), or a getter or trap that throws.
  }
  // A plain object thrown (`throw {code, detail}`): its fields, not "[object Object]".
  if (text === undefined || text === '[object Object]') {
    try {
      const json = JSON.stringify(err);
      if (typeof json === 'string' && json !== '{}') return json;
    } catch {
      // A cycle, a BigInt, a trap that throws.
    }
  }
  return text ?? 'an object that cannot be converted to a string';
}

function notLoaded(req: WorkerRequest, err: unknown): WorkerReply {
  const code = (err as { code?: unknown } | null)?.code;
  const message = messageOf(err);
  // ERR_MODULE_NOT_FOUND is also raised for a missing dependency of the handler module; only call
  // the handler missing when the error is about the module itself. Node names the importing file
  // too ("Cannot find package 'x' imported from <the handler>"): that part does not count.
  const missing = code === 'ERR_MODULE_NOT_FOUND' && message.split(' imported from ')[0]!.includes(req.module);
  return {
    id: req.id,
    ok: false,
    error: {
      type: missing ? 'HandlerNotFound' : 'HandlerLoadError',
      message: missing
        ? `handler module '${req.module}' (export '${req.export}') does not exist`
        : `cannot load handler module '${req.module}' (export '${req.export}'): ${message}`,
    },
    retriable: false,
  };
}

function thrown(id: number, err: unknown): WorkerReply {
  let e: { name?: unknown; code?: unknown } = {};
  try {
    if (err !== null && typeof err === 'object') e = { name: (err as { name?: unknown }).name, code: (err as { code?: unknown }).code };
  } catch {
    // Its getters throw: an Error, retriable.
  }
  const type = typeof e.name === 'string' && e.name !== '' ? e.name : 'Error';
  // Matched by name and code rather than instanceof: the handler may bundle its own copy of joinflow.
  const retriable = !(type === 'NonRetriableStepError' || e.code === 'NON_RETRIABLE');
  return { id, ok: false, error: { type, message: shortened(messageOf(err)) }, retriable };
}

/** Error messages travel in events and the log: one over 32 KiB (as long as Step Functions lets a Cause be) keeps its start and says how much was cut. */
const MAX_MESSAGE = 32 * 1024;
function shortened(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE)}... (${message.length - MAX_MESSAGE} more characters cut)`;
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

/** The handler this worker ran last: a promise rejection nobody handled is most likely its. */
let last: { step: string; attempt: number; runId: string } | undefined;

// A rejection a handler left unhandled would crash this worker, and fail whichever step the
// worker runs next: the step that left it has already reported. Said on stderr instead.
process.on('unhandledRejection', (reason) => {
  const who = last === undefined ? 'a handler' : `the handler of step "${last.step}" (attempt ${last.attempt}, run ${last.runId}), run last in this worker,`;
  process.stderr.write(`joinflow: ${who} left a promise rejection unhandled: ${messageOf(reason)}\n`);
});

async function run(req: WorkerRequest): Promise<WorkerReply> {
  last = { step: req.step, attempt: req.attempt, runId: req.runId };
  const known = modules.get(req.module);
  let mod: Module;
  try {
    mod = await load(req.module);
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
  if (loaded) port.postMessage({ notice: 'started', id: req.id } satisfies WorkerNotice);
  const began = performance.now();
  const reply = await call(req, handler as (event: StepEvent, context: StepContext) => unknown);
  reply.handlerMs = performance.now() - began;
  if (loaded) reply.loaded = true;
  return reply;
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
    void run(req)
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
