/**
 * The video-objects example's reasoning parts: the tracker on synthetic detections, the seeded
 * scene generator and its ground truth, the score against that truth, and where a step keeps
 * its data locally and on AWS.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectBlobs } from '../../workflows/video-objects/lib/blobs.ts';
import { scoreTracks } from '../../workflows/video-objects/lib/score.ts';
import { runDataDir } from '../../workflows/video-objects/lib/step-io.ts';
import { joinLocation, parentLocation, parseS3Uri } from '../../workflows/video-objects/lib/storage.ts';
import { DEFAULT_SCENE, planScene, renderScene } from '../../workflows/video-objects/lib/synth.ts';
import { linkTracks, type Detection, type FrameDetections, type Track, type TrackerOptions } from '../../workflows/video-objects/lib/tracker.ts';
import { encodeVideo } from '../../workflows/video-objects/lib/video-format.ts';

const det = (x: number, y: number, label?: string): Detection => ({ x, y, area: 20, bbox: [x - 2, y - 2, x + 2, y + 2], ...(label ? { label } : {}) });
const opts: TrackerOptions = { gate: 12, maxGap: 2, minLength: 1 };
/** Each track as its points "frame:x,y", for comparing whole tracks at once. */
const paths = (tracks: Track[]) => tracks.map((t) => t.points.map((p) => `${p.frame}:${p.x},${p.y}`).join(' '));

describe('linkTracks', () => {
  it('follows objects moving in straight lines, numbering tracks by first appearance', () => {
    const frames: FrameDetections[] = [];
    for (let f = 0; f < 10; f++) {
      const blobs = [det(10 + 2 * f, 50), det(80 - 3 * f, 20)];
      if (f >= 4) blobs.push(det(5, 5 + f));
      frames.push({ frame: f, blobs });
    }
    const tracks = linkTracks(frames, opts);
    expect(tracks.map((t) => [t.id, t.firstFrame, t.lastFrame, t.points.length])).toEqual([[1, 0, 9, 10], [2, 0, 9, 10], [3, 4, 9, 6]]);
    expect(tracks[0]!.points.every((p, i) => p.x === 10 + 2 * i && p.y === 50)).toBe(true);
    expect(tracks[1]!.points.every((p, i) => p.x === 80 - 3 * i && p.y === 20)).toBe(true);
  });

  it('keeps identities when objects pass close by, thanks to the constant-velocity prediction', () => {
    // A moves right along y = 10, B left along y = 12, 4 px per frame: at the crossing each is
    // nearer to the other's last position than to its own next one.
    const frames: FrameDetections[] = [];
    for (let f = 0; f < 12; f++) frames.push({ frame: f, blobs: [det(4 * f, 10), det(44 - 4 * f, 12)] });
    const tracks = linkTracks(frames, opts);
    expect(tracks).toHaveLength(2);
    expect(tracks[0]!.points.map((p) => p.y)).toEqual(Array(12).fill(10));
    expect(tracks[1]!.points.map((p) => p.y)).toEqual(Array(12).fill(12));
  });

  it('bridges up to maxGap missing frames, and starts a new track after a longer gap', () => {
    const seen = (skip: number[]) => Array.from({ length: 10 }, (_, f) => ({ frame: f, blobs: skip.includes(f) ? [] : [det(10 + f, 10)] }));
    expect(linkTracks(seen([4, 5]), opts).map((t) => t.points.length)).toEqual([8]);
    expect(linkTracks(seen([4, 5, 6]), opts).map((t) => [t.firstFrame, t.lastFrame])).toEqual([[0, 3], [7, 9]]);
    // Frames may also be absent from the list altogether.
    expect(linkTracks(seen([]).filter((f) => f.frame !== 5), opts)).toHaveLength(1);
  });

  it('opens a new track for a detection outside the gate, and drops tracks shorter than minLength', () => {
    const frames = [0, 1, 2, 3].map((f) => ({ frame: f, blobs: f === 2 ? [det(10 + f, 10), det(60, 60)] : [det(10 + f, 10)] }));
    expect(paths(linkTracks(frames, opts))).toEqual(['0:10,10 1:11,10 2:12,10 3:13,10', '2:60,60']);
    expect(paths(linkTracks(frames, { ...opts, minLength: 2 }))).toEqual(['0:10,10 1:11,10 2:12,10 3:13,10']);
    expect(linkTracks(frames, { ...opts, gate: 0.5 }).map((t) => t.points.length)).toEqual([1, 1, 1, 1, 1]);
  });

  it('refuses a frame detected twice (overlapping chunks), naming it, rather than predicting from a zero time step', () => {
    const f = (frame: number, x: number) => ({ frame, blobs: [{ x, y: 10, area: 9, bbox: [x - 1, 9, x + 1, 11] as [number, number, number, number] }] });
    expect(() => linkTracks([f(0, 10), f(1, 11), f(2, 12), f(1, 11)])).toThrow('frame 1 has detections twice: the chunks overlap (a detector must report each frame of its chunk once)');
  });

  it('never links detections of different labels', () => {
    const frames = [0, 1, 2].map((f) => ({ frame: f, blobs: [det(10 + f, 10, f === 1 ? 'cat' : 'dog')] }));
    const tracks = linkTracks(frames, opts);
    // The dog track bridges the frame where only the cat is seen.
    expect(tracks.map((t) => [t.label, t.points.length])).toEqual([['dog', 2], ['cat', 1]]);
  });

  it('gives the same tracks whatever order the frames (chunks) arrive in', () => {
    const frames = Array.from({ length: 16 }, (_, f) => ({ frame: f, blobs: [det(3 * f, 40), det(50, 2 * f), det(90 - f, 90 - f)] }));
    const expected = paths(linkTracks(frames, opts));
    const chunks = [frames.slice(12), frames.slice(4, 8), frames.slice(0, 4), frames.slice(8, 12)];
    expect(paths(linkTracks(chunks.flat(), opts))).toEqual(expected);
    expect(expected).toHaveLength(3);
  });
});

describe('synthetic scene', () => {
  it('is the same bytes for the same seed and different for another', () => {
    const a = renderScene(DEFAULT_SCENE);
    const b = renderScene({ ...DEFAULT_SCENE });
    expect(encodeVideo(a.video).equals(encodeVideo(b.video))).toBe(true);
    expect(a.truth).toEqual(b.truth);
    expect(encodeVideo(renderScene({ ...DEFAULT_SCENE, seed: 2 }).video).equals(encodeVideo(a.video))).toBe(false);
  });

  it('has objects that stay, enter and leave, and never lets two of them touch', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { truth } = renderScene({ ...DEFAULT_SCENE, seed });
      expect(truth.objects.map((o) => o.motion)).toEqual(['stays', 'stays', 'stays', 'enters', 'leaves']);
      const last = DEFAULT_SCENE.frames - 1;
      for (const o of truth.objects) {
        const span = [o.track[0]!.frame, o.track.at(-1)!.frame];
        if (o.motion === 'stays') expect(span).toEqual([0, last]);
        if (o.motion === 'enters') expect(span[0]).toBeGreaterThan(0);
        if (o.motion === 'leaves') expect(span[1]).toBeLessThan(last);
      }
      // Pixel-level: on a clean rendering, every frame has exactly one component per visible object.
      const clean = renderScene({ ...DEFAULT_SCENE, seed, noise: 0, speckles: 0 });
      clean.video.frames.forEach((pixels, f) => {
        const areas = detectBlobs(pixels, DEFAULT_SCENE.width, DEFAULT_SCENE.height, { threshold: 90, connectivity: 8, minArea: 1 }).map((b) => b.area);
        const visible = clean.truth.objects.flatMap((o) => o.track.filter((p) => p.frame === f).map((p) => p.area));
        expect(areas.sort((a, b) => a - b), `seed ${seed} frame ${f}`).toEqual(visible.sort((a, b) => a - b));
      });
    }
  });

  it('records the visible pixels: the detector finds the truth centroids on a clean frame', () => {
    const { video, truth } = renderScene({ ...DEFAULT_SCENE, noise: 0, speckles: 0, frames: 40 });
    const f = 30;
    const blobs = detectBlobs(video.frames[f]!, video.width, video.height, { threshold: 90, connectivity: 8, minArea: 1 });
    const expected = truth.objects.flatMap((o) => o.track.filter((p) => p.frame === f)).map((p) => ({ x: p.x, y: p.y, area: p.area }));
    const round = (v: { x: number; y: number; area: number }) => ({ x: Math.round(v.x * 1000) / 1000, y: Math.round(v.y * 1000) / 1000, area: v.area });
    expect(blobs.map(round).sort((a, b) => a.x - b.x)).toEqual(expected.map(round).sort((a, b) => a.x - b.x));
  });

  it('says when the objects do not fit', () => {
    expect(() => planScene({ ...DEFAULT_SCENE, width: 40, height: 32, objects: 12 })).toThrow(/no room for object \d+ of 12 in 40x32/);
    expect(() => planScene({ ...DEFAULT_SCENE, frames: 2 })).toThrow(/no room for object \d+ of 5 in 160x120 over 2 frames \(objects that enter or leave need frames/);
  });
});

describe('scoreTracks', () => {
  const { truth } = renderScene(DEFAULT_SCENE);
  const fromTruth = (): Track[] => truth.objects.map((o, i) => ({
    id: i + 1,
    firstFrame: o.track[0]!.frame,
    lastFrame: o.track.at(-1)!.frame,
    points: o.track.map((p) => ({ frame: p.frame, x: p.x + 0.5, y: p.y, area: p.area, bbox: p.bbox })),
  }));

  it('accepts tracks that follow the truth one to one', () => {
    const s = scoreTracks(truth, fromTruth(), { radius: 4, minArea: 1 });
    expect(s).toMatchObject({ oneToOne: true, objects: 5, tracks: 5, missed: 0, ghosts: 0, maxError: 0.5 });
    expect(s.perObject.map((p) => p.tracks)).toEqual([[1], [2], [3], [4], [5]]);
  });

  it('sees an identity switch, a missing stretch and a ghost', () => {
    const swapped = fromTruth();
    // Tracks 1 and 2 exchange their points from frame 32 on.
    const [a, b] = [swapped[0]!, swapped[1]!];
    const tailA = a.points.splice(32);
    const tailB = b.points.splice(32);
    a.points.push(...tailB);
    b.points.push(...tailA);
    let s = scoreTracks(truth, swapped, { radius: 4, minArea: 1 });
    expect(s.oneToOne).toBe(false);
    expect(s.perObject[0]!.tracks).toEqual([1, 2]);

    const cut = fromTruth();
    cut[2]!.points = cut[2]!.points.filter((p) => p.frame < 20 || p.frame >= 25);
    cut.push({ id: 6, firstFrame: 3, lastFrame: 4, points: [3, 4].map((frame) => ({ frame, x: 150, y: 110, area: 9, bbox: [149, 109, 151, 111] })) });
    s = scoreTracks(truth, cut, { radius: 4, minArea: 1 });
    expect(s).toMatchObject({ oneToOne: false, missed: 5, ghosts: 2, tracks: 6 });
  });
});

describe('where the steps keep run data', () => {
  it('uses the input dataDir, the Batch job output prefix, the run data directory, or .joinflow/video-objects by hand', () => {
    const env = { JOINFLOW_RUN_ID: 'r1' };
    expect(runDataDir('s3://b/data/', env)).toBe('s3://b/data/r1');
    expect(runDataDir('/tmp/x', env)).toBe(path.resolve('/tmp/x/r1'));
    expect(runDataDir(undefined, { ...env, JOINFLOW_OUTPUT_URI: 's3://stage-bucket/outputs/r1/split.1.json' })).toBe('s3://stage-bucket/outputs/r1/video');
    expect(runDataDir(undefined, { ...env, JOINFLOW_DATA_DIR: '/state/runs/r1/data' })).toBe(path.join('/state/runs/r1/data', 'video'));
    expect(runDataDir(undefined, env)).toBe(path.resolve('.joinflow/video-objects/r1'));
  });

  it('joins and splits s3:// locations like paths', () => {
    expect(parseS3Uri('s3://b/k/x.jfv')).toEqual({ bucket: 'b', key: 'k/x.jfv' });
    expect(parseS3Uri('/tmp/x.jfv')).toBeUndefined();
    expect(joinLocation('s3://b/p/', 'c.jfv')).toBe('s3://b/p/c.jfv');
    expect(parentLocation('s3://b/p/q/c.jfv')).toBe('s3://b/p/q');
    expect(parentLocation('/a/b/c.jfv')).toBe('/a/b');
  });
});
