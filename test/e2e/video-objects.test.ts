/**
 * The video-objects example end to end through the real CLI: a generated video goes through
 * split -> detect (one process per chunk) -> merge, and the merged tracks are checked against
 * the generator's ground truth: one track per object, every centroid within a pixel, and the
 * same track on both sides of every chunk boundary.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';
import type { Truth } from '../../workflows/video-objects/lib/synth.ts';
import type { Track } from '../../workflows/video-objects/lib/tracker.ts';

const tmp = tempDirs('jf-video-');
/** The detector's default minArea: truth points smaller than this may go undetected. */
const MIN_AREA = 6;
/** Largest centroid error allowed between a track point and the truth, in pixels. */
const MAX_ERROR = 1;

function generate(dir: string, seed: number): { video: string; truth: string } {
  const video = path.join(dir, 'scene.jfv');
  const truth = path.join(dir, 'truth.json');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'workflows/video-objects/scripts/generate.ts', '--out', video, '--truth', truth, '--seed', String(seed)], { cwd: root, encoding: 'utf8' });
  expect(r.stderr).toContain(`64 frames of 160x120, seed ${seed}`);
  expect(r.status).toBe(0);
  return { video, truth };
}

function run(input: unknown, state: string) {
  const r = joinflow(['run', 'video-objects', '--input', JSON.stringify(input), '--json', '--state', state]);
  return { ...r, out: r.stdout === '' ? undefined : JSON.parse(r.stdout) };
}

/** Pairs each truth object with the track whose points lie on it, and checks every point. */
function checkAgainstTruth(truth: Truth, tracks: Track[], boundaries: number[]): void {
  expect(tracks).toHaveLength(truth.objects.length);
  const claimed = new Set<number>();
  for (const o of truth.objects) {
    const required = o.track.filter((p) => p.area >= MIN_AREA);
    const first = required[0]!;
    const track = tracks.find((t) => t.points.some((p) => p.frame === first.frame && Math.hypot(p.x - first.x, p.y - first.y) <= MAX_ERROR));
    expect(track, `a track starts on object ${o.id} at frame ${first.frame}`).toBeDefined();
    expect(claimed.has(track!.id), `track ${track!.id} follows only one object`).toBe(false);
    claimed.add(track!.id);
    const byFrame = new Map(track!.points.map((p) => [p.frame, p]));
    for (const p of required) {
      const q = byFrame.get(p.frame);
      expect(q, `object ${o.id} frame ${p.frame} is on track ${track!.id}`).toBeDefined();
      expect(Math.hypot(q!.x - p.x, q!.y - p.y), `object ${o.id} frame ${p.frame}`).toBeLessThanOrEqual(MAX_ERROR);
    }
    // Nothing the object did not do: the track has no points outside the object's frames.
    const frames = new Set(o.track.map((p) => p.frame));
    expect(track!.points.filter((p) => !frames.has(p.frame))).toEqual([]);
    for (const b of boundaries) {
      if (byFrame.has(b - 1) && frames.has(b) && o.track.find((p) => p.frame === b)!.area >= MIN_AREA) {
        expect(byFrame.has(b), `object ${o.id} keeps track ${track!.id} across the chunk boundary at frame ${b}`).toBe(true);
      }
    }
  }
}

describe('workflows/video-objects', () => {
  it('tracks every object of a generated video across chunks, matching the ground truth', () => {
    const dir = tmp();
    const { video, truth: truthFile } = generate(dir, 7);
    const r = run({ video, chunks: 4, dataDir: path.join(dir, 'data') }, path.join(dir, 'state'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toMatchObject({ workflow: 'video-objects', status: 'succeeded', steps: { total: 6, succeeded: 6, failed: 0, cancelled: 0, retried: 0 } });
    const out = r.out.output;
    const runDir = path.join(dir, 'data', r.out.runId);
    expect(out.tracksFile).toBe(path.join(runDir, 'tracks.json'));
    // A given video has no truth to check against: the run says nothing about it.
    expect(out.check).toBeUndefined();
    expect(readdirSync(runDir).sort()).toEqual([0, 1, 2, 3].flatMap((i) => [`chunk-00${i}.detections.json`, `chunk-00${i}.jfv`]).concat('tracks.json'));

    const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as Truth;
    const { tracks, frames } = JSON.parse(readFileSync(out.tracksFile, 'utf8')) as { tracks: Track[]; frames: number };
    expect(frames).toBe(64);
    expect(out.tracks).toBe(truth.objects.length);
    expect(out.objects.map((o: { id: number }) => o.id)).toEqual(tracks.map((t) => t.id));
    // Objects that stay in view for the whole video span all four chunks.
    expect(truth.objects.filter((o) => o.motion === 'stays').every((o) => o.track.length === 64)).toBe(true);
    checkAgainstTruth(truth, tracks, [16, 32, 48]);
    // The detect jobs saw each frame once: the chunk detections add up to every tracked point plus clutter.
    const points = tracks.reduce((n, t) => n + t.points.length, 0);
    expect(out.detections).toBeGreaterThanOrEqual(points);
  });

  it('renders the synthetic scene itself when the input names no video, and reports the check', () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    // No dataDir: the files go to the run's data directory in the state dir.
    const r = run({ chunks: 5, synthetic: { seed: 3 } }, state);
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.steps).toEqual({ total: 7, succeeded: 7, failed: 0, cancelled: 0, retried: 0 });
    const out = r.out.output;
    expect(out).toMatchObject({ tracks: 5, frames: 64, chunks: 5, check: { oneToOne: true, objects: 5, missed: 0, ghosts: 0 } });
    expect(out.check.maxError).toBeLessThanOrEqual(MAX_ERROR);
    const truth = JSON.parse(readFileSync(out.check.truth, 'utf8')) as Truth;
    expect(truth.scene.seed).toBe(3);
    const { tracks } = JSON.parse(readFileSync(out.tracksFile, 'utf8')) as { tracks: Track[] };
    // Five chunks of 64 frames: boundaries at 12, 25, 38, 51.
    checkAgainstTruth(truth, tracks, [12, 25, 38, 51]);
    // scripts/check.ts scores the same files, and says why it fails when it does.
    const check = (extra: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'workflows/video-objects/scripts/check.ts', '--truth', out.check.truth, '--tracks', out.tracksFile, ...extra], { cwd: root, encoding: 'utf8' });
    const ok = check([]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ oneToOne: true, maxError: out.check.maxError });
    const strict = check(['--max-error', '0']);
    expect(strict.status).toBe(1);
    expect(strict.stderr).toContain(`check: failed: the largest position error, ${out.check.maxError} px, is over --max-error 0`);
    const runDir = path.join(state, 'runs', r.out.runId);
    expect(out.tracksFile).toBe(path.join(runDir, 'data', 'video', 'tracks.json'));
    expect(existsSync(path.join(runDir, 'data', 'video', 'video.jfv'))).toBe(true);
    // ... and leave with the run.
    expect(joinflow(['gc', '--state', state]).code).toBe(0);
    expect(existsSync(runDir)).toBe(false);
  });

  it('fails the run naming the bad field or file', () => {
    const dir = tmp();
    let r = run({ chunks: 0 }, path.join(dir, 'state'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error in step "split": .*bad run input: chunks: /);
    r = run({ video: path.join(dir, 'missing.jfv'), dataDir: dir }, path.join(dir, 'state'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${path.join(dir, 'missing.jfv')}: no such file`);
  });

  it('scripts/check.ts refuses files that are not a truth and a tracks file, naming the file and each bad field', () => {
    const dir = tmp();
    const file = (name: string, text: string) => {
      writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const check = (truth: string, tracks: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'workflows/video-objects/scripts/check.ts', '--truth', truth, '--tracks', tracks], { cwd: root, encoding: 'utf8' });
    const point = (frame: number) => ({ frame, x: 10 + frame, y: 20, area: 30, bbox: [8, 18, 12, 22] });
    const truth = file('truth.json', JSON.stringify({ scene: { seed: 1 }, objects: [{ id: 1, track: [point(0), point(1)] }] }));
    const tracks = file('tracks.json', JSON.stringify({ tracks: [{ id: 1, firstFrame: 0, lastFrame: 1, points: [point(0), point(1)] }] }));
    // Well-formed files are scored (so the refusals below are the files' fault).
    const ok = check(truth, tracks);
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ oneToOne: true, objects: 1, tracks: 1, matched: 2 });

    // The truth given as the tracks: said so, not "tracks is not iterable".
    let r = check(truth, truth);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`check: ${truth}: not a tracks file (a run's data/video/tracks.json: {tracks: [{id, points: [{frame, x, y, area}]}]}) (1 problem):\n  - tracks: is required (expected array)\n`);
    // Every bad field of a file, with its path; both files at once.
    const badTracks = file('bad-tracks.json', JSON.stringify({ tracks: [{ id: 1 }, { id: 'two', points: [{ frame: -1, x: 'a', y: 2 }] }] }));
    const badTruth = file('bad-truth.json', JSON.stringify({ objects: [{ id: 1, track: null }] }));
    r = check(badTruth, badTracks);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`check: ${badTruth}: not a ground truth file`);
    expect(r.stderr).toContain('  - objects[0].track: Invalid input: expected array, received null\n');
    expect(r.stderr).toContain(`check: ${badTracks}: not a tracks file`);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('  - ')).slice(1)).toEqual([
      '  - tracks[0].points: is required (expected array)',
      '  - tracks[1].id: Invalid input: expected number, received string',
      '  - tracks[1].points[0].frame: Too small: expected number to be >=0',
      '  - tracks[1].points[0].x: Invalid input: expected number, received string',
      '  - tracks[1].points[0].area: is required (expected number)',
    ]);
    // Two tracks with one id cannot be scored (the score pairs by id).
    r = check(truth, file('twice.json', JSON.stringify({ tracks: [{ id: 1, points: [] }, { id: 1, points: [] }] })));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('  - tracks[1].id: id 1 again (first at tracks[0])');
    // A file of many bad points: the first ten, then how many more.
    r = check(truth, file('many.json', JSON.stringify({ tracks: [{ id: 1, points: Array.from({ length: 25 }, (_, i) => ({ ...point(i), x: null })) }] })));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('(25 problems):');
    expect(r.stderr).toContain('  - tracks[0].points[9].x: Invalid input: expected number, received null\n  ... and 15 more\n');
    expect(r.stderr).not.toContain('points[10]');
    // Not JSON, JSON that is not an object, a directory.
    r = check(truth, file('text.json', 'nope'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`check: ${path.join(dir, 'text.json')}: not JSON`);
    r = check(file('null.json', 'null'), tracks);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`check: ${path.join(dir, 'null.json')}: not a ground truth file (truth.json of generate.ts or of a run: {objects: [{id, track: [{frame, x, y, area}]}]}) (1 problem):\n  - (top): Invalid input: expected object, received null\n`);
    r = check(truth, dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`check: ${dir}: a directory, not a file\n`);
  });
});
