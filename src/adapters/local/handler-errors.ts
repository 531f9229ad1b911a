/**
 * What a handler worker (function-worker.ts) replies when a handler throws or its module does not
 * load, made from whatever was thrown without ever throwing itself.
 */
import type { WorkerReply, WorkerRequest } from './function-protocol.ts';

/**
 * What a thrown value says, whatever it is: it never throws itself, since a reply must go back
 * for every request (an object without a prototype has no toString, a Proxy's traps may throw).
 */
export function messageOf(err: unknown): string {
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

/** The reply when a handler's module does not load: missing (the module itself, not one it imports), or failing. */
export function notLoaded(req: WorkerRequest, err: unknown): WorkerReply {
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

/** The reply when a handler throws: the error's name and message, retriable unless marked otherwise. */
export function thrown(id: number, err: unknown): WorkerReply {
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

const MAX_MESSAGE = 32 * 1024;
/** Error messages travel in events and the log: one over 32 KiB (as long as Step Functions lets a Cause be) keeps its start and says how much was cut. */
export function shortened(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE)}... (${message.length - MAX_MESSAGE} more characters cut)`;
}
