/**
 * Runs one peer shape on joinflow in this fresh process through the bench machinery
 * (bench/scenarios.ts runWorkflow: compile, register, then time `engine.run` to the end): 3
 * untimed runs, the first reported as coldMs, then the timed one (ms). Prints one JSON line:
 * {tasks, succeeded, setupMs, coldMs, ms, events, peakRssMb}.
 * Usage: node --import tsx bench/peers/joinflow-child.ts <shape> <memory|sqlite> <simulate|function>
 */
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { runWorkflow } from '../scenarios.ts';
import { NOOP_FUNCTION, NOOP_SIMULATE, shapes, withExecutor } from './shapes.ts';

const [name = '', store = '', executor = ''] = process.argv.slice(2);
const shape = shapes[name];
if (!shape) throw new Error(`joinflow-child: unknown shape "${name}" (have: ${Object.keys(shapes).join(', ')})`);
if (store !== 'memory' && store !== 'sqlite') throw new Error(`joinflow-child: store must be memory or sqlite, got "${store}"`);
if (executor !== 'simulate' && executor !== 'function') throw new Error(`joinflow-child: executor must be simulate or function, got "${executor}"`);

const workflow = withExecutor(shape(), executor === 'simulate' ? NOOP_SIMULATE : NOOP_FUNCTION);
// Setup, for comparison with HyperFlow's: validating and compiling the workflow into triggers.
// runWorkflow compiles again (now warm) outside its timed window.
const t0 = performance.now();
const plan = compileWorkflow(workflow, { source: 'bench' });
const setupMs = performance.now() - t0;
const m = await runWorkflow(workflow, null, 1, true, store);
const tasks = Object.keys(plan.steps).length;
// runWorkflow throws unless the run succeeded; steps.total counts the executions.
process.stdout.write(`${JSON.stringify({ tasks, succeeded: m.steps, setupMs, coldMs: m['coldMs'], ms: m.ms, events: m.events, peakRssMb: m.peakRssMb })}\n`);
