/**
 * Makespan vs critical path with real processes (`npm run bench -- --only makespan-montage-process`):
 * the Montage trace imported with `--command 'sleep {runtime*0.01}'` (58 process steps, no data
 * files), run on the durable embedded engine (the SQLite journal store, as `joinflow run` does by default)
 * with unlimited process concurrency; `makespan-montage-process-memory` runs it on the in-memory
 * engine (`joinflow run --memory`).
 *
 * The bound it is held to: CP + allowance, where CP is the critical path of the scaled runtimes
 * (the DAG's largest sum of runtime x 0.01) and the allowance is one process start-up per step on
 * that path — the median time of a `sleep 0` task run on its own by the same process executor the
 * engine uses (with the native launcher, ~1 ms; `nodeSpawnMedianMs`, spawn() to exit with
 * child_process from this process, is reported beside it and is about twice that), times the
 * number of steps on the critical path. Every step on the path must start one process after its parents
 * end, so no schedule can beat CP + allowance by much; what is over it is the engine's own cost
 * (events, joins, SQLite commits, log files) plus whatever else the machine is doing. To say
 * which, it also reports the median lag from a step's parents' end to its start (engine) and
 * the median time a step took beyond its sleep (process start-up and exit under concurrency).
 *
 * Each step creates two log files, and what that costs depends on the filesystem and its recent
 * history: on this machine's journal-less ext4, creating a file in a directory whose inode group
 * saw many deletions in the last half minute (test suites and earlier bench processes cleaning up
 * under /tmp) took 0.1-0.8 ms of kernel time instead of ~15 us. `fileCreateMedianMs` measures it in
 * the state directory, after the timed run, so that a slow run can be told from a slow disk.
 * (Steps started by the spawner helpers create a log only for output they write, and `sleep`
 * writes none; steps spawned directly, before the helpers are ready, still create two.)
 *
 * `engineCpuMs`, `helperCpuMs` and `stepCpuMs` say where the CPU of the timed run went, which a
 * loaded machine changes less than the wall-clock numbers.
 *
 * `idealMakespanMs` is a second reference: the same processes started by an ideal scheduler (see
 * idealMakespan). The allowance counts each start-up as it is alone; the ideal run also pays for
 * the start-ups competing for the CPUs in bursts. So `ratioToBound` holds the engine to the target
 * as stated, and `ratioToIdeal` is what the engine itself adds over the best any scheduler did on
 * the machine at that moment.
 *
 * After two warm-up runs, each process times TIMED_PAIRS pairs: an ideal run, then an engine
 * run. `makespanMs` and `idealMakespanMs` are the medians of the five, `ratioToIdeal` the median
 * of the five pairs' ratios, `runsWithin5Percent` how many of the five engine runs met the bound;
 * the CPU figures are per run. (Until 2026-11-22 a process timed one pair, and a single slow
 * moment of the machine decided its figure.)
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createEngine } from '../src/adapters/local/engine.ts';
import { nativeSpawnStatus } from '../src/adapters/local/native-launcher.ts';
import { createProcessExecutor } from '../src/adapters/local/process-executor.ts';
import { openJournalState } from '../src/adapters/local/journal-state.ts';
import { openSqliteState } from '../src/adapters/local/sqlite-state.ts';
import { compileWorkflow } from '../src/compiler/compile.ts';
import { dagStats } from '../src/compiler/graph.ts';
import { importWfCommons } from '../src/importers/wfcommons.ts';
import { singleExecutorMapping } from '../src/importers/wfcommons-executors.ts';
import type { TriggerPlan } from '../src/model/plan.ts';
import type { Executor, Task } from '../src/ports.ts';
import { upwardRanks } from '../src/runtime/priority.ts';

const TRACE = path.resolve(import.meta.dirname, '../../shared/corpora/wfcommons/montage-chameleon-2mass-005d-001.json');
const SCALE = 0.01;
const SPAWNS = 40;
const WARM_UP_RUNS = 2;
/** Timed runs per process, each an ideal-scheduler run and then an engine run. */
const TIMED_PAIRS = 5;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Milliseconds of a `sleep 0` task in `executor`, each run on its own. */
async function taskTimes(executor: Executor, n: number): Promise<number[]> {
  const out: number[] = [];
  const never = new AbortController().signal;
  for (let i = 0; i < n; i++) {
    const task: Task = {
      workflow: 'allowance', runId: 'allowance', step: 'sleep', attempt: i + 1, maxAttempts: n,
      executor: { type: 'process', command: 'sleep', args: ['0'], env: {} },
      event: { input: null, results: {} },
    };
    const t0 = performance.now();
    const outcome = await executor.execute(task, never);
    if (outcome.status !== 'succeeded') throw new Error(`sleep 0 ${outcome.status}: ${JSON.stringify(outcome)}`);
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * The makespan of an ideal scheduler on this machine (ms): the plan's processes started by the same
 * executor, each as soon as its last parent has exited, highest upward rank first (as the engine
 * submits them) — a plain loop with no events, joins, store or commits. What it takes beyond the
 * critical path is process start-up as it is under the run's real concurrency (a burst of steps
 * starting at once shares the CPUs), which the allowance, measured one process at a time, leaves
 * out. The engine's makespan over this one is what the engine itself adds.
 */
async function idealMakespan(plan: TriggerPlan, executor: Executor, runId: string): Promise<number> {
  const rank = upwardRanks(plan);
  const byRank = (a: string, b: string) => (rank.get(b) ?? 0) - (rank.get(a) ?? 0);
  const waiting = new Map(Object.entries(plan.steps).map(([id, s]) => [id, s.needs.length]));
  const children = new Map<string, string[]>();
  for (const [id, s] of Object.entries(plan.steps)) {
    for (const n of s.needs) {
      const list = children.get(n);
      if (list) list.push(id);
      else children.set(n, [id]);
    }
  }
  const t0 = performance.now();
  let left = waiting.size;
  await new Promise<void>((resolve, reject) => {
    const start = (ids: string[]) => {
      for (const id of ids.sort(byRank)) {
        const step = plan.steps[id]!;
        const task: Task = { workflow: plan.workflow, runId, step: id, attempt: 1, maxAttempts: 1, executor: step.executor, event: { input: null, results: {} } };
        executor.execute(task, new AbortController().signal).then((outcome) => {
          if (outcome.status !== 'succeeded') return reject(new Error(`ideal run: ${id} ${outcome.status}`));
          if (--left === 0) return resolve();
          const ready: string[] = [];
          for (const c of children.get(id) ?? []) {
            const left = waiting.get(c)! - 1;
            waiting.set(c, left);
            if (left === 0) ready.push(c);
          }
          start(ready);
        }, reject);
      }
    };
    start([...waiting].filter(([, n]) => n === 0).map(([id]) => id));
  });
  return performance.now() - t0;
}

/** Milliseconds from spawn() to the exit of `command args`, each run on its own. */
async function spawnTimes(command: string, args: string[], n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(command, args, { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', () => resolve());
    });
    out.push(performance.now() - t0);
  }
  return out;
}

/** Milliseconds to create (and close) an empty file in `dir`, each of `n` files on its own. */
function fileCreateTimes(dir: string, n: number): number[] {
  mkdirSync(dir, { recursive: true });
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    closeSync(openSync(path.join(dir, `probe-${i}`), 'w'));
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * CPU time (ms) of this process's live children (the spawner helpers, if any) and of the processes
 * reaped by this process or by them (the steps), from /proc (clock ticks, so 10 ms steps; zeros
 * where there is no /proc).
 */
function helperCpu(): { helpersMs: number; stepsMs: number } {
  let helpers = 0;
  let steps = 0;
  let dirs: string[] = [];
  try {
    dirs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
    const own = readFileSync('/proc/self/stat', 'utf8');
    const f = own.slice(own.lastIndexOf(')') + 2).split(' ');
    steps += Number(f[13]) + Number(f[14]);
  } catch {
    return { helpersMs: 0, stepsMs: 0 };
  }
  for (const d of dirs) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) !== process.pid) continue;
      helpers += Number(f[11]) + Number(f[12]);
      steps += Number(f[13]) + Number(f[14]);
    } catch {
      // gone meanwhile
    }
  }
  return { helpersMs: helpers * 10, stepsMs: steps * 10 };
}

/** One measurement (bench/run.ts takes medians over fresh processes). */
export async function processMakespan(store: 'sqlite' | 'sqlite-rows' | 'memory' = 'sqlite'): Promise<{ events: number; steps: number; ms: number; peakRssMb: number; [k: string]: number }> {
  const load1 = loadavg()[0]!;
  const { workflow } = importWfCommons(JSON.parse(readFileSync(TRACE, 'utf8')), {
    executors: singleExecutorMapping('process', `sleep {runtime*${SCALE}}`),
    files: false,
  });
  const plan = compileWorkflow(workflow, { source: 'bench/montage-process' });
  // The critical path of what the steps really sleep: the formatted argument, not the raw runtime.
  const sleeps = new Map(Object.entries(plan.steps).map(([id, s]) => [id, s.executor.type === 'process' ? Number(s.executor.args[0]) * 1000 : 0]));
  const cp = dagStats(new Map(Object.entries(plan.steps).map(([id, s]) => [id, s.needs])), (id) => sleeps.get(id) ?? 0);

  const nodeSpawnMs = median(await spawnTimes('sleep', ['0'], SPAWNS));

  const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-bench-process-'));
  // The executor the engine would make itself (engine-support.ts), handed to it so that the
  // allowance is measured with the very launcher the run uses.
  const processes = createProcessExecutor({ logDir: (t) => path.join(dir, 'runs', t.runId, 'logs') });
  const spawnMs = median(await taskTimes(processes, SPAWNS));
  const allowanceMs = cp.criticalSteps.length * spawnMs;
  const boundMs = cp.criticalPath + allowanceMs;
  // `memory`: the engine of `joinflow run --memory` (no state file), to tell the durable store's
  // share of the makespan from the rest.
  const state = store === 'sqlite' ? openJournalState({ dir }) : store === 'sqlite-rows' ? openSqliteState({ dir }) : undefined;
  const engine = createEngine({ ...(state ? { store: state.store, log: state.log } : {}), stateDir: dir, concurrency: { process: Infinity }, trace: true, executors: { process: processes } });
  engine.register(plan);
  try {
    let coldMs: number | undefined;
    for (let i = 0; i < WARM_UP_RUNS; i++) {
      const t0 = performance.now();
      const r = await engine.run(plan.workflow, null);
      if (r.status !== 'succeeded') throw new Error(`warm-up run ${r.status}: ${JSON.stringify(r.error)}`);
      coldMs ??= performance.now() - t0;
    }
    // The ideal scheduler once to warm up; then TIMED_PAIRS pairs, each an ideal run right
    // before an engine run, so that both see the machine as it is at that moment.
    await idealMakespan(plan, processes, 'ideal-warm-up');
    const idealTimes: number[] = [];
    const engineTimes: number[] = [];
    const pairRatios: number[] = [];
    let idealCpuMs = 0;
    let engineCpuMs = 0;
    let helperMs = 0;
    let stepMs = 0;
    let events = 0;
    let steps = 0;
    const lags: number[] = [];
    const inside: number[] = [];
    for (let pair = 0; pair < TIMED_PAIRS; pair++) {
      const idealCpu0 = process.cpuUsage();
      const idealMs = await idealMakespan(plan, processes, `ideal-${pair}`);
      const idealCpu = process.cpuUsage(idealCpu0);
      const cpu0 = process.cpuUsage();
      const helpers0 = helperCpu();
      const started = Date.now();
      const t0 = performance.now();
      const r = await engine.run(plan.workflow, null);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const helpers1 = helperCpu();
      if (r.status !== 'succeeded') throw new Error(`run ${r.status}: ${JSON.stringify(r.error)}`);
      idealTimes.push(idealMs);
      engineTimes.push(ms);
      pairRatios.push(ms / idealMs);
      idealCpuMs += (idealCpu.user + idealCpu.system) / 1000 / TIMED_PAIRS;
      engineCpuMs += (cpu.user + cpu.system) / 1000 / TIMED_PAIRS;
      helperMs += (helpers1.helpersMs - helpers0.helpersMs) / TIMED_PAIRS;
      stepMs += (helpers1.stepsMs - helpers0.stepsMs) / TIMED_PAIRS;
      events = r.events;
      steps = r.steps.total;
      // Where the time beyond the sleeps went: waiting to start after the parents ended (the
      // engine: events, joins, commits), or inside the step (spawn, log files, exit, output).
      const by = new Map(r.trace.map((t) => [t.step, t]));
      for (const [id, s] of Object.entries(plan.steps)) {
        const t = by.get(id)!;
        lags.push(t.start - (s.needs.length === 0 ? started : Math.max(...s.needs.map((p) => by.get(p)!.end))));
        inside.push(t.end - t.start - (sleeps.get(id) ?? 0));
      }
    }
    const ms = median(engineTimes);
    const idealMs = median(idealTimes);
    const fileCreateMs = median(fileCreateTimes(path.join(dir, 'probe'), SPAWNS));
    return {
      events,
      steps,
      ms,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      makespanMs: ms,
      makespanMinMs: Math.min(...engineTimes),
      makespanMaxMs: Math.max(...engineTimes),
      timedRuns: TIMED_PAIRS,
      coldMs: coldMs ?? ms,
      criticalPathMs: cp.criticalPath,
      criticalPathSteps: cp.criticalSteps.length,
      spawnMedianMs: spawnMs,
      nodeSpawnMedianMs: nodeSpawnMs,
      launcher: nativeSpawnStatus().available ? 1 : 0,
      allowanceMs,
      boundMs,
      ratioToCriticalPath: ms / cp.criticalPath,
      ratioToBound: ms / boundMs,
      startLagMedianMs: median(lags),
      stepOverheadMedianMs: median(inside),
      stepOverheadMaxMs: Math.max(...inside),
      within5Percent: ms <= 1.05 * boundMs ? 1 : 0,
      runsWithin5Percent: engineTimes.filter((t) => t <= 1.05 * boundMs).length,
      idealMakespanMs: idealMs,
      idealRatioToBound: idealMs / boundMs,
      ratioToIdeal: median(pairRatios),
      fileCreateMedianMs: fileCreateMs,
      // CPU per timed run: the engine process, the ideal scheduler, the spawner helpers, the steps' processes.
      engineCpuMs,
      idealCpuMs,
      helperCpuMs: helperMs,
      stepCpuMs: stepMs,
      loadAvg1: load1,
    };
  } finally {
    await engine.close();
    state?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
