/**
 * What SQLite will drop from a state database's write-ahead log when it opens it. After a crash
 * the WAL holds the last commits, and the first connection replays them: frame by frame, each
 * frame's checksum chained to the one before, up to the first frame that fails. A frame damaged on
 * disk (or written after later frames and lost in a power cut: `synchronous=NORMAL` does not sync
 * each commit) ends the replay there, and every commit after it is dropped without a word. This
 * reads the WAL as SQLite's file format defines it (https://www.sqlite.org/fileformat2.html#walformat)
 * and finds such commits before SQLite opens the file; a torn last frame, the normal end of a
 * crash, is not reported.
 */
import { constants, copyFileSync, readFileSync } from 'node:fs';
import { endianness } from 'node:os';

/** Commits SQLite drops from a WAL: frames (1-based) and commits kept before the first bad frame, and the commits from it on. */
export type WalLoss = {
  /** The first frame that fails (1-based); 0 when the WAL's header itself is damaged. */
  badFrame: number;
  frames: number;
  keptCommits: number;
  droppedCommits: number;
  droppedFrames: number;
};

const HEADER = 32;
const FRAME_HEADER = 24;

/** A WAL's bytes; `words`: the same as 32-bit words, when its checksums use the machine's byte order. */
type Bytes = { view: DataView; littleEndian: boolean; words: Uint32Array | undefined };

/** The WAL checksum of `length` bytes (pairs of 32-bit words) from `offset`, seeded with (s0, s1). */
function checksum({ view, littleEndian, words }: Bytes, offset: number, length: number, s0: number, s1: number): [number, number] {
  if (words) {
    for (let i = offset >> 2, end = (offset + length) >> 2; i < end; i += 2) {
      s0 = (s0 + words[i]! + s1) >>> 0;
      s1 = (s1 + words[i + 1]! + s0) >>> 0;
    }
    return [s0, s1];
  }
  for (let i = offset; i < offset + length; i += 8) {
    s0 = (s0 + view.getUint32(i, littleEndian) + s1) >>> 0;
    s1 = (s1 + view.getUint32(i + 4, littleEndian) + s0) >>> 0;
  }
  return [s0, s1];
}

/**
 * The commits SQLite would drop from `walFile` on opening it, or undefined when it drops none
 * (no WAL, an empty or old one, or only an unfinished last commit).
 */
export function walLoss(walFile: string): WalLoss | undefined {
  let file: Buffer;
  try {
    file = readFileSync(walFile);
  } catch {
    return undefined;
  }
  return walLossOf(file);
}

/** {@link walLoss} of a WAL's bytes. */
export function walLossOf(file: Buffer): WalLoss | undefined {
  if (file.length < HEADER + FRAME_HEADER) return undefined;
  const view = new DataView(file.buffer, file.byteOffset, file.length);
  const magic = view.getUint32(0, false);
  const pageSize = view.getUint32(8, false);
  // Not a WAL SQLite would read (or a page size no database has): it ignores it, and so do we.
  if ((magic & ~1) >>> 0 !== 0x377f0682 || pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return undefined;
  const littleEndian = (magic & 1) === 0;
  // Frames start at multiples of 4 bytes from the file's start, which is aligned when it has its own memory.
  const aligned = littleEndian === (endianness() === 'LE') && file.byteOffset % 4 === 0;
  const bytes: Bytes = { view, littleEndian, words: aligned ? new Uint32Array(file.buffer, file.byteOffset, file.length >> 2) : undefined };
  const salt1 = view.getUint32(16, false);
  const salt2 = view.getUint32(20, false);
  const frameSize = FRAME_HEADER + pageSize;
  const frames = Math.floor((file.length - HEADER) / frameSize);
  const at = (n: number) => HEADER + (n - 1) * frameSize;
  const ours = (n: number) => view.getUint32(at(n) + 8, false) === salt1 && view.getUint32(at(n) + 12, false) === salt2;
  const stored = (offset: number): [number, number] => [view.getUint32(offset, false), view.getUint32(offset + 4, false)];
  const commit = (n: number) => view.getUint32(at(n) + 4, false) !== 0;
  /** Frame n checks out when chained to the checksum (s0, s1) of what precedes it. */
  const valid = (n: number, s: [number, number]): [number, number] | undefined => {
    if (!ours(n)) return undefined;
    let sum = checksum(bytes, at(n), 8, s[0], s[1]);
    sum = checksum(bytes, at(n) + FRAME_HEADER, pageSize, sum[0], sum[1]);
    const [c0, c1] = stored(at(n) + 16);
    return sum[0] === c0 && sum[1] === c1 ? sum : undefined;
  };

  const headerSum = checksum(bytes, 0, 24, 0, 0);
  const headerStored = stored(24);
  const headerOk = headerSum[0] === headerStored[0] && headerSum[1] === headerStored[1];
  let keptCommits = 0;
  let bad = 0;
  if (headerOk) {
    let sum: [number, number] = headerSum;
    for (let n = 1; n <= frames; n++) {
      const next = valid(n, sum);
      if (!next) {
        bad = n;
        break;
      }
      sum = next;
      if (commit(n)) keptCommits++;
    }
    if (bad === 0) return undefined;
  }
  // After the first bad frame: frames of this WAL (its salts) whose checksum chains to the frame
  // before them were written, whole, in this WAL's life; those that end a commit are the commits lost.
  let droppedCommits = 0;
  let droppedFrames = 0;
  for (let n = bad + 1; n <= frames; n++) {
    const seed = n === 1 ? headerStored : stored(at(n - 1) + 16);
    if (!valid(n, seed)) continue;
    droppedFrames++;
    if (commit(n)) droppedCommits++;
  }
  if (droppedCommits === 0) return undefined;
  // Commits were written after it, so the bad frame was written whole too (not cut short by a
  // crash): when it ended a commit (its header is likely intact: its salts), that one is lost too.
  if (bad > 0 && ours(bad) && commit(bad)) droppedCommits++;
  return { badFrame: bad, frames, keptCommits, droppedCommits, droppedFrames };
}

/**
 * Before the state database `file` is opened: when SQLite would drop commits from its WAL, keeps a
 * copy of the WAL beside it (`<file>-wal.damaged-<ms>`; SQLite overwrites the dropped frames with
 * its next writes) and returns what to tell the user. The WAL is read twice, and a loss is told
 * only when both reads agree: a writer appending meanwhile cannot make a frame look damaged twice.
 */
export function keepDroppedWal(file: string): string | undefined {
  const wal = `${file}-wal`;
  const loss = walLoss(wal);
  if (!loss) return undefined;
  const again = walLoss(wal);
  if (!again || again.badFrame !== loss.badFrame || again.droppedCommits !== loss.droppedCommits) return undefined;
  const copy = `${wal}.damaged-${Date.now()}`;
  let kept: string;
  try {
    copyFileSync(wal, copy, constants.COPYFILE_EXCL);
    kept = `a copy of the WAL as it was is ${copy}`;
  } catch (error) {
    kept = `no copy of it could be kept (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
  const where = loss.badFrame === 0 ? 'its header fails its checksum' : `frame ${loss.badFrame} of ${loss.frames} fails its checksum`;
  const commits = (n: number) => `${n} commit${n === 1 ? '' : 's'}`;
  return `${wal}: ${where} (damaged on disk, or not written before a power cut), so SQLite drops the ${commits(loss.droppedCommits)} from it on (${loss.keptCommits === 0 ? 'none is kept' : `it keeps the ${commits(loss.keptCommits)} before it`}): the runs go on from the state before those (what they recorded happens again, as after a crash); ${kept}`;
}
