/**
 * Compares a run's tracks with the generator's ground truth and prints the score as JSON.
 * Exits 0 when objects and tracks correspond one to one and no centroid is off by more than
 * --max-error pixels, 1 otherwise.
 *
 *   node --import tsx workflows/video-objects/scripts/check.ts --truth truth.json --tracks tracks.json
 *     [--radius 4] [--min-area 6] [--max-error 1]
 */
import { parseArgs } from 'node:util';
import { scoreTracks } from '../lib/score.ts';
import { closeStorage, readJson } from '../lib/storage.ts';
import type { Truth } from '../lib/synth.ts';
import type { Track } from '../lib/tracker.ts';

function number(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag} must be a non-negative number (got "${raw}")`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { truth: { type: 'string' }, tracks: { type: 'string' }, radius: { type: 'string' }, 'min-area': { type: 'string' }, 'max-error': { type: 'string' } },
  });
  if (!values.truth || !values.tracks) throw new Error('--truth FILE and --tracks FILE are required (truth.json and tracks.json of a run)');
  const truth = await readJson<Truth>(values.truth);
  const { tracks } = await readJson<{ tracks: Track[] }>(values.tracks);
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
