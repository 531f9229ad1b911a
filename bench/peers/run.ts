/**
 * `npm run bench:peers [-- --runs N] [--only chain-1000,...] [--variants memory-simulate,...]
 * [--steady-tasks N] [--redis-aof] [--timeout SECONDS] [--json] [--markdown]`: the same no-op
 * DAGs on joinflow and on HyperFlow. `--redis-aof` gives HyperFlow's Redis an append-only file
 * (fsynced every second), the durability of joinflow's SQLite state.
 *
 * Installs the HyperFlow peer when missing, starts a private Redis, then for each shape runs N
 * rounds; in each round every engine runs in a fresh process that does 10 runs of the DAG (the
 * first is "cold"; "warm" is the median of the last 5). With `--steady-tasks N` every engine
 * process instead runs the DAG until at least N tasks have run (and at least 10 runs), and
 * "warm" is the median of the last half: the steady state, by the same amount of work on every
 * shape (10 runs are 580 tasks of Montage but 10,000 of the chain). Prints {meta, results:
 * [row...]} with medians over the rounds, time per task and HyperFlow/joinflow ratios. Redis is
 * stopped at the end, on errors and on Ctrl-C.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { orExit, parsePeerOptions, PEER_USAGE } from '../options.ts';
import { ensureHyperFlow, runHyperFlow, writeHyperFlowWorkflow } from './hyperflow-peer.ts';
import { findRedisServer, startRedis, type RedisServer } from './redis.ts';
import { compare, failedRow, markdownTable, missingWork, resultLine, RUNS_PER_PROCESS, runsPerProcess, summarize, TARGET_RATIO, type Row, type Sample } from './report.ts';
import { shapes } from './shapes.ts';

// `sqlite`: the durable default (the journal store). `rows-simulate` (the row store, the default
// before the journal) runs only when asked for with --variants.
const VARIANTS: Record<string, { store: 'memory' | 'sqlite' | 'sqlite-rows'; executor: 'simulate' | 'function' }> = {
  'memory-simulate': { store: 'memory', executor: 'simulate' },
  'sqlite-simulate': { store: 'sqlite', executor: 'simulate' },
  'sqlite-function': { store: 'sqlite', executor: 'function' },
  'rows-simulate': { store: 'sqlite-rows', executor: 'simulate' },
};
const DEFAULT_VARIANTS = ['memory-simulate', 'sqlite-simulate', 'sqlite-function'];

const options = orExit('bench:peers', () => parsePeerOptions(process.argv.slice(2), Object.keys(shapes), Object.keys(VARIANTS), DEFAULT_VARIANTS));
if (options === 'help') {
  process.stdout.write(`${PEER_USAGE}\nshapes: ${Object.keys(shapes).join(', ')}; variants: ${Object.keys(VARIANTS).join(', ')}\n`);
  process.exit(0);
}
const { runs: rounds, timeoutMs, names, variants, steadyTasks, redisAof, markdown, json } = options;

const runsFor = (tasks: number): number => runsPerProcess(tasks, steadyTasks);
const children = new Set<ChildProcess>();
/** Temporary directories of ours (the shapes' HyperFlow workflows, the joinflow children's TMPDIRs), removed at exit. */
const tempDirs = new Set<string>();
const log = (line: string) => process.stderr.write(`${line}\n`);

/** One joinflow process (bench/peers/joinflow-child.ts) on one shape and variant. */
function runJoinflow(shape: string, variant: string, runs: number): Promise<Sample> {
  const { store, executor } = VARIANTS[variant]!;
  const child = path.join(import.meta.dirname, 'joinflow-child.ts');
  // The child's temporary files (its state dir) go into a directory of ours, removed when it
  // exits: a child killed at the time-out cannot clean up after itself.
  const tmp = mkdtempSync(path.join(tmpdir(), `joinflow-peer-child-`));
  tempDirs.add(tmp);
  return new Promise((resolve, reject) => {
    const env = { ...process.env, TMPDIR: tmp };
    const proc = execFile(process.execPath, ['--import', 'tsx', child, shape, store, executor, String(runs)], { encoding: 'utf8', maxBuffer: 1 << 26, timeout: timeoutMs, killSignal: 'SIGKILL', env }, (error, stdout, stderr) => {
      children.delete(proc);
      rmSync(tmp, { recursive: true, force: true });
      tempDirs.delete(tmp);
      // A process killed by the time-out has nothing to say for itself: say it.
      const why = (error as { killed?: boolean } | null)?.killed ? `did not finish within ${timeoutMs / 1000} s (killed)` : stderr.trim().split('\n').slice(-5).join(' | ') || String(error?.message);
      if (error) return reject(new Error(`joinflow ${variant} on ${shape} failed: ${why}`));
      let sample: Sample & { runs: number; succeeded?: number };
      try {
        sample = resultLine(stdout);
      } catch (e) {
        return reject(new Error(`joinflow ${variant} on ${shape}: ${(e as Error).message}`));
      }
      // A sample without the count is refused too (missingWork: no task count).
      const missing = missingWork(sample, runs);
      if (missing !== undefined) reject(new Error(`joinflow ${variant} on ${shape}: ${missing}`));
      else resolve(sample);
    });
    children.add(proc);
  });
}

/** Every engine on one shape: `rounds` rounds, each one fresh process per engine. */
async function measureShape(name: string, redisUrl: string, dir: string): Promise<Row[]> {
  const workflow = shapes[name]!();
  const tasks = Object.keys(workflow.steps).length;
  const runs = runsFor(tasks);
  writeHyperFlowWorkflow(workflow, dir);
  const hf: Sample[] = [];
  let hfError: string | undefined;
  const jf = new Map<string, Sample[]>(variants.map((v) => [v, []]));
  const jfErrors = new Map<string, string>();
  // Rounds interleave the engines, so that drifting load on the shared machine hits all of them.
  for (let round = 1; round <= rounds; round++) {
    if (hfError === undefined) {
      // After a failure (a crash, or the time limit) the shape gets no further HyperFlow rounds.
      await runHyperFlow(name, dir, redisUrl, runs, timeoutMs).then((s) => hf.push(s), (e: Error) => log((hfError = e.message)));
    }
    for (const v of variants) {
      if (jfErrors.has(v)) continue;
      await runJoinflow(name, v, runs).then((s) => jf.get(v)!.push(s), (e: Error) => (jfErrors.set(v, e.message), log(e.message)));
    }
    log(`${name}: round ${round}/${rounds} done`);
  }
  const hfBase = { shape: name, engine: 'hyperflow', store: redisAof ? 'redis-aof' : 'redis', executor: 'noop function' } as const;
  const hfRow = hfError === undefined ? summarize(hfBase, hf) : failedRow(hfBase, tasks, hfError);
  const rows = [hfRow];
  for (const v of variants) {
    const base = { shape: name, engine: 'joinflow', ...VARIANTS[v]! } as const;
    const error = jfErrors.get(v);
    rows.push(compare(error === undefined ? summarize(base, jf.get(v)!) : failedRow(base, tasks, error), hfRow));
  }
  for (const r of rows) log(JSON.stringify(r));
  return rows;
}

async function main(): Promise<void> {
  // Redis first: a missing redis-server should fail before a 20-second npm install.
  const redisBinary = findRedisServer();
  const hyperflowVersion = ensureHyperFlow();
  const redis: RedisServer = await startRedis({ binary: redisBinary, persistence: redisAof ? 'aof' : 'none' });
  process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
    redis.kill();
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });
  // The shell's convention: 128 + the signal's number.
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      log(`\n${signal}: stopping Redis and the running benchmark process`);
      process.exit(code);
    });
  }

  const loadStart = loadavg();
  const results: Row[] = [];
  log(`HyperFlow ${hyperflowVersion}, Redis ${redis.version} on ${redis.url} (started in ${Math.round(redis.startMs)} ms)`);
  try {
    for (const name of names) {
      const dir = mkdtempSync(path.join(tmpdir(), `joinflow-peer-${name}-`));
      tempDirs.add(dir);
      results.push(...(await measureShape(name, redis.url, dir)));
    }
  } finally {
    await redis.stop();
  }

  const meta = {
    node: process.version,
    hyperflow: hyperflowVersion,
    redis: redis.version,
    redisStartMs: Math.round(redis.startMs),
    redisPersistence: redisAof ? 'aof (appendfsync everysec)' : 'none',
    cpus: availableParallelism(),
    loadavgStart: loadStart.map((x) => Math.round(x * 100) / 100),
    loadavgEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    rounds,
    runsPerProcess: Object.fromEntries(names.map((n) => [n, runsFor(Object.keys(shapes[n]!().steps).length)])),
    steadyTasks,
    targetRatio: TARGET_RATIO,
    timed:
      `per engine process, ${steadyTasks > 0 ? `runs of the same DAG until at least ${steadyTasks} tasks (at least ${RUNS_PER_PROCESS} runs)` : `${RUNS_PER_PROCESS} runs of the same DAG`}: ` +
      'cold = the first run, ms = the median of the last half; from the start signal / engine.run ' +
      'to the end of the run. Node start-up, module loading, Redis start-up and setup (setupMs: HyperFlow ' +
      'createInstance + Engine; joinflow compile) are outside. Medians over the rounds.',
  };
  if (markdown) process.stdout.write(`${markdownTable(results)}\n\n${JSON.stringify(meta)}\n`);
  else process.stdout.write(`${JSON.stringify({ meta, results }, null, json ? undefined : 2)}\n`);
}

main().catch((e: unknown) => {
  log(`bench:peers: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
