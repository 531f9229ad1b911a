/**
 * Where the durable store's time goes in the runs the peer bench measures (not a test, not part
 * of `npm run bench`): `node --import tsx bench/peers/durable-ablation.ts [--shape montage]
 * [--procs 9] [--runs 10]`.
 *
 * The peer bench's `warm` is the median of runs 6-10 of a fresh process, when most of the engine
 * still runs unoptimized; removing a part of the durable path shows what that part costs there.
 * Each variant runs in `procs` fresh processes (taken in turn, so that a busy moment of the machine
 * falls on every variant), each doing `runs` runs of the shape with `simulate` no-op steps:
 * - `memory`: the in-memory engine;
 * - `journal`: the journal store (the durable default);
 * - `no-encode`: the journal store whose facts are not encoded (every RowWriter fact method does
 *   nothing: the rows are empty);
 * - `no-commit`: the journal store that never commits (its store's commit does nothing);
 * - `neither`: both.
 * The last three are not usable stores (nothing could be recovered): they only bound what
 * encoding and committing cost. Prints one JSON object: per variant, each process's median of the
 * last half of its runs (ms per run), sorted, and their median.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { RowWriter } from '../../src/adapters/local/journal-codec.ts';
import { makeEngine } from '../scenarios.ts';
import { NOOP_SIMULATE, shapes, withExecutor } from './shapes.ts';

const VARIANTS = ['memory', 'journal', 'no-encode', 'no-commit', 'neither'] as const;
type Variant = (typeof VARIANTS)[number];

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'montage' },
    procs: { type: 'string', default: '9' },
    runs: { type: 'string', default: '10' },
    child: { type: 'string' },
  },
});
const build = shapes[values.shape];
if (!build) throw new Error(`--shape: unknown shape "${values.shape}" (one of ${Object.keys(shapes).join(', ')})`);
const runs = Number(values.runs);
const procs = Number(values.procs);
if (!Number.isInteger(runs) || runs < 2) throw new Error(`--runs: an integer of at least 2, got "${values.runs}"`);
if (!Number.isInteger(procs) || procs < 1) throw new Error(`--procs: a positive integer, got "${values.procs}"`);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

if (values.child !== undefined) {
  const variant = values.child as Variant;
  if (!VARIANTS.includes(variant)) throw new Error(`--child: one of ${VARIANTS.join(', ')}`);
  if (variant === 'no-encode' || variant === 'neither') {
    const proto = RowWriter.prototype as unknown as Record<string, unknown>;
    for (const m of ['arrive', 'need', 'claim', 'dispatched', 'result', 'task', 'started', 'finished', 'processedAt', 'processed']) proto[m] = () => {};
    proto.event = () => 0;
  }
  const plan = compileWorkflow(withExecutor(build(), NOOP_SIMULATE), { source: 'bench' });
  const { engine, done } = makeEngine(variant === 'memory' ? 'memory' : 'sqlite');
  if (variant === 'no-commit' || variant === 'neither') (engine.store as { commit?: () => Promise<void> }).commit = async () => {};
  engine.register(plan);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = await engine.run(plan.workflow, null);
    samples.push(performance.now() - t);
    if (r.status !== 'succeeded') throw new Error(`run ${i + 1} ${r.status}`);
  }
  await done();
  process.stdout.write(`${median(samples.slice(Math.floor(runs / 2)))}\n`);
} else {
  const got: Record<string, number[]> = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  for (let p = 0; p < procs; p++) {
    for (const v of VARIANTS) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--shape', values.shape, '--runs', String(runs), '--child', v], { encoding: 'utf8' });
      got[v]!.push(Number(out.trim()));
    }
  }
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const results = Object.fromEntries(VARIANTS.map((v) => [v, { ms: round(median(got[v]!)), perProcess: got[v]!.sort((a, b) => a - b).map(round) }]));
  process.stdout.write(`${JSON.stringify({ shape: values.shape, runs, procs, warm: `median of runs ${Math.floor(runs / 2) + 1}-${runs}`, results }, null, 2)}\n`);
}
