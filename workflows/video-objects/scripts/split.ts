/**
 * Step `split`: reads the video (or renders the synthetic scene and its ground truth when the
 * input names none), cuts it into chunks and writes each as a JFV file in the run's data
 * directory. Outputs the chunk list, which `detect` fans out over.
 */
import path from 'node:path';
import { describeIssues, RunInputSchema, type SplitOutput } from '../lib/contract.ts';
import { joinLocation, readBytes, writeBytes, writeJson } from '../lib/storage.ts';
import { runDataDir, runStep } from '../lib/step-io.ts';
import { DEFAULT_SCENE, renderScene } from '../lib/synth.ts';
import { chunkRanges, decodeVideo, encodeVideo, sliceVideo, type Video } from '../lib/video-format.ts';

runStep(async (event) => {
  const parsed = RunInputSchema.safeParse(event.input ?? {});
  if (!parsed.success) throw new Error(`video-objects: bad run input: ${describeIssues(parsed.error)}`);
  const input = parsed.data;
  const dataDir = runDataDir(input.dataDir);

  let video: Video;
  let videoAt: string;
  let truthAt: string | undefined;
  const given = input.video ?? (input.object ? `s3://${input.object.bucket}/${input.object.key}` : undefined);
  if (given !== undefined) {
    videoAt = given.startsWith('s3://') ? given : path.resolve(given);
    video = decodeVideo(await readBytes(videoAt), videoAt);
  } else {
    const scene = renderScene({ ...DEFAULT_SCENE, ...input.synthetic });
    video = scene.video;
    videoAt = joinLocation(dataDir, 'video.jfv');
    truthAt = joinLocation(dataDir, 'truth.json');
    await writeBytes(videoAt, encodeVideo(video));
    await writeJson(truthAt, scene.truth);
  }

  const chunks: SplitOutput['chunks'] = [];
  for (const [index, range] of chunkRanges(video.frames.length, input.chunks).entries()) {
    const name = `chunk-${String(index).padStart(3, '0')}`;
    const chunk = sliceVideo(video, range.start, range.count);
    const at = joinLocation(dataDir, `${name}.jfv`);
    await writeBytes(at, encodeVideo(chunk));
    chunks.push({ index, video: at, firstFrame: chunk.firstFrame, frames: range.count, detections: joinLocation(dataDir, `${name}.detections.json`) });
  }
  process.stderr.write(`split ${video.frames.length} frames of ${video.width}x${video.height} into ${chunks.length} chunks in ${dataDir}\n`);
  const output: SplitOutput = {
    dataDir,
    video: videoAt,
    ...(truthAt === undefined ? {} : { truth: truthAt }),
    width: video.width,
    height: video.height,
    frames: video.frames.length,
    fps: video.fps,
    chunks,
  };
  return output;
});
