/** ASL timestamps (RFC 3339 with an uppercase T and Z): reading one, and comparing two at the precision they are written with. */

/**
 * A timestamp as the Choice rules compare it: whole UTC seconds since the epoch, whether it is a
 * leap second (23:59:60, counted in `seconds` as 23:59:59), then the digits of its fraction of a
 * second (trailing zeros dropped), compared as written: a Date's milliseconds would make `.0001`
 * and `.0002` equal.
 */
export type Instant = { seconds: number; leap: boolean; fraction: string };

const FORMAT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/** The instant `text` names, or undefined when it is not an RFC 3339 timestamp. */
export function parseTimestamp(text: string): Instant | undefined {
  const m = FORMAT.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second, offH, offM] = [...m.slice(1, 7), m[9] ?? '0', m[10] ?? '0'].map(Number) as
    [number, number, number, number, number, number, number, number];
  // RFC 3339 section 5.7: the day within its month (February 29 in leap years only), hours 00-23 (not 24), minutes 00-59.
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 60 || offH > 23 || offM > 59) return undefined;
  const offset = (m[8] === '-' ? -1 : 1) * (offH * 60 + offM);
  // setUTCFullYear, not Date.UTC, which reads the years 0 to 99 as 1900 to 1999.
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute - offset, Math.min(second, 59), 0);
  // Second 60 is a leap second, which only ever follows 23:59:59 UTC on the last day of a month.
  const leap = second === 60;
  if (leap && (utc.getUTCHours() !== 23 || utc.getUTCMinutes() !== 59 || utc.getUTCDate() !== daysIn(utc.getUTCFullYear(), utc.getUTCMonth() + 1))) return undefined;
  return { seconds: utc.getTime() / 1000, leap, fraction: (m[7] ?? '').replace(/0+$/, '') };
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function compareTimestamps(a: Instant, b: Instant): number {
  if (a.seconds !== b.seconds) return a.seconds - b.seconds;
  // A leap second (23:59:60) comes after every instant of 23:59:59.
  if (a.leap !== b.leap) return a.leap ? 1 : -1;
  const n = Math.max(a.fraction.length, b.fraction.length);
  const fa = a.fraction.padEnd(n, '0');
  const fb = b.fraction.padEnd(n, '0');
  return fa === fb ? 0 : fa < fb ? -1 : 1;
}
