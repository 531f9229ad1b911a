/**
 * Step `merge`: reads every chunk's detections, links them across frames and chunk boundaries
 * into per-object tracks, writes `tracks.json` to the run's data directory and outputs a summary
 * (with the check against the ground truth when the video was synthetic).
 */
import { z } from 'zod';
import { describeIssues, DetectionsFileSchema, DetectOutputSchema, RunInputSchema, SplitOutputSchema } from '../lib/contract.ts';
import { scoreTracks } from '../lib/score.ts';
import { joinLocation, readJson, writeJson } from '../lib/storage.ts';
import { runStep } from '../lib/step-io.ts';
import type { Truth } from '../lib/synth.ts';
import { linkTracks } from '../lib/tracker.ts';

/** Pixels between a truth centroid and a track point that still count as the same object. */
const CHECK_RADIUS = 4;

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new Error(`merge: ${what}: ${describeIssues(r.error)}`);
  return r.data;
}

runStep(async (event) => {
  const input = parse(RunInputSchema, event.input ?? {}, 'bad run input');
  const split = parse(SplitOutputSchema, event.results?.['split'], 'the result of split');
  const detected = parse(z.array(DetectOutputSchema), event.results?.['detect'], 'the results of detect');
  const files = await Promise.all(detected.map(async (d) => parse(DetectionsFileSchema, await readJson(d.detections), d.detections)));
  const frames = files.flatMap((f) => f.frames);
  const tracks = linkTracks(frames, input.tracker);
  const tracksAt = joinLocation(split.dataDir, 'tracks.json');
  await writeJson(tracksAt, { video: split.video, width: split.width, height: split.height, frames: split.frames, tracks });
  process.stderr.write(`${tracks.length} tracks from ${frames.length} frames in ${files.length} chunks: ${tracksAt}\n`);

  let check: Record<string, unknown> | undefined;
  if (split.truth) {
    const s = scoreTracks(await readJson<Truth>(split.truth), tracks, { radius: CHECK_RADIUS, minArea: input.detector.minArea });
    check = { truth: split.truth, oneToOne: s.oneToOne, objects: s.objects, missed: s.missed, ghosts: s.ghosts, maxError: s.maxError, meanError: s.meanError };
  }
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    tracks: tracks.length,
    tracksFile: tracksAt,
    frames: frames.length,
    chunks: files.length,
    detections: detected.reduce((n, d) => n + d.blobs, 0),
    objects: tracks.map((t) => {
      const first = t.points[0]!;
      const last = t.points.at(-1)!;
      return { id: t.id, ...(t.label === undefined ? {} : { label: t.label }), frames: [t.firstFrame, t.lastFrame], points: t.points.length, from: [r(first.x), r(first.y)], to: [r(last.x), r(last.y)] };
    }),
    ...(check ? { check } : {}),
  };
});
