/**
 * What the three steps hand each other (and what a replacement detector image must honour),
 * checked with zod where it crosses a process boundary. Events carry locations (paths or s3://
 * URIs) and counts; pixels and detections stay in files.
 */
import { z } from 'zod';
import { DEFAULT_DETECTOR } from './blobs.ts';
import { DEFAULT_SCENE } from './synth.ts';
import { DEFAULT_TRACKER } from './tracker.ts';

const location = z.string().min(1, 'must be a path or an s3://bucket/key URI');

/** The run's input; every field is optional (no `video`: a synthetic scene is generated). */
export const RunInputSchema = z.strictObject({
  /** A JFV video: local path (relative to where joinflow runs) or s3:// URI. */
  video: location.optional(),
  /** Set by an upload under runs/video-objects/ on AWS (the S3 start bridge). */
  object: z.object({ bucket: z.string().min(1), key: z.string().min(1) }).optional(),
  /** Parameters of the synthetic scene, used when there is no video. */
  synthetic: z.strictObject({
    seed: z.number().int().default(DEFAULT_SCENE.seed),
    width: z.number().int().min(32).max(4096).default(DEFAULT_SCENE.width),
    height: z.number().int().min(32).max(4096).default(DEFAULT_SCENE.height),
    frames: z.number().int().min(1).max(100_000).default(DEFAULT_SCENE.frames),
    objects: z.number().int().min(0).max(100).default(DEFAULT_SCENE.objects),
  }).default({ seed: DEFAULT_SCENE.seed, width: DEFAULT_SCENE.width, height: DEFAULT_SCENE.height, frames: DEFAULT_SCENE.frames, objects: DEFAULT_SCENE.objects }),
  /** How many chunks (detect jobs) the video is cut into. */
  chunks: z.number().int().min(1).max(10_000).default(4),
  /** Where runs keep their data: `<dataDir>/<runId>/`. */
  dataDir: location.optional(),
  detector: z.strictObject({
    threshold: z.number().min(0).max(255).default(DEFAULT_DETECTOR.threshold),
    connectivity: z.union([z.literal(4), z.literal(8)]).default(DEFAULT_DETECTOR.connectivity),
    minArea: z.number().int().min(1).default(DEFAULT_DETECTOR.minArea),
  }).default(DEFAULT_DETECTOR),
  tracker: z.strictObject({
    gate: z.number().positive().default(DEFAULT_TRACKER.gate),
    maxGap: z.number().int().min(0).default(DEFAULT_TRACKER.maxGap),
    minLength: z.number().int().min(1).default(DEFAULT_TRACKER.minLength),
  }).default(DEFAULT_TRACKER),
});
export type RunInput = z.infer<typeof RunInputSchema>;

/** One chunk: the item a detect job receives. */
export const ChunkSchema = z.strictObject({
  index: z.number().int().min(0),
  /** The chunk's frames, a JFV file whose header carries `firstFrame`. */
  video: location,
  firstFrame: z.number().int().min(0),
  frames: z.number().int().min(0),
  /** Where the detect job writes its detections file. */
  detections: location,
});
export type Chunk = z.infer<typeof ChunkSchema>;

/** What split outputs. */
export const SplitOutputSchema = z.strictObject({
  /** The run's data directory (or S3 prefix). */
  dataDir: location,
  video: location,
  /** Ground truth of a synthetic video, absent for a given one. */
  truth: location.optional(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  frames: z.number().int().min(0),
  fps: z.number().positive(),
  chunks: z.array(ChunkSchema),
});
export type SplitOutput = z.infer<typeof SplitOutputSchema>;

/** One detection; `label` and `score` are what a learned detector adds (tracks never mix labels). */
export const DetectionSchema = z.object({
  x: z.number(),
  y: z.number(),
  area: z.number().min(0),
  bbox: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  mean: z.number().optional(),
  label: z.string().optional(),
  score: z.number().optional(),
});

/** The detections file a detect job writes. */
export const DetectionsFileSchema = z.object({
  chunk: z.number().int().min(0),
  detector: z.string().min(1),
  frames: z.array(z.object({ frame: z.number().int().min(0), blobs: z.array(DetectionSchema) })),
});
export type DetectionsFile = z.infer<typeof DetectionsFileSchema>;

/** What a detect job outputs (the step result merge receives, one per chunk). */
export const DetectOutputSchema = z.object({
  chunk: z.number().int().min(0),
  detections: location,
  frames: z.number().int().min(0),
  blobs: z.number().int().min(0),
});
export type DetectOutput = z.infer<typeof DetectOutputSchema>;

/** Where an object is in one frame, as the score reads it (a truth point or a track point). */
const ScoredPointSchema = z.object({ frame: z.number().int().min(0), x: z.number(), y: z.number(), area: z.number().min(0) });

/** Ids must be unique: the score pairs objects and tracks by id. */
function uniqueIds(list: ReadonlyArray<{ id: number }>, field: string, ctx: z.RefinementCtx): void {
  const first = new Map<number, number>();
  list.forEach((o, i) => {
    const at = first.get(o.id);
    if (at === undefined) first.set(o.id, i);
    else ctx.addIssue({ code: 'custom', path: [field, i, 'id'], message: `id ${o.id} again (first at ${field}[${at}])` });
  });
}

/** The generator's truth.json, as far as the score reads it. */
export const TruthFileSchema = z.object({
  objects: z.array(z.object({ id: z.number().int(), track: z.array(ScoredPointSchema) })),
}).superRefine((t, ctx) => uniqueIds(t.objects, 'objects', ctx));

/** A run's tracks.json (merge writes it), as far as the score reads it. */
export const TracksFileSchema = z.object({
  tracks: z.array(z.object({ id: z.number().int(), points: z.array(ScoredPointSchema) })),
}).superRefine((t, ctx) => uniqueIds(t.tracks, 'tracks', ctx));

/**
 * Zod issues one per line, `  - path: message`, with paths as `tracks[0].points[3].x`: the
 * first `limit`, then how many more (a file of many bad points would fill the terminal).
 */
export function listIssues(error: z.ZodError, limit = 10): string {
  const lines = error.issues.slice(0, limit).map((i) => {
    const path = i.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('').replace(/^\./, '');
    const message = i.code === 'invalid_type' && i.message.endsWith('received undefined') ? `is required (expected ${i.expected})` : i.message;
    return `  - ${path || '(top)'}: ${message}`;
  });
  const more = error.issues.length - limit;
  return `${lines.join('\n')}${more > 0 ? `\n  ... and ${more} more` : ''}`;
}

/** Readable zod issues: `path: message; …`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ');
}
