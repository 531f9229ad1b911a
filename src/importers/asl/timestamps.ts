/** ASL timestamps (RFC 3339 with an uppercase T and Z): reading one, and comparing two at the precision they are written with. */

/**
 * A timestamp as the Choice rules compare it: whole UTC seconds since the epoch, then the digits
 * of its fraction of a second (trailing zeros dropped), compared as written: a Date's
 * milliseconds would make `.0001` and `.0002` equal.
 */
export type Instant = { seconds: number; fraction: string };

const FORMAT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/** The instant `text` names, or undefined when it is not an RFC 3339 timestamp. */
export function parseTimestamp(text: string): Instant | undefined {
  const m = FORMAT.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const offset = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  // setUTCFullYear, not Date.UTC, which reads the years 0 to 99 as 1900 to 1999.
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute - offset, second, 0);
  return { seconds: local.getTime() / 1000, fraction: (m[7] ?? '').replace(/0+$/, '') };
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function compareTimestamps(a: Instant, b: Instant): number {
  if (a.seconds !== b.seconds) return a.seconds - b.seconds;
  const n = Math.max(a.fraction.length, b.fraction.length);
  const fa = a.fraction.padEnd(n, '0');
  const fb = b.fraction.padEnd(n, '0');
  return fa === fb ? 0 : fa < fb ? -1 : 1;
}
