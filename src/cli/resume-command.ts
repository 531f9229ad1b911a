/** `joinflow resume [runId]`: continues unfinished runs of a state dir, with the flags they started with. */
import { parseArgs } from 'node:util';
import { createEngine, type RunResult } from '../adapters/local/engine.ts';
import { RunTracker } from '../adapters/local/run-tracker.ts';
import { UsageError } from '../model/errors.ts';
import { outputFile, writeOutput } from './input.ts';
import { parseConcurrency } from './run-command.ts';
import { createProgress } from './progress.ts';
import { cancelRequested, dropCancelRequest, listenForCancel, markEngine, openState, otherEngines, RUNS_LOCK, stateDir, withLock } from './state.ts';
import { cancelUnowned } from './cancel-command.ts';
import { stopOrphans } from '../adapters/local/orphans.ts';
import { projectSubscriptions } from '../adapters/local/subscription-files.ts';
import { settleSubscriptions, subscriptionHub } from './subscriptions.ts';
import { noteInterrupt } from './interrupt.ts';
import { engineIdentity, runOwner } from '../adapters/local/process-identity.ts';

/** Runs `joinflow resume`; exit 0 when every resumed run succeeded, 1 otherwise. */
export async function resumeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { state: { type: 'string' }, json: { type: 'boolean', default: false }, trace: { type: 'string' } },
  });
  if (positionals.length > 1) throw new UsageError('resume takes at most one run id');
  const only = positionals[0];
  if (values.trace !== undefined) outputFile('--trace', values.trace);
  const dir = stateDir(values.state);
  const state = openState(dir, { mustExist: true });
  try {
    if (only !== undefined) {
      const record = await state.store.getRun(only);
      if (!record) {
        // As status and cancel say it: an unknown run is not a misuse of the command (exit 1).
        process.stderr.write(`joinflow resume: no run "${only}" in ${dir}\n`);
        return 1;
      }
      // A run that already ended is reported as it ended: resume is idempotent.
      if (record.status !== 'running') {
        await deliverLeftovers(state, dir);
        return report([RunTracker.fromRecord(record, state.log)], values.json);
      }
    }
    // Checking who runs a run and claiming it happen under a lock: two resumes started together
    // would otherwise both see a dead engine and both take the run over.
    const runs = await withLock(dir, RUNS_LOCK, async () => {
      const unfinished = state.log.listRuns({ status: 'running' }).filter((r) => only === undefined || r.runId === only);
      // A run whose engine process is alive is that engine's: running it here too would run its
      // steps twice. (`run`, `resume` and `dev` save their pid with the runs they execute.)
      const owner = (runId: string): number | undefined => runOwner(state.log.runOptions(runId));
      for (const r of unfinished) {
        const pid = owner(r.runId);
        if (pid === undefined) continue;
        if (only !== undefined) throw new UsageError(`run "${only}" is being run by process ${pid}: wait for it, or stop it with joinflow cancel ${only}`);
        process.stderr.write(`joinflow resume: skipping run ${r.runId}: process ${pid} is running it\n`);
      }
      const mine = unfinished.filter((r) => owner(r.runId) === undefined);
      // Claimed before anything runs: list, status and cancel find this process as the runs' engine.
      for (const r of mine) {
        const plan = state.log.runPlan(r.runId);
        if (plan) state.log.saveRun(r.runId, plan, { ...state.log.runOptions(r.runId), ...engineIdentity(), cancels: true });
      }
      await state.store.commit();
      if (mine.length === 0) process.stderr.write(`joinflow resume: no unfinished runs in ${dir}${unfinished.length > 0 ? ' that no live engine runs' : ''}\n`);
      return mine;
    });
    if (runs.length === 0) {
      await deliverLeftovers(state, dir);
      return 0;
    }
    // A cancel that its engine never read (it died, or was stopping) is carried out, not resumed.
    const cancelled: RunResult[] = [];
    for (const r of runs.filter((x) => cancelRequested(dir, x.runId))) {
      await cancelUnowned(state, r.runId, r.workflow);
      dropCancelRequest(dir, r.runId);
      process.stderr.write(`joinflow resume: run ${r.runId} had been asked to cancel: cancelled, not resumed\n`);
      const record = await state.store.getRun(r.runId);
      if (record) cancelled.push(RunTracker.fromRecord(record, state.log));
    }
    if (cancelled.length === runs.length) return report(cancelled, values.json);
    runs.splice(0, runs.length, ...runs.filter((r) => !cancelRequestedIn(cancelled, r.runId)));
    // Processes its steps started that outlived the dead engine would run beside the attempts that start again.
    for (const r of runs) {
      const stopped = await stopOrphans(r.runId);
      if (stopped > 0) process.stderr.write(`joinflow resume: run ${r.runId}: stopped ${stopped} process(es) its steps had left running\n`);
    }
    // The run's own flags; one engine serves every run being resumed (the first run's flags).
    const options = state.log.runOptions(runs[0]!.runId) ?? {};
    const progress = createProgress({ json: values.json, tty: process.stderr.isTTY === true, stream: process.stderr });
    const trace = values.trace ?? (typeof options['trace'] === 'string' ? options['trace'] : undefined);
    const root = typeof options['root'] === 'string' ? options['root'] : process.cwd();
    // The subscriptions of the config file and of the resumed runs' plans: deliveries left in the
    // outbox by the crashed engine go out too.
    const plans = runs.map((r) => state.log.runPlan(r.runId)).filter((p) => p !== undefined);
    const hub = subscriptionHub(projectSubscriptions([...new Map(plans.map((p) => [p.workflow, p])).values()], { root }), state, root, {
      maxPayloadBytes: typeof options['maxPayloadBytes'] === 'number' ? options['maxPayloadBytes'] : undefined,
    });
    const engine = createEngine({
      onEvents: hub.tap,
      handlerOutput: process.stderr,
      store: state.store,
      log: state.log,
      blobs: state.blobs,
      stateDir: dir,
      ...(typeof options['root'] === 'string' ? { root: options['root'] } : {}),
      ...(typeof options['data'] === 'string' ? { dataSource: options['data'] } : {}),
      concurrency: parseConcurrency(typeof options['concurrency'] === 'string' ? options['concurrency'] : undefined),
      timeScale: typeof options['timeScale'] === 'number' ? options['timeScale'] : 1,
      ...(typeof options['maxPayloadBytes'] === 'number' ? { maxPayloadBytes: options['maxPayloadBytes'] } : {}),
      runOptions: { ...options, ...engineIdentity(), cancels: true },
      trace: trace !== undefined,
      onStep: progress.step,
    });
    let dispatcher: ReturnType<typeof hub.bind>;
    const stopListening = listenForCancel(dir, engine);
    const unmarkEngine = markEngine(dir, 'resume');
    const unnote = noteInterrupt((signal) => `joinflow resume: interrupted (${signal}): the runs stopped as if killed; 'joinflow resume' continues them`);
    try {
      // Bound first: the events recovery redelivers are tapped like any other.
      dispatcher = hub.bind(engine);
      const ids = await engine.recover(runs.map((r) => r.runId));
      process.stderr.write(`joinflow resume: continuing ${ids.length} run(s): ${ids.join(', ')}\n`);
      const results = await Promise.all(ids.map((id) => engine.wait(id)));
      for (const r of results) progress.done(r);
      const code = report(results, values.json);
      if (trace !== undefined && ids.length === 1) {
        try {
          writeOutput('--trace', trace, `${JSON.stringify(engine.traceOf(ids[0]!))}\n`);
        } catch (error) {
          // The trace file the run started with may be gone with its directory: the runs' results stand.
          if (values.trace !== undefined) throw error;
          process.stderr.write(`joinflow resume: the run's trace file was not written: ${(error as Error).message}\n`);
        }
      }
      await settleSubscriptions(engine, hub, dispatcher);
      return code;
    } finally {
      unnote();
      stopListening();
      unmarkEngine();
      await dispatcher?.close();
      await engine.close();
    }
  } finally {
    state.close();
  }
}

function cancelRequestedIn(cancelled: readonly RunResult[], runId: string): boolean {
  return cancelled.some((c) => c.runId === runId);
}

function report(results: RunResult[], json: boolean): number {
  for (const r of results) {
    if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else if (r.status === 'succeeded') process.stdout.write(`${JSON.stringify(r.output, null, 2)}\n`);
    else process.stderr.write(`run ${r.runId} ${r.status}${r.error ? `: ${r.error.type}: ${r.error.message}` : ''}\n`);
  }
  return results.every((r) => r.status === 'succeeded') ? 0 : 1;
}

/**
 * Subscription deliveries an engine left pending (it was stopped, or died, while it waited for
 * them) go out when no run is left to resume, as they would with one: the subscriptions are the
 * config file's and those of the workflows whose events they carry.
 */
async function deliverLeftovers(state: ReturnType<typeof openState>, dir: string): Promise<void> {
  const pending = state.outbox().pending();
  if (pending.length === 0) return;
  const others = otherEngines(dir);
  if (others.length > 0) {
    process.stderr.write(`joinflow resume: ${pending.length} subscription deliver${pending.length === 1 ? 'y is' : 'ies are'} pending; the engine of process ${others.join(', ')} delivers them\n`);
    return;
  }
  const runIds = [...new Set(pending.map((d) => (d.event.detail as { runId?: unknown } | undefined)?.runId).filter((r): r is string => typeof r === 'string'))];
  const plans = [...new Map(runIds.map((r) => state.log.runPlan(r)).filter((p) => p !== undefined).map((p) => [p.workflow, p])).values()];
  const ownRoot = runIds.map((r) => state.log.runOptions(r)?.['root']).find((r) => typeof r === 'string');
  const root = typeof ownRoot === 'string' ? ownRoot : process.cwd();
  // `always`: a delivery whose subscription is no longer declared is dead-lettered, not left.
  const hub = subscriptionHub(projectSubscriptions(plans, { root }), state, root, { always: true });
  const engine = createEngine({ onEvents: hub.tap, handlerOutput: process.stderr, store: state.store, log: state.log, blobs: state.blobs, stateDir: dir, root });
  for (const p of plans) engine.register(p);
  const unmarkEngine = markEngine(dir, 'resume');
  let dispatcher: ReturnType<typeof hub.bind>;
  try {
    process.stderr.write(`joinflow resume: no run to continue; delivering ${pending.length} subscription deliver${pending.length === 1 ? 'y' : 'ies'} left pending\n`);
    dispatcher = hub.bind(engine);
    await settleSubscriptions(engine, hub, dispatcher);
  } finally {
    unmarkEngine();
    await dispatcher?.close();
    await engine.close();
  }
}
