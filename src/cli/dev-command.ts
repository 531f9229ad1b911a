/** `joinflow dev`: every workflow of the project on the embedded engine, behind a local PutEvents endpoint. */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { createDevServer, DEFAULT_MAX_REQUEST_BYTES } from '../adapters/local/dev-server.ts';
import { createEngine } from '../adapters/local/engine.ts';
import { createMemoryStore } from '../adapters/local/memory-store.ts';
import { compileFile, listWorkflowFiles } from '../adapters/local/workflow-files.ts';
import { UsageError, visible } from '../model/errors.ts';
import type { TriggerPlan } from '../model/plan.ts';
import { projectSubscriptions } from '../adapters/local/subscription-files.ts';
import type { SubscriptionDispatcher } from '../adapters/local/subscription-dispatcher.ts';
import { watchProject, type ProjectWatcher } from './dev-reload.ts';
import { memoryRunFiles } from './memory-runs.ts';
import { listenForCancel, markEngine, openState, stateDir } from './state.ts';
import { engineIdentity } from '../adapters/local/process-identity.ts';
import { subscriptionHub } from './subscriptions.ts';
import { continueDevRuns } from './dev-resume.ts';

export { DEV_HELP } from './help.ts';

/** Runs `joinflow dev`; resolves with the exit code once stopped (SIGINT/SIGTERM or `signal`). */
export async function devCommand(args: string[], options: { signal?: AbortSignal } = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      state: { type: 'string' },
      memory: { type: 'boolean', default: false },
      'no-watch': { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 0) throw new UsageError(`joinflow dev takes no positional arguments (got ${positionals.join(', ')})`);
  if (values.memory && values.state !== undefined) throw new UsageError('--state and --memory cannot be combined');
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a whole number 0..65535 (got "${values.port}")`);
  const host = values.host ?? '127.0.0.1';
  if (!['127.0.0.1', '::1', 'localhost'].includes(host) && values.token === undefined) {
    throw new UsageError(`--host ${host} exposes the engine beyond this machine: pass --token T too (or bind to 127.0.0.1)`);
  }

  // Compile before touching the state dir: a definition that does not compile writes nothing.
  const plans: TriggerPlan[] = [];
  const root = process.cwd();
  const byName = new Map<string, string>();
  const clashes: string[] = [];
  for (const file of listWorkflowFiles()) {
    const plan = await compileFile(file);
    const other = byName.get(plan.workflow);
    // As compile refuses it: two files of one name would serve runs from whichever came last.
    if (other !== undefined) clashes.push(`${path.relative(root, file)}: workflow name "${plan.workflow}" is already used by ${path.relative(root, other)}`);
    else byName.set(plan.workflow, file);
    plans.push(plan);
  }
  if (clashes.length > 0) throw new UsageError(clashes.join('\n'));
  const subs = projectSubscriptions(plans, { root, knownWorkflows: new Set(plans.map((p) => p.workflow)) });
  const dir = stateDir(values.state);
  const state = values.memory ? undefined : openState(dir);
  const hub = subscriptionHub(subs, state, root, { always: true });
  // No state records a --memory run: its steps' files are marked as this process's, for gc.
  const memoryRuns = values.memory ? memoryRunFiles(dir) : undefined;
  const engine = createEngine({
    onEvents: memoryRuns
      ? (events) => {
          memoryRuns(events);
          return hub.tap(events);
        }
      : hub.tap,
    store: state?.store ?? createMemoryStore(),
    ...(state ? { log: state.log, blobs: state.blobs } : {}),
    handlerOutput: process.stderr,
    // The state could not be written (disk full): the engine has stopped; so does the server.
    onFailure: (error) => {
      broken = error;
      onSignal?.();
    },
    runOptions: { root: process.cwd(), ...engineIdentity(), dev: true, cancels: state !== undefined },
    stateDir: dir,
    onDeadLetter: (_event, reason) => process.stderr.write(`joinflow: dead letter: ${visible(reason, { lines: true })}\n`),
  });
  let server: Awaited<ReturnType<typeof createDevServer>> | undefined;
  let onSignal: (() => void) | undefined;
  let broken: Error | undefined;
  let watcher: ProjectWatcher | undefined;
  let dispatcher: SubscriptionDispatcher | undefined;
  const stopListening = state ? listenForCancel(dir, engine) : undefined;
  const unmarkEngine = state ? markEngine(dir, 'dev') : undefined;
  try {
    for (const plan of plans) engine.register(plan);
    dispatcher = hub.bind(engine)!;
    // Runs an earlier dev left unfinished (stopped, or killed) go on here: with dev running, a
    // `joinflow resume` beside it would be a second engine on the state dir.
    if (state) await continueDevRuns(state, dir, engine, plans, root);
    if (!values['no-watch']) {
      watcher = watchProject({ root, engine, dispatcher, plans, log: (line) => process.stderr.write(`joinflow dev: ${line}\n`) });
    }
    server = await createDevServer({
      engine,
      host,
      port,
      ...(values.token === undefined ? {} : { token: values.token }),
      maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
      refuse: (event) => {
        const workflow = (event.detail as { workflow?: unknown }).workflow;
        return event['detail-type'] === 'Run Requested' && typeof workflow === 'string' ? watcher?.waiting(workflow) : undefined;
      },
    });
    process.stderr.write(`joinflow dev: PutEvents on ${server.url} (${plans.length} workflow${plans.length === 1 ? '' : 's'}, ${subs.length} subscription${subs.length === 1 ? '' : 's'}${values['no-watch'] ? '' : ', watching workflows/'})\n`);
    await new Promise<void>((resolve) => {
      onSignal = resolve;
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      if (options.signal?.aborted || broken) resolve();
      options.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    if (broken) throw broken;
    process.stderr.write('joinflow dev: stopping\n');
    return 0;
  } finally {
    if (onSignal) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    stopListening?.();
    unmarkEngine?.();
    watcher?.close();
    await server?.close();
    await engine.bus.idle();
    await dispatcher?.close();
    await engine.close();
    state?.close();
  }
}
