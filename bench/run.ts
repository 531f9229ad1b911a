/**
 * `npm run bench [-- --json] [--runs N] [--only NAME,...]`: runs each scenario N times (default
 * 3), each time in a fresh process, and reports medians. `--json` prints one JSON object
 * {results: [{name, store, events, steps, eventsPerSec, usPerStep, peakRssMb, runs, ...}]}; a
 * scenario whose process failed has {name, store, runs, error} instead, and the exit code is 1.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { BENCH_USAGE, orExit, parseBenchOptions } from './options.ts';
import { scenarios } from './scenarios.ts';
import { measureScenario, type ScenarioRow } from './summary.ts';

const options = orExit('bench', () => parseBenchOptions(process.argv.slice(2), Object.keys(scenarios)));
if (options === 'help') {
  process.stdout.write(`${BENCH_USAGE}\nscenarios: ${Object.keys(scenarios).join(', ')}\n`);
  process.exit(0);
}
const { runs, names } = options;

const results: ScenarioRow[] = [];
for (const name of names) {
  const child = () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(import.meta.dirname, 'child.ts'), name], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.stderr) process.stderr.write(r.stderr);
    // A child that could not be started, or outgrew the buffer (r.error), failed: the reason is its stderr.
    return { status: r.error ? null : r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.error ? r.error.message : r.stderr ?? '' };
  };
  const result = measureScenario(name, scenarios[name]!.store, runs, child);
  results.push(result);
  if (result.error !== undefined) process.stderr.write(`bench: ${name} failed: ${result.error}\n`);
  else if (!options.json) process.stderr.write(`${JSON.stringify(result)}\n`);
}
if (options.json) process.stdout.write(`${JSON.stringify({ results })}\n`);
else process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
// The other scenarios' results are printed all the same; the exit code says that one failed.
if (results.some((r) => r.error !== undefined)) process.exitCode = 1;
