/**
 * Links per-frame detections into per-object tracks: each open track predicts its next centroid
 * (constant velocity from its last two points), candidate pairs within a gate are taken in order
 * of distance (greedy assignment, a "Hungarian-lite" that is exact when objects are far apart
 * compared with the gate), unmatched detections open tracks, and tracks unseen for more than
 * `maxGap` frames close. Detections with a `label` (a learned detector's class) only join tracks
 * of that label. It runs over the whole video at once, so chunk boundaries are just frames.
 */
/** What the tracker needs of a detection: a blob, or a learned detector's labelled box. */
export type Detection = { x: number; y: number; area: number; bbox: [number, number, number, number]; label?: string | undefined };

/** Detections of one frame (global frame number). */
export type FrameDetections = { frame: number; blobs: Detection[] };

/** One point of a track. */
export type TrackPoint = { frame: number; x: number; y: number; area: number; bbox: [number, number, number, number] };

/** A tracked object: ids count from 1 in order of first appearance; `label` as detected, if any. */
export type Track = { id: number; label?: string; firstFrame: number; lastFrame: number; points: TrackPoint[] };

/** Tracker settings. */
export type TrackerOptions = {
  /** Largest distance (pixels) between a prediction and a detection that may be linked. */
  gate: number;
  /** Frames a track may go undetected and still continue. */
  maxGap: number;
  /** Tracks with fewer points are dropped as clutter. */
  minLength: number;
};

/** Defaults for the synthetic scenes (speeds up to 2 px/frame, objects well apart). */
export const DEFAULT_TRACKER: TrackerOptions = { gate: 12, maxGap: 2, minLength: 3 };

type Open = { points: TrackPoint[]; order: number; label: string | undefined };

function predict(points: TrackPoint[], frame: number): [number, number] {
  const last = points[points.length - 1]!;
  const prev = points[points.length - 2];
  if (!prev) return [last.x, last.y];
  const dt = last.frame - prev.frame;
  const k = (frame - last.frame) / dt;
  return [last.x + (last.x - prev.x) * k, last.y + (last.y - prev.y) * k];
}

/** Builds tracks from detections; frames may come in any order and may be missing. */
export function linkTracks(detections: FrameDetections[], options: TrackerOptions = DEFAULT_TRACKER): Track[] {
  const frames = [...detections].sort((a, b) => a.frame - b.frame);
  // A frame detected twice (chunks that overlap) would give a track two points at one time: its
  // velocity, and every prediction after it, would be undefined (a division by zero).
  for (let i = 1; i < frames.length; i++) {
    if (frames[i]!.frame === frames[i - 1]!.frame) throw new Error(`frame ${frames[i]!.frame} has detections twice: the chunks overlap (a detector must report each frame of its chunk once)`);
  }
  const open: Open[] = [];
  const closed: Open[] = [];
  let opened = 0;
  for (const { frame, blobs } of frames) {
    // Close what has been unseen for too long before matching, so it cannot grab a newcomer.
    for (let i = open.length - 1; i >= 0; i--) {
      if (frame - open[i]!.points.at(-1)!.frame > options.maxGap + 1) closed.push(...open.splice(i, 1));
    }
    const pairs: Array<{ t: number; b: number; d: number }> = [];
    open.forEach((track, t) => {
      const [px, py] = predict(track.points, frame);
      blobs.forEach((blob, b) => {
        if (blob.label !== track.label) return;
        const d = Math.hypot(blob.x - px, blob.y - py);
        if (d <= options.gate) pairs.push({ t, b, d });
      });
    });
    // Ties are broken by track age, then detection order: the result never depends on sort stability.
    pairs.sort((p, q) => p.d - q.d || open[p.t]!.order - open[q.t]!.order || p.b - q.b);
    const trackTaken = new Set<number>();
    const blobTaken = new Set<number>();
    for (const { t, b } of pairs) {
      if (trackTaken.has(t) || blobTaken.has(b)) continue;
      trackTaken.add(t);
      blobTaken.add(b);
      open[t]!.points.push(point(frame, blobs[b]!));
    }
    blobs.forEach((blob, b) => {
      if (!blobTaken.has(b)) open.push({ points: [point(frame, blob)], order: opened++, label: blob.label });
    });
  }
  const all = [...closed, ...open].filter((t) => t.points.length >= options.minLength);
  all.sort((a, b) => a.points[0]!.frame - b.points[0]!.frame || a.order - b.order);
  return all.map((t, i) => ({
    id: i + 1,
    ...(t.label === undefined ? {} : { label: t.label }),
    firstFrame: t.points[0]!.frame,
    lastFrame: t.points.at(-1)!.frame,
    points: t.points,
  }));
}

function point(frame: number, blob: Detection): TrackPoint {
  return { frame, x: blob.x, y: blob.y, area: blob.area, bbox: blob.bbox };
}
