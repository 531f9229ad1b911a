/** Rows of the peer bench: medians of samples, ratios against HyperFlow, and a Markdown table. */

/** One measured process: setup, first (cold) run, last (warm) run, peak RSS. */
export type Sample = { tasks: number; setupMs: number; coldMs: number; ms: number; peakRssMb: number };

/** One engine on one shape, over all its samples. */
export type Row = {
  shape: string;
  tasks: number;
  engine: 'hyperflow' | 'joinflow';
  store: string;
  executor: string;
  runs: number;
  setupMs: number;
  coldMs: number;
  coldUsPerTask: number;
  ms: number;
  usPerTask: number;
  /** Smallest and largest of the samples' warm times (each a process's median): the spread on a busy machine. */
  msRange: [number, number];
  peakRssMb: number;
  /**
   * joinflow rows: HyperFlow's time per task over this row's (warm, then cold), rounded down to
   * 0.01; the target is checked on the ratio before rounding.
   */
  ratio?: number | null;
  coldRatio?: number | null;
  meetsTarget?: boolean | null;
  coldMeetsTarget?: boolean | null;
  /** Why this row has no numbers (the engine failed or timed out). */
  error?: string;
};

/** The target: joinflow at least this many times faster per task on every shape. */
export const TARGET_RATIO = 20;

/**
 * Runs per engine process, the same for both engines: the first is reported cold, the median of
 * the last half warm (an engine that has run the DAG a few times).
 */
export const RUNS_PER_PROCESS = 10;

/** Runs of each engine process on a DAG of `tasks`: 10, or with `steadyTasks`, enough for that many tasks. */
export function runsPerProcess(tasks: number, steadyTasks: number): number {
  return Math.max(RUNS_PER_PROCESS, Math.ceil(steadyTasks / tasks));
}

/**
 * The JSON object on the last non-empty line of an engine process's stdout (HyperFlow logs lines
 * of its own before it); an error saying what was there instead, so that the row reports a failure.
 */
export function resultLine<T>(stdout: string): T {
  const line = stdout.trim().split('\n').at(-1)?.trim() ?? '';
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    // Not JSON: reported below.
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`exited 0 without its result line (last line: ${line === '' ? 'none' : JSON.stringify(line.slice(0, 200))})`);
  }
  return value as T;
}

const COUNTS = { calls: 'calls', finished: 'finished tasks', succeeded: 'succeeded steps' } as const;

/**
 * Why a sample cannot count, or undefined: every task of every run must have run once, counted
 * by the task itself on HyperFlow's side (`calls`, `finished`) and by the engine on joinflow's
 * (`succeeded`), so that neither side is timed on less work than the other.
 */
export function missingWork(sample: { tasks: number; runs: number } & Partial<Record<keyof typeof COUNTS, number>>, expectedRuns: number): string | undefined {
  const expected = sample.tasks * expectedRuns;
  const counts = (Object.keys(COUNTS) as Array<keyof typeof COUNTS>).filter((k) => sample[k] !== undefined);
  if (sample.runs === expectedRuns && counts.length > 0 && counts.every((k) => sample[k] === expected)) return undefined;
  const said = counts.map((k) => `${sample[k]} ${COUNTS[k]}`).join(' and ') || 'no task count';
  return `${said} over ${sample.runs} runs, expected ${expected} of each (${sample.tasks} tasks x ${expectedRuns} runs)`;
}

/** Median (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

// Times keep microseconds (per task: nanoseconds), so that the ratios and the target are decided
// on the measured values; the Markdown table shows them to 0.1.
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
/** Rounded down to 0.01: a ratio shown as 20 is at least 20. */
const floor2 = (x: number) => Math.floor(x * 100 + 1e-9) / 100;

/** A row from the samples of one engine on one shape (at least one sample). */
export function summarize(base: Pick<Row, 'shape' | 'engine' | 'store' | 'executor'>, samples: readonly Sample[]): Row {
  const tasks = samples[0]!.tasks;
  const ms = median(samples.map((s) => s.ms));
  const coldMs = median(samples.map((s) => s.coldMs));
  const warm = samples.map((s) => s.ms);
  return {
    ...base,
    tasks,
    runs: samples.length,
    setupMs: round(median(samples.map((s) => s.setupMs))),
    coldMs: round(coldMs),
    coldUsPerTask: round((coldMs * 1000) / tasks),
    ms: round(ms),
    usPerTask: round((ms * 1000) / tasks),
    msRange: [round(Math.min(...warm)), round(Math.max(...warm))],
    peakRssMb: median(samples.map((s) => s.peakRssMb)),
  };
}

/** A row for an engine that produced no sample on a shape. */
export function failedRow(base: Pick<Row, 'shape' | 'engine' | 'store' | 'executor'>, tasks: number, error: string): Row {
  return { ...base, tasks, runs: 0, setupMs: NaN, coldMs: NaN, coldUsPerTask: NaN, ms: NaN, usPerTask: NaN, msRange: [NaN, NaN], peakRssMb: NaN, error };
}

/** Adds the ratios to a joinflow row; null when HyperFlow has no numbers for the shape. */
export function compare(row: Row, hyperflow: Row | undefined): Row {
  const ok = hyperflow !== undefined && hyperflow.error === undefined && row.error === undefined;
  const ratio = ok ? hyperflow.usPerTask / row.usPerTask : null;
  const coldRatio = ok ? hyperflow.coldUsPerTask / row.coldUsPerTask : null;
  return {
    ...row,
    ratio: ratio === null ? null : floor2(ratio),
    coldRatio: coldRatio === null ? null : floor2(coldRatio),
    meetsTarget: ratio === null ? null : ratio >= TARGET_RATIO,
    coldMeetsTarget: coldRatio === null ? null : coldRatio >= TARGET_RATIO,
  };
}

/** Text for one table cell: a `|` would end the cell and a line break the row. */
const cell = (text: string) => text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
const num = (x: number) => (Number.isNaN(x) ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: 1 }));
const ratioCell = (r: number | null | undefined, ok: boolean | null | undefined) =>
  r === undefined ? '' : r === null ? 'n/a' : `${r.toLocaleString('en-US', { maximumFractionDigits: 2 })}× ${ok ? '✔' : '✘'}`;

/** The rows as a Markdown table (times are medians; cold = first run in a fresh process). */
export function markdownTable(rows: readonly Row[]): string {
  const head = [
    '| shape | tasks | engine | cold ms | cold µs/task | warm ms | warm µs/task | warm range ms | ratio cold | ratio warm |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const body = rows.map((r) => {
    const engine = r.engine === 'hyperflow' ? `HyperFlow (${r.store})` : `joinflow ${r.store}, ${r.executor}`;
    if (r.error !== undefined) return `| ${r.shape} | ${num(r.tasks)} | ${engine} | ${cell(r.error)} | | | | | | |`;
    return `| ${r.shape} | ${num(r.tasks)} | ${engine} | ${num(r.coldMs)} | ${num(r.coldUsPerTask)} | ${num(r.ms)} | ${num(r.usPerTask)} | ${num(r.msRange[0])}–${num(r.msRange[1])} | ${ratioCell(r.coldRatio, r.coldMeetsTarget)} | ${ratioCell(r.ratio, r.meetsTarget)} |`;
  });
  return [...head, ...body].join('\n');
}
