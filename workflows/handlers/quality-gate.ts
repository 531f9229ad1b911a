// Handlers of workflows/quality-gate.ts: a series of readings is published as it is when its
// signal-to-noise ratio is high enough, and denoised first when it is not.
import type { StepHandler } from 'joinflow/handler';

type Input = { readings?: number[] } | null;
type Measured = { readings: number[]; snr: number };

/** A noisy series when the run gets none: a slow sine with alternating noise. */
const DEFAULT_READINGS = Array.from({ length: 64 }, (_, i) => 10 + 2 * Math.sin(i / 8) + (i % 2 ? 1.5 : -1.5));

const round = (v: number) => Math.round(v * 100) / 100;

/** Signal-to-noise ratio: the mean over the standard deviation of the differences between neighbours. */
function snr(readings: number[]): number {
  const mean = readings.reduce((s, v) => s + v, 0) / readings.length;
  const diffs = readings.slice(1).map((v, i) => v - readings[i]!);
  const sd = Math.sqrt(diffs.reduce((s, d) => s + d * d, 0) / Math.max(1, diffs.length) / 2);
  return sd === 0 ? Infinity : round(mean / sd);
}

export const measure: StepHandler<Input> = async (e) => {
  const readings = e.input?.readings ?? DEFAULT_READINGS;
  if (readings.length < 2 || !readings.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new TypeError('input.readings must be an array of at least two finite numbers');
  }
  return { readings, snr: snr(readings) } satisfies Measured;
};

/** Runs only when the series is clean enough (see the workflow's `when`). */
export const publish: StepHandler<Input> = async (e) => {
  const m = e.results['measure'] as Measured;
  return { published: m.readings.length, snr: m.snr, denoised: false };
};

/** Runs only when it is not: a moving average over 3 readings. */
export const denoise: StepHandler<Input> = async (e) => {
  const { readings } = e.results['measure'] as Measured;
  const smooth = readings.map((_, i) => {
    const window = readings.slice(Math.max(0, i - 1), i + 2);
    return round(window.reduce((s, v) => s + v, 0) / window.length);
  });
  return { readings: smooth, snr: snr(smooth) } satisfies Measured;
};

export const republish: StepHandler<Input> = async (e) => {
  const m = e.results['denoise'] as Measured;
  return { published: m.readings.length, snr: m.snr, denoised: true };
};

/** After either branch: only the branch that ran has a result. */
export const report: StepHandler<Input> = async (e) => {
  const [path, out] = Object.entries(e.results)[0]!;
  return { path, ...(out as object) };
};
