/**
 * Compares a run's tracks with the generator's ground truth and prints the score as JSON.
 * Exits 0 when objects and tracks correspond one to one and no centroid is off by more than
 * --max-error pixels, 1 otherwise, 2 when a file cannot be read or is not what it should be
 * (each problem named with its path in the file).
 *
 *   node --import tsx workflows/video-objects/scripts/check.ts --truth truth.json --tracks tracks.json
 *     [--radius 4] [--min-area 6] [--max-error 1]
 */
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { listIssues, TracksFileSchema, TruthFileSchema } from '../lib/contract.ts';
import { scoreTracks } from '../lib/score.ts';
import { closeStorage, readJson } from '../lib/storage.ts';

function number(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag} must be a non-negative number (got "${raw}")`);
  return n;
}

/** Reads `location` as `schema`; the error names the file, what it should be, and every problem (the first ten). */
async function readChecked<T>(location: string, schema: z.ZodType<T>, what: string): Promise<T> {
  const parsed = schema.safeParse(await readJson(location));
  if (parsed.success) return parsed.data;
  const n = parsed.error.issues.length;
  throw new Error(`${location}: not ${what} (${n} problem${n === 1 ? '' : 's'}):\n${listIssues(parsed.error)}`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { truth: { type: 'string' }, tracks: { type: 'string' }, radius: { type: 'string' }, 'min-area': { type: 'string' }, 'max-error': { type: 'string' } },
  });
  if (!values.truth || !values.tracks) throw new Error('--truth FILE and --tracks FILE are required (truth.json and tracks.json of a run)');
  // Both files are read before either is refused: two wrong files are named at once.
  const [truthFile, tracksFile] = await Promise.allSettled([
    readChecked(values.truth, TruthFileSchema, 'a ground truth file (truth.json of generate.ts or of a run: {objects: [{id, track: [{frame, x, y, area}]}]})'),
    readChecked(values.tracks, TracksFileSchema, "a tracks file (a run's data/video/tracks.json: {tracks: [{id, points: [{frame, x, y, area}]}]})"),
  ]);
  if (truthFile.status === 'rejected' || tracksFile.status === 'rejected') {
    throw new Error([truthFile, tracksFile].flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : [])).join('\ncheck: '));
  }
  const truth = truthFile.value;
  const { tracks } = tracksFile.value;
  const score = scoreTracks(truth, tracks, { radius: number('radius', values.radius, 4), minArea: number('min-area', values['min-area'], 6) });
  process.stdout.write(`${JSON.stringify(score, null, 2)}\n`);
  const maxError = number('max-error', values['max-error'], 1);
  if (!score.oneToOne) process.stderr.write('check: failed: the tracks do not match the objects one to one\n');
  else if (score.maxError > maxError) process.stderr.write(`check: failed: the largest position error, ${score.maxError} px, is over --max-error ${maxError}\n`);
  return score.oneToOne && score.maxError <= maxError ? 0 : 1;
}

main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch((error: unknown) => {
    process.stderr.write(`check: ${(error as Error).message}\n`);
    process.exitCode = 2;
  })
  .finally(() => closeStorage());
