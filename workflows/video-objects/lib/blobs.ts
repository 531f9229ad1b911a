/**
 * The detector that ships with the example: threshold, then connected-component labelling
 * (two passes with union-find, 4- or 8-connectivity), then one detection per component with its
 * area, centroid, bounding box and mean intensity. Components smaller than `minArea` are clutter.
 * It stands in for a learned detector (YOLO-style) that would run on a GPU in the Batch job.
 */

/** One detected object in one frame; `bbox` is [x0, y0, x1, y1], inclusive pixel coordinates. */
export type Blob = { x: number; y: number; area: number; bbox: [number, number, number, number]; mean: number };

/** Detector settings. */
export type DetectorOptions = {
  /** Pixels brighter than this (strictly) are foreground. */
  threshold: number;
  connectivity: 4 | 8;
  /** Components with fewer pixels are dropped (noise, speckles). */
  minArea: number;
};

/** Defaults that fit the synthetic scenes (background ~30 ± 8, objects from 140). */
export const DEFAULT_DETECTOR: DetectorOptions = { threshold: 90, connectivity: 8, minArea: 6 };

/** Finds the blobs of one grayscale frame, in raster order of their first pixel. */
export function detectBlobs(frame: Uint8Array, width: number, height: number, options: DetectorOptions = DEFAULT_DETECTOR): Blob[] {
  if (frame.length !== width * height) throw new Error(`detectBlobs: frame has ${frame.length} pixels, expected ${width}x${height}`);
  const labels = new Int32Array(width * height);
  // parent[0] is unused: label 0 means background.
  const parent: number[] = [0];
  const find = (l: number): number => {
    let r = l;
    while (parent[r]! !== r) r = parent[r]!;
    // Path compression keeps later finds short on large, snake-like components.
    while (parent[l]! !== r) {
      const next = parent[l]!;
      parent[l] = r;
      l = next;
    }
    return r;
  };
  const union = (a: number, b: number): number => {
    const ra = find(a);
    const rb = find(b);
    if (ra === rb) return ra;
    // The smaller label wins, so the final numbering follows raster order.
    const [lo, hi] = ra < rb ? [ra, rb] : [rb, ra];
    parent[hi] = lo;
    return lo;
  };
  // Already-visited neighbours (row above, and left): enough for a raster-order first pass.
  const neighbours: Array<[number, number]> = options.connectivity === 8 ? [[-1, 0], [-1, -1], [0, -1], [1, -1]] : [[-1, 0], [0, -1]];

  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (frame[i]! <= options.threshold) continue;
      let label = 0;
      for (const [dx, dy] of neighbours) {
        const nx = x + dx;
        const ny = y + dy;
        if (nx < 0 || nx >= width || ny < 0) continue;
        const l = labels[ny * width + nx]!;
        if (l === 0) continue;
        label = label === 0 ? find(l) : union(label, l);
      }
      if (label === 0) {
        label = parent.length;
        parent.push(label);
      }
      labels[i] = label;
    }
  }

  type Acc = { area: number; sx: number; sy: number; sum: number; bbox: [number, number, number, number] };
  const acc = new Map<number, Acc>();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (labels[i] === 0) continue;
      const root = find(labels[i]!);
      let a = acc.get(root);
      if (!a) {
        a = { area: 0, sx: 0, sy: 0, sum: 0, bbox: [x, y, x, y] };
        acc.set(root, a);
      }
      a.area++;
      a.sx += x;
      a.sy += y;
      a.sum += frame[i]!;
      a.bbox[0] = Math.min(a.bbox[0], x);
      a.bbox[1] = Math.min(a.bbox[1], y);
      a.bbox[2] = Math.max(a.bbox[2], x);
      a.bbox[3] = Math.max(a.bbox[3], y);
    }
  }
  const blobs: Blob[] = [];
  // Map iteration follows insertion, i.e. the raster order of each component's first pixel.
  for (const a of acc.values()) {
    if (a.area < options.minArea) continue;
    blobs.push({ x: round(a.sx / a.area), y: round(a.sy / a.area), area: a.area, bbox: a.bbox, mean: round(a.sum / a.area) });
  }
  return blobs;
}

/** Three decimals: sub-pixel enough, and keeps the detection files short. */
function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
