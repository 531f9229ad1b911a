/**
 * Scores tracks against the generator's ground truth. Per frame, truth points and track points
 * are paired greedily by distance within `radius`; then each truth object should map to exactly
 * one track and each track to one object (no identity switch, no fragment, no ghost). Truth
 * points smaller than the detector's `minArea` (an object barely inside the frame) may be
 * missed without penalty.
 */

/** What the score reads of a truth point or a track point. */
export type ScoredPoint = { frame: number; x: number; y: number; area: number };

/** What the score reads of the truth (a `Truth` is one). */
export type ScoredTruth = { objects: ReadonlyArray<{ id: number; track: readonly ScoredPoint[] }> };

/** What the score reads of a track (a `Track` is one). */
export type ScoredTrack = { id: number; points: readonly ScoredPoint[] };

/** Scoring settings. */
export type ScoreOptions = { radius: number; minArea: number };

/** What `scoreTracks` reports. */
export type Score = {
  objects: number;
  tracks: number;
  /** Truth points (area ≥ minArea) paired with a track point. */
  matched: number;
  /** Truth points (area ≥ minArea) no track point was near. */
  missed: number;
  /** Track points near no truth point. */
  ghosts: number;
  /** Largest and mean centroid error over the matched points, in pixels. */
  maxError: number;
  meanError: number;
  /** Per truth object: the track ids it was paired with (one when tracking is right) and frames. */
  perObject: Array<{ object: number; tracks: number[]; firstFrame: number; lastFrame: number; maxError: number }>;
  /** True when objects and tracks correspond one to one and nothing required was missed. */
  oneToOne: boolean;
};

/** Compares `tracks` with `truth`. */
export function scoreTracks(truth: ScoredTruth, tracks: readonly ScoredTrack[], options: ScoreOptions = { radius: 4, minArea: 6 }): Score {
  type Point = { owner: number; x: number; y: number; area: number };
  const truthByFrame = new Map<number, Point[]>();
  const trackByFrame = new Map<number, Point[]>();
  const push = (m: Map<number, Point[]>, frame: number, p: Point) => {
    const list = m.get(frame);
    if (list) list.push(p);
    else m.set(frame, [p]);
  };
  for (const o of truth.objects) for (const p of o.track) push(truthByFrame, p.frame, { owner: o.id, x: p.x, y: p.y, area: p.area });
  for (const t of tracks) for (const p of t.points) push(trackByFrame, p.frame, { owner: t.id, x: p.x, y: p.y, area: p.area });

  const pairsOf = new Map<number, Map<number, number>>(truth.objects.map((o) => [o.id, new Map()]));
  const errorOf = new Map<number, number>(truth.objects.map((o) => [o.id, 0]));
  const pairedTracks = new Set<number>();
  let matched = 0;
  let missed = 0;
  let ghosts = 0;
  let maxError = 0;
  let sumError = 0;
  for (const frame of new Set([...truthByFrame.keys(), ...trackByFrame.keys()])) {
    const ts = truthByFrame.get(frame) ?? [];
    const ks = trackByFrame.get(frame) ?? [];
    const pairs: Array<{ a: number; b: number; d: number }> = [];
    ts.forEach((t, a) => ks.forEach((k, b) => {
      const d = Math.hypot(t.x - k.x, t.y - k.y);
      if (d <= options.radius) pairs.push({ a, b, d });
    }));
    pairs.sort((p, q) => p.d - q.d || p.a - q.a || p.b - q.b);
    const usedT = new Set<number>();
    const usedK = new Set<number>();
    for (const { a, b, d } of pairs) {
      if (usedT.has(a) || usedK.has(b)) continue;
      usedT.add(a);
      usedK.add(b);
      const owner = ts[a]!.owner;
      const track = ks[b]!.owner;
      const counts = pairsOf.get(owner)!;
      counts.set(track, (counts.get(track) ?? 0) + 1);
      pairedTracks.add(track);
      errorOf.set(owner, Math.max(errorOf.get(owner)!, d));
      matched++;
      sumError += d;
      maxError = Math.max(maxError, d);
    }
    ts.forEach((t, a) => {
      if (!usedT.has(a) && t.area >= options.minArea) missed++;
    });
    ghosts += ks.length - usedK.size;
  }
  const perObject = truth.objects.map((o) => {
    const required = o.track.filter((p) => p.area >= options.minArea);
    return {
      object: o.id,
      tracks: [...pairsOf.get(o.id)!.keys()].sort((a, b) => a - b),
      firstFrame: required[0]?.frame ?? -1,
      lastFrame: required.at(-1)?.frame ?? -1,
      maxError: round(errorOf.get(o.id)!),
    };
  });
  const owners = perObject.map((p) => p.tracks);
  const oneToOne = missed === 0 && ghosts === 0 && tracks.length === truth.objects.length
    && owners.every((t) => t.length === 1) && new Set(owners.map((t) => t[0])).size === truth.objects.length && pairedTracks.size === tracks.length;
  return {
    objects: truth.objects.length,
    tracks: tracks.length,
    matched,
    missed,
    ghosts,
    maxError: round(maxError),
    meanError: round(matched === 0 ? 0 : sumError / matched),
    perObject,
    oneToOne,
  };
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
