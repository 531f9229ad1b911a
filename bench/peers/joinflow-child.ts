/**
 * Runs one peer shape on joinflow in this fresh process: compile (setupMs), register, then `runs`
 * runs of the DAG on one engine, each timed from `engine.run` to the end of the run. The first is
 * reported as coldMs, the median of the last half as ms, exactly as the HyperFlow side does
 * (bench/peers/hyperflow/run-workflow.cjs). Prints one JSON line:
 * {tasks, succeeded, setupMs, coldMs, ms, runs, events, peakRssMb}; `succeeded` counts the steps that
 * succeeded over all runs, which bench/peers/run.ts holds to tasks x runs (as HyperFlow's calls).
 * Usage: node --import tsx bench/peers/joinflow-child.ts <shape> <memory|sqlite|sqlite-rows> <simulate|function> [runs]
 */
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { makeEngine, type StoreKind } from '../scenarios.ts';
import { NOOP_FUNCTION, NOOP_SIMULATE, shapes, withExecutor } from './shapes.ts';

const [name = '', store = '', executor = '', runsArg = '10'] = process.argv.slice(2);
const shape = shapes[name];
const runs = Number(runsArg);
if (!shape) throw new Error(`joinflow-child: unknown shape "${name}" (have: ${Object.keys(shapes).join(', ')})`);
if (store !== 'memory' && store !== 'sqlite' && store !== 'sqlite-rows') throw new Error(`joinflow-child: store must be memory, sqlite or sqlite-rows, got "${store}"`);
if (executor !== 'simulate' && executor !== 'function') throw new Error(`joinflow-child: executor must be simulate or function, got "${executor}"`);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`joinflow-child: runs must be a positive integer, got "${runsArg}"`);

const workflow = withExecutor(shape(), executor === 'simulate' ? NOOP_SIMULATE : NOOP_FUNCTION);
// Setup, for comparison with HyperFlow's: validating and compiling the workflow into triggers.
const t0 = performance.now();
const plan = compileWorkflow(workflow, { source: 'bench' });
const setupMs = performance.now() - t0;
const tasks = Object.keys(plan.steps).length;

const { engine, done } = makeEngine(store as StoreKind);
engine.register(plan);
const samples: number[] = [];
let events = 0;
let succeeded = 0;
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  const r = await engine.run(plan.workflow, null);
  samples.push(performance.now() - t);
  if (r.status !== 'succeeded') throw new Error(`${plan.workflow} run ${i + 1} ${r.status}: ${JSON.stringify(r.error)}`);
  events = r.events;
  succeeded += r.steps.succeeded;
}
await done();
const warm = samples.slice(Math.floor(runs / 2)).sort((a, b) => a - b);
const mid = Math.floor(warm.length / 2);
const ms = warm.length % 2 ? warm[mid]! : (warm[mid - 1]! + warm[mid]!) / 2;
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
process.stdout.write(`${JSON.stringify({ tasks, succeeded, setupMs, coldMs: samples[0], ms, runs, events, peakRssMb })}\n`);
