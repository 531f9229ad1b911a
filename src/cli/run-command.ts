/** `joinflow run`: compile a workflow file and run it to the end on the embedded engine. */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { outputFile, parseInput, writeOutput } from './input.ts';
import path from 'node:path';
import { createEngine, DEFAULT_MAX_PAYLOAD_BYTES } from '../adapters/local/engine.ts';
import { listenForCancel, markEngine, openState, stateDir } from './state.ts';
import { shownDir, stateCommand } from './hint.ts';
import { engineIdentity, runOwner } from '../adapters/local/process-identity.ts';
import { chaosBanner, chaosFromArgs } from './chaos-option.ts';
import { createMemoryStore } from '../adapters/local/memory-store.ts';
import { UsageMeter } from '../adapters/local/usage-meter.ts';
import { estimateCost, formatCostReport } from '../cost/estimate.ts';
import { compileFile, findWorkflowFile } from '../adapters/local/workflow-files.ts';
import { JoinflowError, UsageError, visible } from '../model/errors.ts';
import { runIdProblem } from '../model/events.ts';
import type { TriggerStore } from '../ports.ts';
import { EXECUTOR_KINDS, type ExecutorKind } from '../model/workflow.ts';
import { markMemoryRun } from './memory-runs.ts';
import { createProgress } from './progress.ts';
import { stepMemory } from './stage-settings.ts';
import { noteInterrupt } from './interrupt.ts';
import { settleSubscriptions, subscriptionHub, subscriptionsForRun, type SubscriptionHub } from './subscriptions.ts';

/** Runs `joinflow run`; resolves with the exit code. */
export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      input: { type: 'string' },
      json: { type: 'boolean', default: false },
      trace: { type: 'string' },
      concurrency: { type: 'string' },
      'time-scale': { type: 'string' },
      state: { type: 'string' },
      cost: { type: 'boolean', default: false },
      memory: { type: 'boolean', default: false },
      'run-id': { type: 'string' },
      chaos: { type: 'string' },
      'max-payload': { type: 'string' },
      data: { type: 'string' },
      handlers: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'name the workflow to run' : `one workflow at a time (got ${positionals.join(', ')})`);
  if (values.memory && values.state !== undefined) throw new UsageError('--state and --memory cannot be combined: --memory keeps no state dir');
  // Checked before anything is written (the state dir is made when it is opened).
  const badRunId = values['run-id'] === undefined ? undefined : runIdProblem(values['run-id']);
  if (badRunId) throw new UsageError(`run id "${values['run-id']}": ${badRunId}`);
  const input = parseInput(values.input);
  // Checked before the run: a trace that cannot be written must not cost the run.
  if (values.trace !== undefined) outputFile('--trace', values.trace);
  const concurrency = parseConcurrency(values.concurrency);
  const timeScale = values['time-scale'] === undefined ? 1 : values['time-scale'].trim() === '' ? NaN : Number(values['time-scale']);
  if (!Number.isFinite(timeScale) || timeScale < 0) throw new UsageError(`--time-scale must be a number >= 0 (got "${values['time-scale']}")`);

  const maxPayloadBytes = parseBytes(values['max-payload']);
  if (values.data !== undefined && !statSync(values.data, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--data ${values.data}: not a directory`);
  const chaos = chaosFromArgs(values.chaos);
  const workflowFile = findWorkflowFile(positionals[0]!);
  const handlers = values.handlers === undefined ? undefined : handlerModule(values.handlers);
  // Compile before touching the state dir: a definition that does not compile writes nothing.
  const plan = await compileFile(workflowFile, process.cwd(), handlers === undefined ? {} : { handlers });
  const { subs, plans: targetPlans } = await subscriptionsForRun(plan, process.cwd());
  const dir = stateDir(values.state);
  const state = values.memory ? undefined : openState(dir);
  try {
    if (state && values['run-id'] !== undefined) await refuseRunElsewhere(state, dir, values['run-id'], plan.workflow);
  } catch (error) {
    state?.close();
    throw error;
  }
  // Runs left behind by an engine that is gone (a live one in another process is fine).
  const unfinished = (state?.log.listRuns({ status: 'running' }) ?? []).filter((r) => runOwner(state?.log.runOptions(r.runId)) === undefined);
  if (unfinished.length > 0) {
    const ids = unfinished.slice(0, 3).map((r) => r.runId).join(', ');
    process.stderr.write(`joinflow: ${unfinished.length} unfinished run(s) in ${shownDir(dir)} (${ids}${unfinished.length > 3 ? ', ...' : ''}); '${stateCommand(dir, 'resume')}' continues them\n`);
  }
  const progress = createProgress({ json: values.json, tty: process.stderr.isTTY === true, stream: process.stderr });
  if (chaos) process.stderr.write(chaosBanner(chaos));
  // Function steps at the memory deploy gives their Lambdas, as `joinflow plan` prices them.
  const stageMemory = values.cost ? stepMemory(process.cwd()) : {};
  if (stageMemory.note) process.stderr.write(`joinflow run: --cost: ${stageMemory.note}\n`);
  const meter = values.cost ? new UsageMeter({ functionMemoryMb: stageMemory.memoryMb }) : undefined;
  const store = state?.store ?? createMemoryStore();
  const hub = subscriptionHub(subs, state, process.cwd(), { maxPayloadBytes });
  const engine = createEngine({
    onEvents: hub.tap,
    // stdout is for the run's report (`--json`: one object); handlers' console output is not.
    handlerOutput: process.stderr,
    store: meter ? meter.wrap(store) : store,
    ...(meter ? { meter } : {}),
    ...(state ? { log: state.log, blobs: state.blobs } : {}),
    maxPayloadBytes,
    runOptions: {
      workflowFile,
      root: process.cwd(),
      concurrency: values.concurrency ?? null,
      timeScale,
      trace: values.trace === undefined ? null : path.resolve(values.trace),
      maxPayloadBytes,
      // Who runs it, and that it takes `joinflow cancel`'s requests (listenForCancel).
      ...engineIdentity(),
      cancels: true,
      ...(values.data === undefined ? {} : { data: path.resolve(values.data) }),
      ...(handlers === undefined ? {} : { handlers }),
    },
    ...(values.data === undefined ? {} : { dataSource: path.resolve(values.data) }),
    concurrency,
    timeScale,
    stateDir: dir,
    ...(chaos ? { chaos } : {}),
    trace: values.trace !== undefined,
    onStep: progress.step,
    onDeadLetter: (_event, reason) => process.stderr.write(`joinflow: dead letter: ${visible(reason, { lines: true })}\n`),
  });
  const stopListening = state ? listenForCancel(dir, engine) : undefined;
  const unmarkEngine = state ? markEngine(dir, 'run') : undefined;
  let runEnded = false;
  const unnote = noteInterrupt((signal) =>
    runEnded
      ? `joinflow run: interrupted (${signal}) while delivering to subscriptions: ${state ? `'${stateCommand(dir, 'resume')}' sends the deliveries left` : 'a --memory run keeps no deliveries to send later'}`
      : state
        ? `joinflow run: interrupted (${signal}): the run stopped as if killed; '${stateCommand(dir, 'resume')}' continues it`
        : `joinflow run: interrupted (${signal}): a --memory run keeps nothing to continue from`);
  // A --memory run's id is chosen here: its process steps' files are marked as its own, for gc.
  const runId = values['run-id'] ?? (values.memory ? randomUUID() : undefined);
  const unmark = values.memory && runId !== undefined ? markMemoryRun(dir, runId) : undefined;
  let dispatcher: ReturnType<SubscriptionHub['bind']>;
  try {
    engine.register(plan);
    for (const p of targetPlans) engine.register(p);
    dispatcher = hub.bind(engine);
    const ended = values['run-id'] !== undefined && (await noteExistingRun(store, values['run-id'], plan.workflow, values.input === undefined ? undefined : input));
    const result = await engine.run(plan.workflow, input, runId === undefined ? {} : { runId });
    runEnded = true;
    progress.done(result);
    if (chaos?.crashAt !== undefined && engine.effectsApplied < chaos.crashAt) {
      process.stderr.write(`joinflow: --chaos crash-at=${chaos.crashAt} was never reached: the run applied ${engine.effectsApplied} effects (pick a number up to that)\n`);
    }
    const { trace: _trace, ...summary } = result;
    // A run reported again did nothing here to count: no estimate rather than one of nothing.
    if (meter && ended) process.stderr.write('joinflow run: --cost: the run had ended and is only reported, so nothing was counted (its first run printed the estimate)\n');
    const cost = meter && !ended ? estimateCost(meter.counts(plan)) : undefined;
    if (cost && !values.json) process.stderr.write(formatCostReport(cost));
    if (values.json) process.stdout.write(`${JSON.stringify(cost ? { ...summary, cost } : summary)}\n`);
    else if (result.status === 'succeeded') process.stdout.write(`${JSON.stringify(result.output, null, 2)}\n`);
    // A run that had ended is reported, not run: its trace is the one its state keeps.
    if (values.trace !== undefined) writeOutput('--trace', values.trace, `${JSON.stringify(ended ? engine.traceOf(result.runId) : result.trace)}\n`);
    await settleSubscriptions(engine, hub, dispatcher, 'caused');
    return result.status === 'succeeded' ? 0 : 1;
  } finally {
    unnote();
    stopListening?.();
    unmark?.();
    unmarkEngine?.();
    await dispatcher?.close();
    await engine.close();
    state?.close();
  }
}

/** `--handlers MODULE`: an existing file, as an absolute path (the plan keeps it, for resume). */
function handlerModule(raw: string): string {
  const file = path.resolve(raw);
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) throw new UsageError(`--handlers ${raw}: no such file`);
  if (!stat.isFile()) throw new UsageError(`--handlers ${raw}: not a file (name the module that exports the handlers)`);
  return file;
}

/**
 * Refuses a `--run-id` of a run still running: in another live process, or interrupted (its engine
 * is gone, and `resume` continues it), before this process becomes an engine on the state dir.
 */
async function refuseRunElsewhere(state: ReturnType<typeof openState>, dir: string, runId: string, workflow: string): Promise<void> {
  const run = await state.store.getRun(runId);
  // A run of another workflow is refused by the engine, with its own message.
  if (run?.status !== 'running' || run.workflow !== workflow) return;
  const owner = runOwner(state.log.runOptions(runId));
  throw new JoinflowError('RUN_ELSEWHERE', owner === undefined ? `run "${runId}" was interrupted: '${stateCommand(dir, 'resume', runId)}' continues it` : `run "${runId}" is running in process ${owner}`);
}

/** Says so when `--run-id` names a run that already ended (and returns true): it is reported, not run again. */
/** `input`: the --input given (undefined: none, nothing to compare). */
async function noteExistingRun(store: TriggerStore, runId: string, workflow: string, input: unknown): Promise<boolean> {
  const run = await store.getRun(runId);
  // A run of another workflow is refused by the engine, with its own message.
  if (!run || run.status === 'running' || run.workflow !== workflow) return false;
  const other = input !== undefined && JSON.stringify(run.input) !== JSON.stringify(input) ? ' (with its own input: the --input given is not used)' : '';
  const ended = run.finishedAt === undefined ? '' : ` on ${new Date(run.finishedAt).toISOString()}`;
  process.stderr.write(`joinflow run: run "${runId}" already ${run.status}${ended}${other}; it is reported, not run again (a new --run-id runs again)\n`);
  return true;
}

/** `--max-payload 1MB` / `512KB` / `2000000` -> bytes (default 1 MB). */
export function parseBytes(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_MAX_PAYLOAD_BYTES;
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb)?$/i.exec(raw.trim());
  if (!m) throw new UsageError(`--max-payload: "${raw}" is not a size (e.g. 1MB, 512KB, 200000)`);
  const unit = { b: 1, kb: 1024, mb: 1024 * 1024 }[(m[2] ?? 'b').toLowerCase() as 'b' | 'kb' | 'mb'];
  return Math.floor(Number(m[1]) * unit);
}


/** `--concurrency N` or `kind=N,...` -> limits per executor kind. */
export function parseConcurrency(raw: string | undefined): Partial<Record<ExecutorKind, number>> {
  if (raw === undefined) return {};
  const limit = (v: string): number => {
    if (v === 'unlimited') return Infinity;
    if (!/^\d+$/.test(v)) throw new UsageError(`--concurrency: "${v}" is not a whole number (or "unlimited")`);
    // 0 means no limit, as "unlimited" does (a limit of 0 would start nothing).
    return Number(v) === 0 ? Infinity : Number(v);
  };
  if (!raw.includes('=')) {
    const n = limit(raw);
    return Object.fromEntries(EXECUTOR_KINDS.map((k) => [k, n]));
  }
  const out: Partial<Record<ExecutorKind, number>> = {};
  for (const part of raw.split(',')) {
    const [kind, v] = part.split('=');
    if (!EXECUTOR_KINDS.includes(kind as ExecutorKind) || v === undefined) {
      throw new UsageError(`--concurrency: "${part}" should be KIND=N with KIND one of ${EXECUTOR_KINDS.join(', ')}`);
    }
    // Which of two limits was meant is not for joinflow to guess.
    if (out[kind as ExecutorKind] !== undefined) throw new UsageError(`--concurrency: ${kind} is given twice ("${raw}"): give each kind once`);
    out[kind as ExecutorKind] = limit(v);
  }
  return out;
}
