/**
 * The durable store's own cost per commit, warm: Montage with no-op steps and a commit after every
 * batch (`groupCommitMs: 0`), as batches that start processes commit. Each store runs in its own
 * fresh process, 400 runs, and reports the CPU per run (median of the last 200); stores alternate
 * for `--rounds` rounds (default 2). Prints one JSON object.
 * Usage: node --import tsx bench/commit-cost.ts [--rounds N]
 *        node --import tsx bench/commit-cost.ts --child <memory|sqlite|sqlite-rows>
 */
import { execFileSync } from 'node:child_process';
import { compileWorkflow } from '../src/compiler/compile.ts';
import { UsageError } from '../src/model/errors.ts';
import { orExit, parseFlags, wholeNumber } from './options.ts';
import { makeEngine, type StoreKind } from './scenarios.ts';
import { NOOP_SIMULATE, shapes, withExecutor } from './peers/shapes.ts';
import { median } from './summary.ts';

const RUNS = 400;
const STORES: StoreKind[] = ['sqlite', 'sqlite-rows', 'memory'];
const { child, rounds } = orExit('commit-cost', () => {
  const values = parseFlags(process.argv.slice(2), { child: { type: 'string' }, rounds: { type: 'string' } });
  if (values === 'help') process.exit((process.stdout.write('usage: node --import tsx bench/commit-cost.ts [--rounds N]\n'), 0));
  const store = values['child'] as string | undefined;
  if (store !== undefined && !(STORES as string[]).includes(store)) throw new UsageError(`--child must be one of ${STORES.join(', ')}, got "${store}"`);
  return { child: store as StoreKind | undefined, rounds: wholeNumber('--rounds', (values['rounds'] as string | undefined) ?? '2', 1) };
});

if (child) {
  const plan = compileWorkflow(withExecutor(shapes['montage']!(), NOOP_SIMULATE), { source: 'bench' });
  const { engine, done } = makeEngine(child, { groupCommitMs: 0 });
  engine.register(plan);
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const c = process.cpuUsage();
    const r = await engine.run(plan.workflow, null);
    if (r.status !== 'succeeded') throw new Error(`run ${r.status}`);
    const u = process.cpuUsage(c);
    cpu.push((u.user + u.system) / 1000);
  }
  await done();
  process.stdout.write(`${JSON.stringify({ cpuMsPerRun: median(cpu.slice(RUNS / 2)) })}\n`);
} else {
  const out: Record<string, number[]> = Object.fromEntries(STORES.map((s) => [s, []]));
  for (let round = 0; round < rounds; round++) {
    for (const store of STORES) {
      const line = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', store], { encoding: 'utf8' });
      out[store]!.push((JSON.parse(line) as { cpuMsPerRun: number }).cpuMsPerRun);
    }
  }
  process.stdout.write(`${JSON.stringify({ workflow: 'montage (58 no-op steps), a commit after every batch', runsPerProcess: RUNS, cpuMsPerRun: out }, null, 2)}\n`);
}
