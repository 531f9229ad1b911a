/**
 * What a handler leaves running after it returns, in a handler worker (function-worker.ts): a
 * timer, a promise, a socket's callbacks. Each task's code runs in an AsyncLocalStorage context
 * that its callbacks keep, so a callback that throws later, or a rejection left unhandled, is told
 * as its own task's, not as the task the worker happens to run then.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { MessagePort } from 'node:worker_threads';
import { ownerLabel, type Owner, type WorkerNotice } from './function-protocol.ts';
import { messageOf, shortened } from './handler-errors.ts';

/** Whose code runs now: function-worker.ts runs each task, and each module's import, in its owner. */
export const owners = new AsyncLocalStorage<Owner>();

/**
 * Reports what callbacks throw and leave unhandled, instead of letting it end the thread: the
 * pool (function-executor.ts) fails the task that threw, or tells that a finished task's leftover
 * threw and replaces the worker once it is free, leaving the task that runs on it alone.
 */
export function watchLeftovers(port: MessagePort): void {
  const told = new Set<number | string | undefined>();
  process.on('uncaughtException', (error) => {
    const owner = owners.getStore();
    // A timer that throws every few ms: once per owner is enough, the pool acts on the first.
    const key = owner === undefined ? undefined : 'id' in owner ? owner.id : owner.module;
    if (told.has(key)) return;
    told.add(key);
    port.postMessage({ notice: 'uncaught', owner, error: shortened(errorText(error)) } satisfies WorkerNotice);
  });
  // A rejection nobody handled would end the thread as an exception does, though the task that
  // left it has usually reported already: said on stderr, naming that task, and not fatal.
  process.on('unhandledRejection', (reason) => {
    const owner = owners.getStore();
    const who = owner === undefined ? 'a handler' : 'id' in owner ? `the handler of ${ownerLabel(owner)}` : ownerLabel(owner);
    process.stderr.write(`joinflow: ${who} left a promise rejection unhandled: ${messageOf(reason)}\n`);
  });
}

/** `Name: message`, as a crash of the thread said it. */
function errorText(error: unknown): string {
  let name: unknown;
  try {
    name = error !== null && typeof error === 'object' ? (error as { name?: unknown }).name : undefined;
  } catch {
    // A getter that throws: no name.
  }
  return typeof name === 'string' && name !== '' ? `${name}: ${messageOf(error)}` : messageOf(error);
}
