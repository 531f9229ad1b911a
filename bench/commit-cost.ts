/**
 * The durable store's own cost per commit, warm: Montage with no-op steps and a commit after every
 * batch (`groupCommitMs: 0`), as batches that start processes commit. Each store runs in its own
 * fresh process, 400 runs, and reports the CPU per run (median of the last 200); stores alternate
 * for `--rounds` rounds (default 2). Prints one JSON object.
 * Usage: node --import tsx bench/commit-cost.ts [--rounds N]
 *        node --import tsx bench/commit-cost.ts --child <memory|sqlite|sqlite-rows>
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { compileWorkflow } from '../src/compiler/compile.ts';
import { makeEngine, type StoreKind } from './scenarios.ts';
import { NOOP_SIMULATE, shapes, withExecutor } from './peers/shapes.ts';

const RUNS = 400;
const STORES: StoreKind[] = ['sqlite', 'sqlite-rows', 'memory'];
const { values } = parseArgs({ options: { child: { type: 'string' }, rounds: { type: 'string', default: '2' } } });

if (values.child) {
  const plan = compileWorkflow(withExecutor(shapes['montage']!(), NOOP_SIMULATE), { source: 'bench' });
  const { engine, done } = makeEngine(values.child as StoreKind, { groupCommitMs: 0 });
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
  const tail = cpu.slice(RUNS / 2).sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ cpuMsPerRun: tail[tail.length >> 1] })}\n`);
} else {
  const out: Record<string, number[]> = Object.fromEntries(STORES.map((s) => [s, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const store of STORES) {
      const line = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', store], { encoding: 'utf8' });
      out[store]!.push((JSON.parse(line) as { cpuMsPerRun: number }).cpuMsPerRun);
    }
  }
  process.stdout.write(`${JSON.stringify({ workflow: 'montage (58 no-op steps), a commit after every batch', runsPerProcess: RUNS, cpuMsPerRun: out }, null, 2)}\n`);
}
