/**
 * The WAL check (src/adapters/local/wal-check.ts): on a state dir left by a crash (the database and
 * its WAL copied while the engine had them open), a damaged frame makes SQLite drop the commits
 * after it without a word; the check finds them, and the CLI says so and keeps a copy of the WAL.
 */
import { copyFileSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openDurableState } from '../../src/adapters/local/durable-state.ts';
import { keepDroppedWal, walLoss, walLossOf } from '../../src/adapters/local/wal-check.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { joinflow } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-wal-');
const HEADER = 32;

/** A state dir as a crash leaves it: three runs committed, the WAL not copied into the database. */
async function crashed(): Promise<{ dir: string; frameSize: number; frames: number }> {
  const live = tmp();
  const state = openDurableState({ dir: live });
  const engine = createEngine({ store: state.store, log: state.log, blobs: state.blobs });
  const plan = compileWorkflow(
    { name: 'chain', steps: { a: { executor: { type: 'simulate', durationMs: 0 } }, b: { needs: ['a'], executor: { type: 'simulate', durationMs: 0 } } } },
    { source: 'chain.yaml' },
  );
  engine.register(plan);
  for (let i = 1; i <= 3; i++) expect((await engine.run('chain', { i }, { runId: `r${i}` })).status).toBe('succeeded');
  const dir = tmp();
  for (const f of ['state.db', 'state.db-wal']) copyFileSync(path.join(live, f), path.join(dir, f));
  await engine.close();
  state.close();
  const wal = readFileSync(path.join(dir, 'state.db-wal'));
  const frameSize = 24 + wal.readUInt32BE(8);
  return { dir, frameSize, frames: Math.floor((wal.length - HEADER) / frameSize) };
}

/** Flips a byte of frame n's page (1-based). */
function damage(dir: string, frameSize: number, n: number): void {
  const file = path.join(dir, 'state.db-wal');
  const wal = readFileSync(file);
  wal[HEADER + (n - 1) * frameSize + 24 + 17]! ^= 0xff;
  writeFileSync(file, wal);
}

function succeededRuns(dir: string): string[] {
  const state = openDurableState({ dir });
  try {
    return state.log
      .listRuns()
      .filter((r) => r.status === 'succeeded')
      .map((r) => r.runId)
      .sort();
  } finally {
    state.close();
  }
}

describe('walLoss', () => {
  it('finds nothing in the WAL a crash leaves, nor in one whose last frame is torn', async () => {
    const { dir, frameSize, frames } = await crashed();
    const wal = path.join(dir, 'state.db-wal');
    expect(frames).toBeGreaterThan(3);
    expect(walLoss(wal)).toBeUndefined();
    truncateSync(wal, statSync(wal).size - Math.floor(frameSize / 2));
    expect(walLoss(wal)).toBeUndefined();
    expect(walLoss(path.join(dir, 'no-such-wal'))).toBeUndefined();
    expect(succeededRuns(dir)).toEqual(['r1', 'r2']);
  });

  it('finds the commits SQLite drops after a damaged frame, as SQLite then reads the state', async () => {
    const whole = await crashed();
    expect(succeededRuns(whole.dir)).toEqual(['r1', 'r2', 'r3']);
    const { dir, frameSize, frames } = await crashed();
    damage(dir, frameSize, 2);
    const loss = walLoss(path.join(dir, 'state.db-wal'))!;
    expect(loss).toMatchObject({ badFrame: 2, frames, keptCommits: expect.any(Number) });
    expect(loss.droppedCommits).toBeGreaterThan(0);
    expect(loss.droppedFrames).toBeLessThan(frames - 1);
    // Read word by word (a buffer not aligned to 4 bytes): the same answer.
    const wal = readFileSync(path.join(dir, 'state.db-wal'));
    const unaligned = Buffer.alloc(wal.length + 1).subarray(1);
    wal.copy(unaligned);
    expect(unaligned.byteOffset % 4).not.toBe(0);
    expect(walLossOf(unaligned)).toEqual(loss);
    // SQLite keeps only what came before the damaged frame: none of the three runs' ends.
    expect(succeededRuns(dir)).toEqual([]);
  });

  it('counts the commit the damaged frame ends among those dropped', async () => {
    const { dir, frameSize, frames } = await crashed();
    const wal = readFileSync(path.join(dir, 'state.db-wal'));
    // Frames whose header gives the database's size end a commit.
    const ends = Array.from({ length: frames }, (_, i) => i + 1).filter((n) => wal.readUInt32BE(HEADER + (n - 1) * frameSize + 4) !== 0);
    expect(ends.length).toBeGreaterThan(2);
    damage(dir, frameSize, ends[1]!);
    expect(walLoss(path.join(dir, 'state.db-wal'))).toMatchObject({ badFrame: ends[1], keptCommits: 1, droppedCommits: ends.length - 1 });
  });

  it('reports a damaged header (SQLite then ignores the whole WAL), and no damage in the last frame', async () => {
    const a = await crashed();
    const wal = path.join(a.dir, 'state.db-wal');
    const bytes = readFileSync(wal);
    bytes[12]! ^= 0x01; // the checkpoint sequence number: covered by the header's checksum
    writeFileSync(wal, bytes);
    expect(walLoss(wal)).toMatchObject({ badFrame: 0, keptCommits: 0 });
    const b = await crashed();
    damage(b.dir, b.frameSize, b.frames);
    expect(walLoss(path.join(b.dir, 'state.db-wal'))).toBeUndefined();
  });
});

describe('the CLI on a state dir whose WAL drops commits', () => {
  it('says what SQLite drops and keeps a copy of the WAL, once', async () => {
    const { dir, frameSize } = await crashed();
    damage(dir, frameSize, 2);
    const first = joinflow(['list', '--state', dir]);
    expect(first.stderr).toMatch(/^joinflow: .*state\.db-wal: frame 2 of \d+ fails its checksum \(damaged on disk, or not written before a power cut\), so SQLite drops the \d+ commits? from it on \((none is kept|it keeps the \d+ commits? before it)\): the runs go on from the state before those .*a copy of the WAL as it was is .*state\.db-wal\.damaged-\d+\n/m);
    const copies = readdirSync(dir).filter((f) => f.startsWith('state.db-wal.damaged-'));
    expect(copies).toHaveLength(1);
    expect(walLoss(path.join(dir, copies[0]!))).toMatchObject({ badFrame: 2 });
    // The first open replayed what it could and the WAL was copied into the database: nothing more to say.
    expect(joinflow(['list', '--state', dir]).stderr).not.toMatch(/fails its checksum/);
    expect(keepDroppedWal(path.join(dir, 'state.db'))).toBeUndefined();
  });
});
