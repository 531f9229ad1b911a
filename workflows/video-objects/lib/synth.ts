/**
 * The synthetic input: a seeded scene of bright circles and rectangles moving in straight lines
 * over a noisy dark background, with salt speckles, rendered to a JFV video, and its ground
 * truth (per frame, the centroid, area and box of each object's visible pixels). The same seed
 * gives the same bytes on every machine, so the repository ships a seed instead of a video.
 *
 * Objects never come close enough to touch (a blob detector would see one blob), so each truth
 * object is exactly one object to find. Some stay in view, some enter, some leave mid-video.
 */
import type { Video } from './video-format.ts';

/** What to generate; every field has a default (DEFAULT_SCENE). */
export type SceneOptions = {
  seed: number;
  width: number;
  height: number;
  frames: number;
  fps: number;
  objects: number;
  /** Background level; objects are at least 100 brighter. */
  background: number;
  /** Uniform per-pixel noise amplitude (±). */
  noise: number;
  /** Probability of a pixel being a white speckle (single-pixel clutter the detector must ignore). */
  speckles: number;
};

/** The scene the example ships: 64 frames of 160x120, five objects. */
export const DEFAULT_SCENE: SceneOptions = { seed: 1, width: 160, height: 120, frames: 64, fps: 16, objects: 5, background: 30, noise: 8, speckles: 0.0005 };

/** A circle of radius `r` or an axis-aligned `w` × `h` rectangle, centred on the object's position. */
export type Shape = { kind: 'circle'; r: number } | { kind: 'rect'; w: number; h: number };

/** How an object moves through the video. */
export type Motion = 'stays' | 'enters' | 'leaves';

/** One object: its centre at frame t is (x0 + vx·t, y0 + vy·t). */
export type SceneObject = { id: number; shape: Shape; motion: Motion; intensity: number; x0: number; y0: number; vx: number; vy: number };

/** Where an object's visible pixels are in one frame; `bbox` is [x0, y0, x1, y1], inclusive. */
export type TruthPoint = { frame: number; x: number; y: number; area: number; bbox: [number, number, number, number] };

/** The generator's ground truth: every object with its visible pixels per frame. */
export type Truth = { scene: SceneOptions; objects: Array<SceneObject & { track: TruthPoint[] }> };

/** A seeded PRNG (mulberry32) with floats in [0, 1): deterministic input, not cryptography. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Radius of the circle around a shape: what the spacing rule keeps apart. */
function reach(shape: Shape): number {
  return shape.kind === 'circle' ? shape.r : Math.hypot(shape.w, shape.h) / 2;
}

function centre(o: SceneObject, t: number): [number, number] {
  return [o.x0 + o.vx * t, o.y0 + o.vy * t];
}

/** Whether pixel (x, y) belongs to the object centred at (cx, cy). */
function covers(shape: Shape, cx: number, cy: number, x: number, y: number): boolean {
  if (shape.kind === 'circle') return (x - cx) ** 2 + (y - cy) ** 2 <= shape.r ** 2;
  return Math.abs(x - cx) <= shape.w / 2 && Math.abs(y - cy) <= shape.h / 2;
}

/** Free space kept between two objects' circles: more than a pixel, so 8-connected blobs never merge. */
const GAP = 3;
const ATTEMPTS = 2000;

/** Draws the objects' shapes and trajectories, each checked against those already placed. */
export function planScene(options: SceneOptions): SceneObject[] {
  const rand = createRandom(options.seed);
  const { width: W, height: H, frames: T } = options;
  const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
  const placed: SceneObject[] = [];
  for (let id = 1; id <= options.objects; id++) {
    // Three of every five stay in view; the others enter or leave, so tracks start and end mid-video.
    const motion: Motion = id % 5 === 4 ? 'enters' : id % 5 === 0 ? 'leaves' : 'stays';
    let found: SceneObject | undefined;
    for (let attempt = 0; attempt < ATTEMPTS && !found; attempt++) {
      const shape: Shape = rand() < 0.5 ? { kind: 'circle', r: Math.round(between(4, 8)) } : { kind: 'rect', w: Math.round(between(8, 16)), h: Math.round(between(8, 16)) };
      const R = reach(shape);
      const speed = between(0.6, 2);
      const intensity = Math.round(between(options.background + 110, 250));
      let o: SceneObject;
      if (motion === 'stays') {
        const angle = between(0, 2 * Math.PI);
        o = { id, shape, motion, intensity, x0: between(R + 1, W - R - 2), y0: between(R + 1, H - R - 2), vx: speed * Math.cos(angle), vy: speed * Math.sin(angle) };
      } else {
        // At frame `at` the object's centre is just outside one edge, moving in (enters) or out (leaves).
        const at = Math.round(motion === 'enters' ? between(0.15, 0.55) * T : between(0.45, 0.85) * T);
        const side = Math.floor(rand() * 4);
        const inward = [0, Math.PI / 2, Math.PI, -Math.PI / 2][side]! + between(-0.9, 0.9);
        const angle = motion === 'enters' ? inward : inward + Math.PI;
        const edge: [number, number] = [
          [-R, between(R + 1, H - R - 2)],
          [between(R + 1, W - R - 2), -R],
          [W - 1 + R, between(R + 1, H - R - 2)],
          [between(R + 1, W - R - 2), H - 1 + R],
        ][side] as [number, number];
        const vx = speed * Math.cos(angle);
        const vy = speed * Math.sin(angle);
        o = { id, shape, motion, intensity, x0: edge[0] - vx * at, y0: edge[1] - vy * at, vx, vy };
      }
      if (fits(o, options) && placed.every((p) => apart(o, p, T))) found = o;
    }
    if (!found) throw new Error(`synthetic scene (seed ${options.seed}): no room for object ${id} of ${options.objects} in ${W}x${H} over ${T} frames (objects that enter or leave need frames to do it, and objects keep apart); use fewer objects, more frames or a larger frame`);
    placed.push(found);
  }
  return placed;
}

/** Whether the object's motion does what its kind promises (stays in, enters once, leaves once). */
function fits(o: SceneObject, { width: W, height: H, frames: T }: SceneOptions): boolean {
  const R = reach(o.shape);
  const inside = (t: number) => {
    const [x, y] = centre(o, t);
    return x >= R + 1 && x <= W - R - 2 && y >= R + 1 && y <= H - R - 2;
  };
  if (o.motion === 'stays') return inside(0) && inside(T - 1);
  // Straight lines through a convex frame: checking the ends is enough.
  return o.motion === 'enters' ? inside(T - 1) : inside(0);
}

function apart(a: SceneObject, b: SceneObject, frames: number): boolean {
  const need = reach(a.shape) + reach(b.shape) + GAP;
  for (let t = 0; t < frames; t++) {
    const [ax, ay] = centre(a, t);
    const [bx, by] = centre(b, t);
    if (Math.hypot(ax - bx, ay - by) < need) return false;
  }
  return true;
}

/** Renders the scene to frames and measures each object's visible pixels (the ground truth). */
export function renderScene(options: SceneOptions): { video: Video; truth: Truth } {
  const objects = planScene(options);
  // A stream of its own, so that how pixels are drawn never changes where objects are.
  const rand = createRandom(options.seed ^ 0x5eed5eed);
  const { width: W, height: H } = options;
  const noise = () => Math.round((rand() * 2 - 1) * options.noise);
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);
  const tracks = new Map<number, TruthPoint[]>(objects.map((o) => [o.id, []]));
  const frames: Uint8Array[] = [];
  for (let t = 0; t < options.frames; t++) {
    const frame = new Uint8Array(W * H);
    for (let i = 0; i < frame.length; i++) frame[i] = clamp(options.background + noise());
    for (const o of objects) {
      const [cx, cy] = centre(o, t);
      const R = Math.ceil(reach(o.shape)) + 1;
      let area = 0;
      let sx = 0;
      let sy = 0;
      const bbox: [number, number, number, number] = [W, H, -1, -1];
      for (let y = Math.max(0, Math.floor(cy - R)); y <= Math.min(H - 1, Math.ceil(cy + R)); y++) {
        for (let x = Math.max(0, Math.floor(cx - R)); x <= Math.min(W - 1, Math.ceil(cx + R)); x++) {
          if (!covers(o.shape, cx, cy, x, y)) continue;
          frame[y * W + x] = clamp(o.intensity + noise());
          area++;
          sx += x;
          sy += y;
          bbox[0] = Math.min(bbox[0], x);
          bbox[1] = Math.min(bbox[1], y);
          bbox[2] = Math.max(bbox[2], x);
          bbox[3] = Math.max(bbox[3], y);
        }
      }
      if (area > 0) tracks.get(o.id)!.push({ frame: t, x: sx / area, y: sy / area, area, bbox });
    }
    for (let i = 0; i < frame.length; i++) if (rand() < options.speckles) frame[i] = 255;
    frames.push(frame);
  }
  return {
    video: { width: W, height: H, fps: options.fps, firstFrame: 0, frames },
    truth: { scene: options, objects: objects.map((o) => ({ ...o, track: tracks.get(o.id)! })) },
  };
}
