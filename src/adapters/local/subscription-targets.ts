/**
 * The three kinds of subscription target on the embedded engine: a webhook (POST the event as
 * JSON), a local command (the event on stdin), a workflow (a Run Requested published durably).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { EventEnvelope } from '../../model/events.ts';
import type { CommandTarget, Subscription, WebhookTarget } from '../../model/subscriptions.ts';
import { runRequestFor, webhookVerdict } from '../../runtime/subscriptions.ts';
import type { DeliveryResult, TargetRunner } from './subscription-dispatcher.ts';

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
};

/** Creates the target runner the dispatcher calls for each attempt. */
export function createTargetRunner(deps: TargetDeps): TargetRunner {
  return async (sub: Subscription, event: EventEnvelope): Promise<DeliveryResult> => {
    const t = sub.target;
    if (t.type === 'webhook') return postWebhook(t, event);
    if (t.type === 'command') return runCommand(t, event, deps.root);
    if (!deps.hasWorkflow(t.workflow)) return { status: 'reject', error: `unknown workflow "${t.workflow}"` };
    // An event of a run this subscription started (run id "<subscription>:<event id>"): starting
    // another would feed the next such event back to it, without end.
    const from = (event.detail as { runId?: unknown } | undefined)?.runId;
    if (typeof from === 'string' && from.startsWith(`${sub.name}:`)) {
      return { status: 'reject', error: `the event comes from run "${from}", which this subscription started: starting "${t.workflow}" again would loop` };
    }
    const now = deps.now ?? Date.now;
    const request = runRequestFor(sub.name, t, event, { id: randomUUID(), time: new Date(now()).toISOString() });
    await deps.publish([request]);
    deps.onRunStarted?.((request.detail as { runId: string }).runId, sub.name);
    return { status: 'delivered' };
  };
}

async function postWebhook(t: WebhookTarget, event: EventEnvelope): Promise<DeliveryResult> {
  let response: Response;
  try {
    response = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'joinflow', ...t.headers },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(t.timeoutMs),
    });
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${t.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { status: 'retry', error: `POST ${t.url}: ${why}` };
  }
  // The body is not used; reading it frees the connection for reuse.
  const body = await response.text().catch(() => '');
  const verdict = webhookVerdict(response.status);
  if (verdict === 'delivered') return { status: 'delivered' };
  const snippet = body.trim().slice(0, 200);
  return { status: verdict, error: `POST ${t.url}: HTTP ${response.status}${snippet ? ` ${JSON.stringify(snippet)}` : ''}` };
}

/** The tail of what a failing command wrote to stderr goes into the dead letter's reason. */
const STDERR_TAIL = 1000;

function runCommand(t: CommandTarget, event: EventEnvelope, root: string): Promise<DeliveryResult> {
  const command = t.command.includes('/') ? path.resolve(root, t.command) : t.command;
  return new Promise((resolve) => {
    let stderr = '';
    let settled = false;
    const done = (result: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn(command, t.args, {
      cwd: path.resolve(root, t.cwd ?? '.'),
      env: { ...process.env, ...t.env, JOINFLOW_EVENT_ID: event.id, JOINFLOW_DETAIL_TYPE: event['detail-type'] },
      // stdout is the engine's own output (e.g. `run --json`): a subscriber must not write into it.
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done({ status: 'retry', error: `command ${t.command} did not finish within ${t.timeoutMs} ms` });
    }, t.timeoutMs);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    child.on('error', (error) => done({ status: 'retry', error: `command ${t.command}: ${error.message}` }));
    child.on('close', (code, signal) => {
      if (code === 0) return done({ status: 'delivered' });
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      done({ status: 'retry', error: `command ${t.command} ${how}${stderr.trim() ? `: ${stderr.trim()}` : ''}` });
    });
    // A command that never reads stdin closes it early: EPIPE is expected, not a failure.
    child.stdin!.on('error', () => {});
    child.stdin!.end(JSON.stringify(event));
  });
}
