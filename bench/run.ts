/**
 * `npm run bench [-- --json] [--runs N] [--only NAME,...]`: runs each scenario N times (default
 * 3), each time in a fresh process, and reports medians. `--json` prints one JSON object
 * {results: [{name, store, events, steps, eventsPerSec, usPerStep, peakRssMb, runs, ...}]}.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { BENCH_USAGE, orExit, parseBenchOptions } from './options.ts';
import { scenarios } from './scenarios.ts';

const options = orExit('bench', () => parseBenchOptions(process.argv.slice(2), Object.keys(scenarios)));
if (options === 'help') {
  process.stdout.write(`${BENCH_USAGE}\nscenarios: ${Object.keys(scenarios).join(', ')}\n`);
  process.exit(0);
}
const { runs, names } = options;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

const results = [];
for (const name of names) {
  const scenario = scenarios[name]!;
  const samples: Array<Record<string, number>> = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(import.meta.dirname, 'child.ts'), name], { encoding: 'utf8', maxBuffer: 1 << 26 });
    samples.push(JSON.parse(out.trim().split('\n').at(-1)!));
  }
  const ms = median(samples.map((s) => s['ms']!));
  const first = samples[0]!;
  const extra: Record<string, number> = {};
  for (const k of Object.keys(first)) {
    if (!['events', 'steps', 'ms', 'peakRssMb'].includes(k) && typeof first[k] === 'number') extra[k] = round(median(samples.map((s) => s[k]!)), 3);
  }
  const result = {
    name,
    store: scenario.store,
    events: first['events']!,
    steps: first['steps']!,
    ms: round(ms),
    eventsPerSec: first['events'] ? Math.round(first['events'] / (ms / 1000)) : null,
    usPerStep: first['steps'] ? round((ms * 1000) / first['steps'], 2) : null,
    peakRssMb: median(samples.map((s) => s['peakRssMb']!)),
    runs,
    ...extra,
  };
  results.push(result);
  if (!options.json) process.stderr.write(`${JSON.stringify(result)}\n`);
}
if (options.json) process.stdout.write(`${JSON.stringify({ results })}\n`);
else process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
