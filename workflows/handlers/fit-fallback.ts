// Handlers of workflows/fit-fallback.ts: a least-squares line, and a fallback for the data it
// cannot fit (all x equal, or fewer than two points).
import { NonRetriableStepError, type StepHandler } from 'joinflow/handler';

type Point = [number, number];
type Input = { points?: Point[] } | null;

const DEFAULT_POINTS: Point[] = [[0, 1.1], [1, 2.9], [2, 5.2], [3, 7.1], [4, 8.8]];
const round = (v: number) => Math.round(v * 1000) / 1000;

export const load: StepHandler<Input> = async (e) => {
  const points = e.input?.points ?? DEFAULT_POINTS;
  if (!Array.isArray(points) || !points.every((p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite))) {
    throw new NonRetriableStepError('input.points must be an array of [x, y] pairs of finite numbers');
  }
  return points;
};

/** y = a + b x by least squares; fails (not retried) when the x values do not vary. */
export const fit: StepHandler<Input> = async (e) => {
  const points = e.results['load'] as Point[];
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  if (n < 2 || sxx === 0) throw new NonRetriableStepError(`cannot fit a line: ${n < 2 ? 'fewer than two points' : 'all x values are equal'}`);
  const b = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
  return { model: 'line', intercept: round(my - b * mx), slope: round(b) };
};

/** Runs only when fit failed: the median of y, and why the line could not be fitted. */
export const constant: StepHandler<Input> = async (e) => {
  const ys = (e.results['load'] as Point[]).map(([, y]) => y).sort((a, b) => a - b);
  const mid = Math.floor(ys.length / 2);
  const median = ys.length === 0 ? null : ys.length % 2 ? ys[mid]! : (ys[mid - 1]! + ys[mid]!) / 2;
  return { model: 'constant', value: median, because: e.error?.message ?? null };
};

/** After either: only the one that ran has a result. */
export const report: StepHandler<Input> = async (e) => Object.values(e.results)[0];
