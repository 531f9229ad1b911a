/**
 * The video-objects example's pure parts that touch pixels: the JFV container, chunking, and
 * the connected-component blob detector on hand-made frames with known blobs.
 */
import { describe, expect, it } from 'vitest';
import { readBytes } from '../../workflows/video-objects/lib/storage.ts';
import { detectBlobs, type DetectorOptions } from '../../workflows/video-objects/lib/blobs.ts';
import { chunkRanges, decodeVideo, encodePgm, encodeVideo, sliceVideo, type Video } from '../../workflows/video-objects/lib/video-format.ts';

/** A frame from ASCII art: '#' is 200, '+' is 100, anything else 20. */
function frame(rows: string[]): { pixels: Uint8Array; width: number; height: number } {
  const width = rows[0]!.length;
  const pixels = new Uint8Array(width * rows.length);
  rows.forEach((row, y) => {
    expect(row.length, `row ${y}`).toBe(width);
    for (let x = 0; x < width; x++) pixels[y * width + x] = row[x] === '#' ? 200 : row[x] === '+' ? 100 : 20;
  });
  return { pixels, width, height: rows.length };
}

const opts = (o: Partial<DetectorOptions> = {}): DetectorOptions => ({ threshold: 90, connectivity: 8, minArea: 1, ...o });

describe('detectBlobs', () => {
  it('finds each blob with its area, centroid, box and mean, in raster order', () => {
    const f = frame([
      '..........',
      '.##.....#.',
      '.##....###',
      '........#.',
      '..........',
      '....####..',
    ]);
    const blobs = detectBlobs(f.pixels, f.width, f.height, opts());
    expect(blobs).toEqual([
      { x: 1.5, y: 1.5, area: 4, bbox: [1, 1, 2, 2], mean: 200 },
      { x: 8, y: 2, area: 5, bbox: [7, 1, 9, 3], mean: 200 },
      { x: 5.5, y: 5, area: 4, bbox: [4, 5, 7, 5], mean: 200 },
    ]);
  });

  it('joins diagonal neighbours with 8-connectivity and keeps them apart with 4', () => {
    const f = frame([
      '#...',
      '.#..',
      '..#.',
      '...#',
    ]);
    expect(detectBlobs(f.pixels, f.width, f.height, opts({ connectivity: 8 }))).toEqual([{ x: 1.5, y: 1.5, area: 4, bbox: [0, 0, 3, 3], mean: 200 }]);
    const four = detectBlobs(f.pixels, f.width, f.height, opts({ connectivity: 4 }));
    expect(four.map((b) => [b.x, b.y, b.area])).toEqual([[0, 0, 1], [1, 1, 1], [2, 2, 1], [3, 3, 1]]);
  });

  it('merges labels that meet late (a U, a W, a spiral) into one component', () => {
    const shapes = [
      ['#...#', '#...#', '#...#', '#####'],
      ['#.#.#', '#.#.#', '#####'],
      ['#####', '....#', '###.#', '#...#', '#####'],
    ];
    for (const rows of shapes) {
      const f = frame(rows);
      const area = rows.join('').split('').filter((c) => c === '#').length;
      for (const connectivity of [4, 8] as const) {
        const blobs = detectBlobs(f.pixels, f.width, f.height, opts({ connectivity }));
        expect(blobs.map((b) => b.area), `${rows.join('/')} (${connectivity})`).toEqual([area]);
      }
    }
  });

  it('drops components under minArea and pixels at or below the threshold', () => {
    const f = frame([
      '#.....++',
      '......++',
      '.###....',
      '.###....',
    ]);
    expect(detectBlobs(f.pixels, f.width, f.height, opts({ minArea: 2 })).map((b) => b.area)).toEqual([4, 6]);
    expect(detectBlobs(f.pixels, f.width, f.height, opts({ minArea: 5 })).map((b) => b.area)).toEqual([6]);
    expect(detectBlobs(f.pixels, f.width, f.height, opts({ threshold: 99 })).map((b) => b.area)).toEqual([1, 4, 6]);
    expect(detectBlobs(f.pixels, f.width, f.height, opts({ threshold: 100 })).map((b) => b.area)).toEqual([1, 6]);
    // The mean includes the dimmer pixels when they count.
    expect(detectBlobs(f.pixels, f.width, f.height, opts({ threshold: 50 }))[1]!.mean).toBe(100);
  });

  it('handles empty, full and edge-touching frames', () => {
    const empty = frame(['....', '....']);
    expect(detectBlobs(empty.pixels, empty.width, empty.height, opts())).toEqual([]);
    const full = frame(['###', '###']);
    expect(detectBlobs(full.pixels, full.width, full.height, opts())).toEqual([{ x: 1, y: 0.5, area: 6, bbox: [0, 0, 2, 1], mean: 200 }]);
    expect(() => detectBlobs(new Uint8Array(5), 2, 2, opts())).toThrow(/5 pixels, expected 2x2/);
  });

  it('labels a large noisy frame the same as a flood fill would', () => {
    const width = 97;
    const height = 61;
    let s = 12345;
    const pixels = new Uint8Array(width * height).map(() => {
      s = (s * 1103515245 + 12345) >>> 0;
      return (s >>> 16) % 100 < 45 ? 200 : 0;
    });
    for (const connectivity of [4, 8] as const) {
      const blobs = detectBlobs(pixels, width, height, opts({ connectivity }));
      expect(blobs.map((b) => b.area)).toEqual(floodFillAreas(pixels, width, height, connectivity));
    }
  });
});

/** Reference labelling by breadth-first flood fill, areas in raster order of first pixel. */
function floodFillAreas(pixels: Uint8Array, width: number, height: number, connectivity: 4 | 8): number[] {
  const seen = new Uint8Array(pixels.length);
  const steps = connectivity === 4 ? [[1, 0], [-1, 0], [0, 1], [0, -1]] : [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]];
  const areas: number[] = [];
  for (let i = 0; i < pixels.length; i++) {
    if (seen[i] || pixels[i]! <= 90) continue;
    let area = 0;
    const queue = [i];
    seen[i] = 1;
    while (queue.length > 0) {
      const p = queue.pop()!;
      area++;
      const x = p % width;
      const y = Math.floor(p / width);
      for (const [dx, dy] of steps) {
        const nx = x + dx!;
        const ny = y + dy!;
        const q = ny * width + nx;
        if (nx < 0 || ny < 0 || nx >= width || ny >= height || seen[q] || pixels[q]! <= 90) continue;
        seen[q] = 1;
        queue.push(q);
      }
    }
    areas.push(area);
  }
  return areas;
}

describe('JFV video format', () => {
  const video: Video = { width: 3, height: 2, fps: 10, firstFrame: 0, frames: [0, 1, 2, 3].map((n) => new Uint8Array(6).fill(n * 50)) };

  it('round-trips, and a slice keeps global frame numbers', () => {
    const bytes = encodeVideo(video);
    expect(bytes.toString('ascii', 0, bytes.indexOf(0x0a))).toBe('JFV1 {"width":3,"height":2,"frames":4,"fps":10,"firstFrame":0}');
    expect(decodeVideo(bytes)).toEqual(video);
    const chunk = decodeVideo(encodeVideo(sliceVideo(video, 2, 2)));
    expect(chunk.firstFrame).toBe(2);
    expect(chunk.frames.map((f) => f[0])).toEqual([100, 150]);
  });

  it('refuses what is not a JFV video, naming the problem', () => {
    const bytes = encodeVideo(video);
    expect(() => decodeVideo(Buffer.from('P5\n3 2\n255\n'), 'x.pgm')).toThrow(/x\.pgm: not a JFV video/);
    expect(() => decodeVideo(bytes.subarray(0, bytes.length - 1), 'cut.jfv')).toThrow(/cut\.jfv: .* truncated/);
    expect(() => decodeVideo(Buffer.from('JFV1 {"width":0,"height":2,"frames":1,"fps":1,"firstFrame":0}\n'), 'v')).toThrow(/invalid JFV header: width 0/);
    expect(() => encodeVideo({ ...video, frames: [new Uint8Array(5)] })).toThrow(/frame 0 has 5 bytes, expected 3x2 = 6/);
  });

  it('cuts frames into nearly equal, non-empty, contiguous chunks', () => {
    expect(chunkRanges(64, 4)).toEqual([{ start: 0, count: 16 }, { start: 16, count: 16 }, { start: 32, count: 16 }, { start: 48, count: 16 }]);
    expect(chunkRanges(10, 3).map((r) => r.count)).toEqual([3, 3, 4]);
    expect(chunkRanges(3, 8)).toEqual([{ start: 0, count: 1 }, { start: 1, count: 1 }, { start: 2, count: 1 }]);
    expect(chunkRanges(0, 4)).toEqual([]);
    for (const [n, k] of [[64, 5], [7, 7], [100, 9]] as const) {
      const r = chunkRanges(n, k);
      expect(r.reduce((s, c) => s + c.count, 0)).toBe(n);
      r.forEach((c, i) => expect(c.start).toBe(i === 0 ? 0 : r[i - 1]!.start + r[i - 1]!.count));
    }
  });

  it('writes a frame as a binary PGM', () => {
    expect(encodePgm(new Uint8Array([1, 2, 3, 4, 5, 6]), 3, 2)).toEqual(Buffer.concat([Buffer.from('P5\n3 2\n255\n'), Buffer.from([1, 2, 3, 4, 5, 6])]));
  });
});

describe('reading a local video', () => {
  it('says which directory a relative path was taken from: the current one (for the steps, the repository root, not where joinflow was started)', async () => {
    await expect(readBytes('no-such-video.jfv')).rejects.toThrow(`no-such-video.jfv: no such file (a relative path is taken from the current directory, ${process.cwd()}: for the steps, the repository root; give an absolute path otherwise)`);
  });
});
