/** Number, time and text formatting shared by the timeline's chart and the CLI. */
import { visible } from '../model/errors.ts';

/** `0.4 ms`, `54 ms`, `21.385 s`, `1084.123 s (18m 04s)`, `13633.4 s (3h 47m 13s)`. */
export function formatMs(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Number(ms.toFixed(1))} ms`;
  const seconds = `${Number((ms / 1000).toFixed(3))} s`;
  if (abs < 120_000) return seconds;
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const s = String(Math.floor((abs % 60_000) / 1000)).padStart(2, '0');
  return `${seconds} (${ms < 0 ? '-' : ''}${h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m`} ${s}s)`;
}

/** A share as `12.3%` (of a zero whole: `0%`). */
export function percent(part: number, whole: number): string {
  return whole <= 0 ? '0%' : `${Number(((part / whole) * 100).toFixed(1))}%`;
}

// Tick spacings a reader can add up: 1-2-5 below a second, then whole seconds and minutes.
const STEPS = [
  0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
  1_800_000, 3_600_000,
];

/** The tick spacing (ms) giving at most `maxTicks` intervals over `span` ms. */
export function tickStep(span: number, maxTicks: number): number {
  const want = span / Math.max(1, maxTicks);
  if (!Number.isFinite(want) || want <= 0) return 1;
  for (const s of STEPS) if (s >= want) return s;
  // Past an hour: 1-2-5 hours, times powers of ten.
  for (let p = 1; ; p *= 10) for (const m of [1, 2, 5]) if (m * p * 3_600_000 >= want) return m * p * 3_600_000;
}

/** A tick label in the unit of the spacing: `250 ms`, `1.5 s`, `12 min`. */
export function tickLabel(value: number, step: number): string {
  if (step < 1000) return `${Number(value.toFixed(1))} ms`;
  if (step < 60_000) return `${Number((value / 1000).toFixed(1))} s`;
  if (step < 3_600_000) return `${Number((value / 60_000).toFixed(1))} min`;
  return `${Number((value / 3_600_000).toFixed(1))} h`;
}

/** Text safe inside XML character data and attribute values (control characters made {@link visible}). */
export function escapeXml(text: string): string {
  return visible(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
