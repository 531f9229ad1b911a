/**
 * Writes a synthetic video (JFV) and its ground truth, the same ones `split` renders when a run
 * has no video input. Optionally dumps every frame as a PGM image to look at.
 *
 *   node --import tsx workflows/video-objects/scripts/generate.ts --out scene.jfv --truth truth.json [--seed 1]
 *     [--frames 64] [--width 160] [--height 120] [--objects 5] [--pgm frames/]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_SCENE, renderScene, type SceneOptions } from '../lib/synth.ts';
import { encodePgm, encodeVideo } from '../lib/video-format.ts';

function integer(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${flag} must be a whole number from ${min} to ${max} (got "${raw}")`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      truth: { type: 'string' },
      pgm: { type: 'string' },
      seed: { type: 'string' },
      frames: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      objects: { type: 'string' },
    },
  });
  if (!values.out) throw new Error('--out FILE is required (the JFV video to write)');
  const scene: SceneOptions = {
    ...DEFAULT_SCENE,
    seed: integer('seed', values.seed, DEFAULT_SCENE.seed, -(2 ** 31), 2 ** 32 - 1),
    frames: integer('frames', values.frames, DEFAULT_SCENE.frames, 1, 100_000),
    width: integer('width', values.width, DEFAULT_SCENE.width, 32, 4096),
    height: integer('height', values.height, DEFAULT_SCENE.height, 32, 4096),
    objects: integer('objects', values.objects, DEFAULT_SCENE.objects, 0, 100),
  };
  const { video, truth } = renderScene(scene);
  await mkdir(path.dirname(path.resolve(values.out)), { recursive: true });
  await writeFile(values.out, encodeVideo(video));
  if (values.truth) await writeFile(values.truth, `${JSON.stringify(truth)}\n`);
  if (values.pgm) {
    await mkdir(values.pgm, { recursive: true });
    await Promise.all(video.frames.map((f, i) => writeFile(path.join(values.pgm!, `frame-${String(i).padStart(4, '0')}.pgm`), encodePgm(f, video.width, video.height))));
  }
  const visible = truth.objects.map((o) => `${o.id} ${o.shape.kind} ${o.motion} frames ${o.track[0]?.frame ?? '-'}-${o.track.at(-1)?.frame ?? '-'}`);
  process.stderr.write(`wrote ${values.out}: ${video.frames.length} frames of ${video.width}x${video.height}, seed ${scene.seed}\n  ${visible.join('\n  ')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`generate: ${(error as Error).message}\n`);
  process.exitCode = 2;
});
