/**
 * Step `detect`, once per chunk (a GPU Batch job on AWS, a process here): runs the blob detector
 * on every frame of its chunk and writes the detections file where the chunk item says.
 * A YOLO-style image replaces this script by honouring the same item and file format
 * (lib/contract.ts; the README, "Example: objects in a video").
 */
import { ChunkSchema, describeIssues, RunInputSchema, type DetectionsFile, type DetectOutput } from '../lib/contract.ts';
import { detectBlobs } from '../lib/blobs.ts';
import { readBytes, writeJson } from '../lib/storage.ts';
import { runStep } from '../lib/step-io.ts';
import { decodeVideo } from '../lib/video-format.ts';

runStep(async (event) => {
  const item = ChunkSchema.safeParse(event.item);
  if (!item.success) throw new Error(`detect: the item is not a chunk of split's output: ${describeIssues(item.error)}`);
  const input = RunInputSchema.safeParse(event.input ?? {});
  if (!input.success) throw new Error(`detect: bad run input: ${describeIssues(input.error)}`);
  const chunk = item.data;
  const video = decodeVideo(await readBytes(chunk.video), chunk.video);
  const frames = video.frames.map((pixels, i) => ({
    frame: video.firstFrame + i,
    blobs: detectBlobs(pixels, video.width, video.height, input.data.detector),
  }));
  const file: DetectionsFile = { chunk: chunk.index, detector: 'blobs', frames };
  await writeJson(chunk.detections, file);
  const blobs = frames.reduce((n, f) => n + f.blobs.length, 0);
  process.stderr.write(`chunk ${chunk.index}: ${blobs} detections in frames ${video.firstFrame}-${video.firstFrame + frames.length - 1}\n`);
  const output: DetectOutput = { chunk: chunk.index, detections: chunk.detections, frames: frames.length, blobs };
  return output;
});
