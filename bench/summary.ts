/**
 * The rows of `npm run bench`: one scenario's samples (one per fresh process) summarized as
 * medians, or, when any of its processes failed, a row that says so instead of numbers.
 */

/** What one fresh process of a scenario printed (bench/child.ts): {events, steps, ms, peakRssMb, ...extra}. */
export type ScenarioSample = Record<string, unknown>;

/** How one fresh process ended: its exit status (null if killed by a signal) and output. */
export type ChildOutcome = { status: number | null; signal?: string | null; stdout: string; stderr: string };

/** A scenario's row: medians over its processes, or `error` and no numbers. */
export type ScenarioRow = { name: string; store: string; runs: number; error?: string; [k: string]: unknown };

/** Median (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const CORE = ['events', 'steps', 'ms', 'peakRssMb'];

/**
 * The sample a process printed on its last line, or why there is none: a process that failed,
 * or ended without a measurement, is the scenario's failure, never a number.
 */
export function sampleOf(outcome: ChildOutcome): { sample: ScenarioSample } | { error: string } {
  // Node prints an uncaught error as source line, caret, then "Error: ...", then the stack.
  const lines = outcome.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const said = lines.find((l) => /^\w*(Error|Exception)\b/.test(l)) ?? lines.at(-1) ?? '';
  if (outcome.status !== 0) {
    const how = outcome.status !== null ? `exited ${outcome.status}` : outcome.signal ? `was killed by ${outcome.signal}` : 'did not run';
    return { error: `${how}${said ? `: ${said}` : ''}` };
  }
  const line = outcome.stdout.trim().split('\n').at(-1) ?? '';
  let sample: unknown;
  try {
    sample = JSON.parse(line);
  } catch {
    // Reported below.
  }
  const s = sample as ScenarioSample | null;
  if (typeof s !== 'object' || s === null || !CORE.every((k) => typeof s[k] === 'number' && Number.isFinite(s[k]))) {
    return { error: `printed no measurement (last line: ${line === '' ? 'none' : JSON.stringify(line.slice(0, 200))})` };
  }
  return { sample: s };
}

/**
 * Runs a scenario `runs` times through `runChild` (a fresh process each) and summarizes: medians
 * of `ms`, `peakRssMb` and every other numeric field, events/s and µs per step from the median
 * time. The first failed process ends the scenario with an error row.
 */
export function measureScenario(name: string, store: string, runs: number, runChild: () => ChildOutcome): ScenarioRow {
  const samples: ScenarioSample[] = [];
  for (let i = 0; i < runs; i++) {
    const outcome = sampleOf(runChild());
    if ('error' in outcome) return { name, store, runs: samples.length, error: `process ${i + 1} of ${runs} ${outcome.error}` };
    samples.push(outcome.sample);
  }
  const num = (s: ScenarioSample, k: string) => s[k] as number;
  const ms = median(samples.map((s) => num(s, 'ms')));
  const first = samples[0]!;
  const events = num(first, 'events');
  const steps = num(first, 'steps');
  const extra: Record<string, number> = {};
  for (const k of Object.keys(first)) {
    if (!CORE.includes(k) && samples.every((s) => typeof s[k] === 'number')) extra[k] = round(median(samples.map((s) => num(s, k))), 3);
  }
  return {
    name,
    store,
    events,
    steps,
    ms: round(ms),
    eventsPerSec: events ? Math.round(events / (ms / 1000)) : null,
    usPerStep: steps ? round((ms * 1000) / steps, 2) : null,
    peakRssMb: median(samples.map((s) => num(s, 'peakRssMb'))),
    runs,
    ...extra,
  };
}
