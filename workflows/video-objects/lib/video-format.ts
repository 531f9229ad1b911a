/**
 * JFV, the example's own tiny video container (no ffmpeg needed): one header line
 * `JFV1 {"width":…,"height":…,"frames":…,"fps":…,"firstFrame":…}\n` followed by `frames` raw
 * 8-bit grayscale frames of width × height bytes, row-major. A chunk is a JFV file too; its
 * `firstFrame` is its offset in the original video, so detections keep global frame numbers.
 */

/** A decoded video (or chunk): frames share one width and height. */
export type Video = {
  width: number;
  height: number;
  fps: number;
  /** Index of `frames[0]` in the original video. */
  firstFrame: number;
  frames: Uint8Array[];
};

/** The header fields, as stored. */
export type VideoHeader = Omit<Video, 'frames'> & { frames: number };

const MAGIC = 'JFV1 ';
/** A header line longer than this is not ours; refusing it keeps a wrong file from being scanned whole. */
const MAX_HEADER = 1024;
/** Largest frame side the example accepts: a guard against a header that asks for gigabytes. */
const MAX_SIDE = 8192;

/** Serializes a video to JFV bytes. */
export function encodeVideo(video: Video): Buffer {
  const { width, height, fps, firstFrame, frames } = video;
  checkHeader({ width, height, fps, firstFrame, frames: frames.length }, 'encodeVideo');
  const size = width * height;
  frames.forEach((f, i) => {
    if (f.length !== size) throw new Error(`encodeVideo: frame ${i} has ${f.length} bytes, expected ${width}x${height} = ${size}`);
  });
  const header = Buffer.from(`${MAGIC}${JSON.stringify({ width, height, frames: frames.length, fps, firstFrame })}\n`, 'ascii');
  return Buffer.concat([header, ...frames]);
}

/** Parses JFV bytes; `where` names the file in error messages. */
export function decodeVideo(bytes: Uint8Array, where = 'video'): Video {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const newline = buf.indexOf(0x0a);
  if (buf.toString('ascii', 0, MAGIC.length) !== MAGIC || newline < 0 || newline > MAX_HEADER) {
    throw new Error(`${where}: not a JFV video (expected a first line "JFV1 {json header}"); make one with scripts/generate.ts`);
  }
  let header: VideoHeader;
  try {
    header = JSON.parse(buf.toString('ascii', MAGIC.length, newline)) as VideoHeader;
  } catch (error) {
    throw new Error(`${where}: the JFV header is not JSON (${(error as Error).message})`);
  }
  checkHeader(header, where);
  const size = header.width * header.height;
  const expected = newline + 1 + size * header.frames;
  if (buf.length !== expected) {
    throw new Error(`${where}: ${buf.length} bytes, but the header (${header.frames} frames of ${header.width}x${header.height}) needs ${expected}: truncated or not a JFV file`);
  }
  const frames: Uint8Array[] = [];
  for (let i = 0; i < header.frames; i++) {
    const start = newline + 1 + i * size;
    frames.push(new Uint8Array(buf.subarray(start, start + size)));
  }
  return { width: header.width, height: header.height, fps: header.fps, firstFrame: header.firstFrame, frames };
}

/** Frames [start, start + count) as a chunk whose `firstFrame` keeps the global numbering. */
export function sliceVideo(video: Video, start: number, count: number): Video {
  return { ...video, firstFrame: video.firstFrame + start, frames: video.frames.slice(start, start + count) };
}

/** Frame ranges of `frames` frames cut into at most `chunks` nearly equal, non-empty parts. */
export function chunkRanges(frames: number, chunks: number): Array<{ start: number; count: number }> {
  const n = Math.max(1, Math.min(Math.floor(chunks), frames));
  const out: Array<{ start: number; count: number }> = [];
  for (let i = 0; i < n; i++) {
    const start = Math.floor((i * frames) / n);
    const end = Math.floor(((i + 1) * frames) / n);
    if (end > start) out.push({ start, count: end - start });
  }
  return out;
}

/** A binary PGM (P5) image of one frame, for looking at the input with any image viewer. */
export function encodePgm(frame: Uint8Array, width: number, height: number): Buffer {
  return Buffer.concat([Buffer.from(`P5\n${width} ${height}\n255\n`, 'ascii'), frame]);
}

function checkHeader(h: VideoHeader, where: string): void {
  const int = (v: unknown, min: number, max: number) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
  const bad: string[] = [];
  if (!int(h.width, 1, MAX_SIDE)) bad.push(`width ${JSON.stringify(h.width)}`);
  if (!int(h.height, 1, MAX_SIDE)) bad.push(`height ${JSON.stringify(h.height)}`);
  if (!int(h.frames, 0, 1_000_000)) bad.push(`frames ${JSON.stringify(h.frames)}`);
  if (!int(h.firstFrame, 0, Number.MAX_SAFE_INTEGER)) bad.push(`firstFrame ${JSON.stringify(h.firstFrame)}`);
  if (typeof h.fps !== 'number' || !(h.fps > 0)) bad.push(`fps ${JSON.stringify(h.fps)}`);
  if (bad.length > 0) throw new Error(`${where}: invalid JFV header: ${bad.join(', ')} (sides 1-${MAX_SIDE}, whole frame counts, fps > 0)`);
}
