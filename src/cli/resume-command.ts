/** `joinflow resume [runId]`: continues unfinished runs of a state dir, with the flags they started with. */
import { parseArgs } from 'node:util';
import { createEngine, type RunResult } from '../adapters/local/engine.ts';
import { RunTracker } from '../adapters/local/run-tracker.ts';
import { UsageError } from '../model/errors.ts';
import type { RunRecord } from '../ports.ts';
import type { TriggerPlan } from '../model/plan.ts';
import { outputFile, writeOutput } from './input.ts';
import { parseConcurrency } from './run-command.ts';
import { createProgress } from './progress.ts';
import { cancelAsked, listenForCancel, markEngine, openState, otherEngines, RUNS_LOCK, stateDir, withLock } from './state.ts';
import { settleAbandonedStops } from './abandoned-stops.ts';
import { stopping } from './local-runs.ts';
import { carryOutCancels, engineGroups, takeOverRuns } from './take-over.ts';
import { projectSubscriptions } from '../adapters/local/subscription-files.ts';
import { settleSubscriptions, subscriptionHub, targetWorkflows } from './subscriptions.ts';
import { noteInterrupt } from './interrupt.ts';
import { engineIdentity } from '../adapters/local/process-identity.ts';
import { runOrRequest } from '../adapters/local/recovery.ts';
import { stateCommand } from './hint.ts';

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
      let record = await state.store.getRun(only);
      // Ended, but its engine died while stopping its steps: settled first, then reported.
      if (record && stopping(record)) {
        await withLock(dir, RUNS_LOCK, () => settleAbandonedStops(state, 'resume', only));
        record = await state.store.getRun(only);
      }
      // Accepted and not started yet (its Run Requested on file, not handled): continued as the others.
      record ??= (await runOrRequest(state.store, state.log, only))?.record;
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
    const { runs, cancelled, damaged } = await takeOverRuns(state, dir, { who: 'resume', only });
    // A run skipped because its state cannot be read (said by takeOverRuns) makes the exit 2.
    const unread = damaged.length > 0 ? 2 : 0;
    if (runs.length === 0 && cancelled.length === 0) {
      await deliverLeftovers(state, dir);
      return unread;
    }
    let code = Math.max(unread, report(cancelled, values.json));
    // Only cancels carried out: their Run Cancelled (and what else is pending) goes out here.
    if (runs.length === 0) {
      await deliverLeftovers(state, dir);
      return code;
    }
    const groups = engineGroups(state, runs);
    if (groups.length > 1) {
      process.stderr.write(`joinflow resume: ${runs.length} runs need ${groups.length} engines (started in other directories, with other flags or another version of their workflow): they are continued one engine after another\n`);
    }
    const progress = createProgress({ json: values.json, tty: process.stderr.isTTY === true, stream: process.stderr, tagRuns: runs.length > 1 });
    // Each run's trace: --trace when one run is resumed, else the file the run was started with.
    const traces = new Map<string, { file: string; own: boolean }>();
    for (const r of runs) {
      const own = state.log.runOptions(r.runId)?.['trace'];
      if (runs.length === 1 && values.trace !== undefined) traces.set(r.runId, { file: values.trace, own: false });
      else if (typeof own === 'string') traces.set(r.runId, { file: own, own: true });
    }
    // Runs started with one --trace file (run one after another, each killed) all write it: said.
    const sharing = new Map<string, string[]>();
    for (const [id, t] of traces) sharing.set(t.file, [...(sharing.get(t.file) ?? []), id]);
    for (const [file, ids] of sharing) {
      if (ids.length > 1) process.stderr.write(`joinflow resume: runs ${ids.sort().join(', ')} were started with the same --trace file ${file}: each run's trace is written to it as the run ends, and the last one written stays (${stateCommand(dir, 'timeline', '<runId>', '-o', 'FILE.json')} writes any run's)\n`);
    }
    if (values.trace !== undefined && runs.length > 1) {
      process.stderr.write(`joinflow resume: --trace ${values.trace} is not written: it is the trace of one run, and ${runs.length} runs are resumed (name one: ${stateCommand(dir, 'resume', '<runId>', '--trace', 'FILE')}; or, once they end, ${stateCommand(dir, 'timeline', '<runId>', '-o', 'FILE.json')})\n`);
    }
    const unnote = noteInterrupt((signal) => `joinflow resume: interrupted (${signal}): the runs stopped as if killed; '${stateCommand(dir, 'resume')}' continues them`);
    try {
      for (const [i, group] of groups.entries()) {
        // This process holds the runs of the later groups: a cancel asked for meanwhile waits in the state dir.
        const left = i === 0 ? { runs: group, cancelled: [] } : await carryOutCancels(state, dir, group, 'resume');
        code = Math.max(code, report(left.cancelled, values.json));
        if (left.runs.length > 0) code = Math.max(code, await resumeGroup(state, dir, left.runs, { json: values.json, progress, traces }));
      }
      return code;
    } finally {
      unnote();
    }
  } finally {
    state.close();
  }
}

/**
 * Continues `runs` in one engine, made with their flags (the same for all: engineGroups), and
 * reports them; resolves with the exit code.
 */
async function resumeGroup(
  state: ReturnType<typeof openState>,
  dir: string,
  runs: RunRecord[],
  { json, progress, traces }: { json: boolean; progress: ReturnType<typeof createProgress>; traces: Map<string, { file: string; own: boolean }> },
): Promise<number> {
  const options = state.log.runOptions(runs[0]!.runId) ?? {};
  const root = typeof options['root'] === 'string' ? options['root'] : process.cwd();
  // The subscriptions of the config file and of the resumed runs' plans: deliveries left in the
  // outbox by the crashed engine go out too.
  const plans = runs.map((r) => state.log.runPlan(r.runId)).filter((p) => p !== undefined);
  // The workflows the resumed runs' subscriptions start (as joinflow run registers them), whose
  // own subscriptions hear the runs started so.
  const targets = await targetPlans(plans, root);
  const hub = subscriptionHub(projectSubscriptions([...new Map([...plans, ...targets].map((p) => [p.workflow, p])).values()], { root }), state, root, {
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
    trace: runs.some((r) => traces.has(r.runId)),
    onStep: progress.step,
  });
  for (const t of targets) if (!engine.hasWorkflow(t.workflow)) engine.register(t);
  let dispatcher: ReturnType<typeof hub.bind>;
  const stopListening = listenForCancel(dir, engine);
  const unmarkEngine = markEngine(dir, 'resume');
  try {
    // Bound first: the events recovery redelivers are tapped like any other.
    dispatcher = hub.bind(engine);
    const ids = await engine.recover(runs.map((r) => r.runId));
    cancelAsked(dir, engine);
    process.stderr.write(`joinflow resume: continuing ${ids.length} run(s): ${ids.join(', ')}\n`);
    const results = await Promise.all(ids.map((id) => engine.wait(id)));
    for (const r of results) progress.done(r);
    // progress.done has said how each run ended and why: only the outputs are left to write.
    const code = report(results, json, true);
    for (const id of ids) {
      const trace = traces.get(id);
      if (trace === undefined) continue;
      try {
        writeOutput('--trace', trace.file, `${JSON.stringify(engine.traceOf(id))}\n`);
      } catch (error) {
        // The trace file the run started with may be gone with its directory: the runs' results stand.
        if (!trace.own) throw error;
        process.stderr.write(`joinflow resume: the trace file of run ${id} was not written: ${(error as Error).message}\n`);
      }
    }
    await settleSubscriptions(engine, hub, dispatcher);
    return code;
  } finally {
    stopListening();
    unmarkEngine();
    await dispatcher?.close();
    await engine.close();
  }
}

/** Writes each run's result (its outcome on stderr, unless the progress lines said it already); the exit code. */
function report(results: RunResult[], json: boolean, told = false): number {
  for (const r of results) {
    if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else if (r.status === 'succeeded') process.stdout.write(`${JSON.stringify(r.output, null, 2)}\n`);
    else if (!told) process.stderr.write(`run ${r.runId} ${r.status}${r.error ? `: ${r.error.type}: ${r.error.message}` : ''}\n`);
  }
  return results.every((r) => r.status === 'succeeded') ? 0 : 1;
}

/**
 * The workflows that the subscriptions of `plans` start (and theirs start in turn), compiled from
 * the project as `joinflow run` does, but those of `plans` (workflows of runs being resumed, whose
 * own versions the engine takes). One that cannot be compiled is left out: its deliveries are
 * dead-lettered naming it.
 */
async function targetPlans(plans: readonly TriggerPlan[], root: string): Promise<TriggerPlan[]> {
  const found = new Map<string, TriggerPlan>();
  const skip = new Set(plans.map((p) => p.workflow));
  for (const p of plans) {
    const targets = await targetWorkflows(p, root, true).then((r) => r.plans, () => []);
    for (const t of targets) if (!skip.has(t.workflow) && !found.has(t.workflow)) found.set(t.workflow, t);
  }
  return [...found.values()];
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
  const targets = await targetPlans(plans, root);
  const hub = subscriptionHub(projectSubscriptions([...plans, ...targets], { root }), state, root, { always: true });
  const engine = createEngine({ onEvents: hub.tap, handlerOutput: process.stderr, store: state.store, log: state.log, blobs: state.blobs, stateDir: dir, root });
  for (const p of [...plans, ...targets]) engine.register(p);
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
