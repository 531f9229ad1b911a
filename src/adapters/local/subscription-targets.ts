/**
 * The three kinds of subscription target on the embedded engine: a webhook (POST the event as
 * JSON), a local command (the event on stdin), a workflow (a Run Requested published durably).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { EventEnvelope } from '../../model/events.ts';
import type { CommandTarget, Subscription, WebhookTarget } from '../../model/subscriptions.ts';
import { runRequestFor, startedBySubscription, webhookVerdict } from '../../runtime/subscriptions.ts';
import type { DeliveryResult, TargetRunner } from './subscription-dispatcher.ts';
import { oversizeReason } from './engine-support.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './engine-options.ts';

/** What the targets need from the engine. */
export type TargetDeps = {
  /** Project root: relative command paths and `cwd`s are resolved against it. */
  root: string;
  /** Publishes events into the engine (engine.publish: durable when the engine is). */
  publish: (events: EventEnvelope[]) => Promise<void>;
  /** Whether the engine knows a workflow (an unknown one is rejected, not retried). */
  hasWorkflow: (workflow: string) => boolean;
  /** Called with each run a workflow target starts. */
  onRunStarted?: (runId: string, subscription: string) => void;
  now?: () => number;
  /** The engine's event size limit: a Run Requested over it is rejected here, naming the subscription (default 1 MiB). */
  maxPayloadBytes?: number;
};

/**
 * How many runs, each started by a workflow target from the previous one's event, a chain may
 * have: subscriptions that start each other's workflows (A's run starts B, B's starts A) would go
 * on without end. A loop that ends by itself (a pattern on the output) is bounded by it too.
 */
export const MAX_RUN_CHAIN = 64;

/** Creates the target runner the dispatcher calls for each attempt. */
export function createTargetRunner(deps: TargetDeps): TargetRunner {
  /** The runs workflow targets started, with their place in their chain (1: started by a run no subscription started). */
  const chain = new Map<string, number>();
  return async (sub: Subscription, event: EventEnvelope, signal?: AbortSignal): Promise<DeliveryResult> => {
    const t = sub.target;
    if (t.type === 'webhook') return postWebhook(t, event, signal);
    if (t.type === 'command') return runCommand(t, event, deps.root, signal);
    if (!deps.hasWorkflow(t.workflow)) return { status: 'reject', error: `unknown workflow "${t.workflow}"` };
    // An event of a run this subscription started (run id "<subscription>:<event id>"): starting
    // another would feed the next such event back to it, without end.
    const from = (event.detail as { runId?: unknown } | undefined)?.runId;
    if (typeof from === 'string' && startedBySubscription(from, sub.name)) {
      return { status: 'reject', error: `the event comes from run "${from}", which this subscription started: starting "${t.workflow}" again would loop` };
    }
    const depth = (typeof from === 'string' ? chain.get(from) ?? 0 : 0) + 1;
    if (depth > MAX_RUN_CHAIN) {
      return { status: 'reject', error: `the event comes from run "${from}", the last of ${MAX_RUN_CHAIN} runs that workflow targets started one from the other: subscriptions that start each other's workflows would go on without end, so the chain stops here` };
    }
    const now = deps.now ?? Date.now;
    const request = runRequestFor(sub.name, t, event, { id: randomUUID(), time: new Date(now()).toISOString() });
    // The engine would dead-letter it under the new run's id, with the delivery counted as made.
    const oversize = oversizeReason(request, deps.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
    if (oversize) return { status: 'reject', error: `the Run Requested of "${t.workflow}" would be too large (${oversize}): its input is the event at inputPath "${t.inputPath}"` };
    await deps.publish([request]);
    const runId = (request.detail as { runId: string }).runId;
    chain.set(runId, depth);
    // Bounded like the engine's other memories: the oldest chains go first.
    if (chain.size > 100_000) chain.delete(chain.keys().next().value!);
    deps.onRunStarted?.(runId, sub.name);
    return { status: 'delivered' };
  };
}

/**
 * One POST. Its time limit is a timer of our own, not `AbortSignal.timeout()`, whose timer does
 * not keep the process alive: with it, only fetch's sockets did. A one-shot `joinflow run`
 * waiting for its deliveries once exited with code 13 (its event loop empty), an attempt never
 * reported; an attempt in flight now holds the process until its answer or its time limit.
 */
async function postWebhook(t: WebhookTarget, event: EventEnvelope, stop?: AbortSignal): Promise<DeliveryResult> {
  const attempt = new AbortController();
  const timer = setTimeout(() => attempt.abort(new DOMException(`no answer within ${t.timeoutMs} ms`, 'TimeoutError')), t.timeoutMs);
  // Not AbortSignal.any([stop, …]): `stop` lives as long as the engine, and Node 20 keeps an entry
  // on it for every signal made from it, for good (a dev server grew with each delivery).
  const onStop = () => attempt.abort(stop!.reason);
  if (stop?.aborted) onStop();
  else stop?.addEventListener('abort', onStop, { once: true });
  try {
    return await attemptPost(t, event, attempt.signal, stop);
  } finally {
    clearTimeout(timer);
    stop?.removeEventListener('abort', onStop);
  }
}

async function attemptPost(t: WebhookTarget, event: EventEnvelope, signal: AbortSignal, stop?: AbortSignal): Promise<DeliveryResult> {
  let response: Response;
  try {
    response = await fetch(t.url, {
      method: 'POST',
      // Header names ignore case: the user's Content-Type replaces the default, not joins it.
      headers: { 'content-type': 'application/json', 'user-agent': 'joinflow', ...Object.fromEntries(Object.entries(t.headers).map(([k, v]) => [k.toLowerCase(), v])) },
      body: JSON.stringify(event),
      // Never follow a redirect: fetch would turn the POST into a bodyless GET (301/302/303) whose
      // 2xx would count as delivered although the event never arrived. A 3xx is an answer like any
      // other non-2xx one: the event is dead-lettered with the status and where it pointed.
      redirect: 'manual',
      signal,
    });
  } catch (error) {
    if (stop?.aborted) return { status: 'retry', error: `POST ${t.url}: stopped (the engine is shutting down)` };
    const e = error as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${t.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { status: 'retry', error: `POST ${t.url}: ${why}` };
  }
  // Only the start of the body is used (in a failure's reason): at most 4 KB of it is read, and
  // the rest is cancelled, whatever the receiver sends (a 200 MB error page took 700 MB here).
  const body = await bodyStart(response, 4096);
  // Node's fetch reports a manual redirect with its real status; a browser-like one as
  // 'opaqueredirect' with status 0 and no headers.
  if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
    const status = response.status || 'redirect';
    const location = response.headers.get('location');
    const where = location ? ` to ${location}` : '';
    return { status: 'reject', error: `POST ${t.url}: HTTP ${status} (redirect${where}; redirects are not followed: set the subscription's url to the final address)` };
  }
  const verdict = webhookVerdict(response.status);
  if (verdict === 'delivered') return { status: 'delivered' };
  const snippet = body.trim().slice(0, 200);
  const error = `POST ${t.url}: HTTP ${response.status}${snippet ? ` ${JSON.stringify(snippet)}` : ''}`;
  const afterMs = verdict === 'retry' ? retryAfterMs(response.headers.get('retry-after')) : undefined;
  return afterMs === undefined ? { status: verdict, error } : { status: verdict, error, afterMs };
}

/** A Retry-After header (seconds, or an HTTP date) in milliseconds from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The first `max` bytes of a response's body as text (less when it ends sooner); the rest is not read. */
async function bodyStart(response: Response, max: number): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body cut off midway: what came is enough for a reason.
  } finally {
    void reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/** The tail of what a failing command wrote to stderr goes into the dead letter's reason. */
const STDERR_TAIL = 1000;

/** After SIGTERM, how long a timed-out or stopped command's process group has before SIGKILL. */
export const KILL_GRACE_MS = 500;

/** The process groups of the command targets running now. */
const commandGroups = new Set<number>();

/**
 * Ends the process groups of the command targets running now, for a process about to end by a
 * signal (Ctrl-C on `joinflow run`), whose deliveries stay pending and run again later: left
 * running, a command would run twice at once then. SIGTERM, then SIGKILL to what is left after
 * {@link KILL_GRACE_MS}, waited for here, synchronously: the process ends right after.
 */
export function stopCommandTargets(): void {
  if (commandGroups.size === 0) return;
  for (const pgid of commandGroups) signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + KILL_GRACE_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while ([...commandGroups].some(groupRunning) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 20);
  for (const pgid of commandGroups) signalGroup(pgid, 'SIGKILL');
  // SIGKILL is delivered, not yet acted on, when kill() returns: a moment for the kernel.
  const killed = Date.now() + 200;
  while ([...commandGroups].some(groupRunning) && Date.now() < killed) Atomics.wait(pause, 0, 0, 5);
}

/**
 * Whether a process of the group is still running, zombies left out (nothing reaps them while
 * stopCommandTargets waits). Where /proc cannot tell, as groupAlive says.
 */
function groupRunning(pgid: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return groupAlive(pgid);
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') return true;
    } catch {
      // Gone meanwhile.
    }
  }
  return false;
}

/**
 * Runs the command in its own process group (`detached`), so that a timeout or a shutdown stops
 * everything it started (`sh -c 'sleep 1000 & wait'` included), not only its first process:
 * SIGTERM to the group, SIGKILL to what is left after {@link KILL_GRACE_MS}.
 */
function runCommand(t: CommandTarget, event: EventEnvelope, root: string, stop?: AbortSignal): Promise<DeliveryResult> {
  const command = t.command.includes('/') ? path.resolve(root, t.command) : t.command;
  const cwd = path.resolve(root, t.cwd ?? '.');
  // spawn says ENOENT for a missing cwd as for a missing command: name the directory.
  if (!statSync(cwd, { throwIfNoEntry: false })?.isDirectory()) return Promise.resolve({ status: 'reject', error: `command ${t.command}: its cwd ${cwd} is not a directory` });
  return new Promise((resolve) => {
    let stderr = '';
    let settled = false;
    let killing = false;
    const done = (result: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.pid !== undefined) commandGroups.delete(child.pid);
      stop?.removeEventListener('abort', onStop);
      resolve(result);
    };
    const child = spawn(command, t.args, {
      cwd,
      env: { ...process.env, ...t.env, JOINFLOW_EVENT_ID: event.id, JOINFLOW_DETAIL_TYPE: event['detail-type'] },
      // stdout is the engine's own output (e.g. `run --json`): a subscriber must not write into it.
      stdio: ['pipe', 'ignore', 'pipe'],
      detached: true,
    });
    if (child.pid !== undefined) commandGroups.add(child.pid);
    /** Ends the whole group, then settles with `result` once it is gone (or SIGKILLed). */
    const killGroup = (result: DeliveryResult) => {
      if (killing || settled) return;
      killing = true;
      clearTimeout(timer);
      const pgid = child.pid;
      if (pgid === undefined) return done(result);
      signalGroup(pgid, 'SIGTERM');
      const deadline = Date.now() + KILL_GRACE_MS;
      const poll = () => {
        if (!groupAlive(pgid)) return done(result);
        if (Date.now() >= deadline) {
          signalGroup(pgid, 'SIGKILL');
          return done(result);
        }
        setTimeout(poll, 20);
      };
      setTimeout(poll, 20);
    };
    const timer = setTimeout(
      () => killGroup({ status: 'retry', error: `command ${t.command} did not finish within ${t.timeoutMs} ms` }),
      t.timeoutMs,
    );
    // Shutdown: the delivery stays pending (the dispatcher does not count it) and runs again later.
    const onStop = () => killGroup({ status: 'retry', error: `command ${t.command}: stopped (the engine is shutting down)` });
    if (stop?.aborted) onStop();
    else stop?.addEventListener('abort', onStop, { once: true });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    // A command that is not there (or may not be run) will not be there at the next attempt either.
    child.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      done({ status: code === 'ENOENT' || code === 'EACCES' ? 'reject' : 'retry', error: `command ${t.command}: ${error.message}` });
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (killing) return;
      if (code === 0) return done({ status: 'delivered' });
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      done({ status: 'retry', error: `command ${t.command} ${how}${stderr.trim() ? `: ${stderr.trim()}` : ''}` });
    };
    // Its exit decides, not the end of its stderr: a background process it started (`cmd &`) may
    // hold that pipe open long after. A failure waits a moment for the rest of stderr.
    child.on('exit', (code, signal) => {
      if (code === 0) finish(code, signal);
      else setTimeout(() => finish(code, signal), 100);
    });
    child.on('close', finish);
    // A command that never reads stdin closes it early: EPIPE is expected, not a failure.
    child.stdin!.on('error', () => {});
    child.stdin!.end(JSON.stringify(event));
  });
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** Whether any process of the group is left (zombies waiting for their parent excluded). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
