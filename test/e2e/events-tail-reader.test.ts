/**
 * `joinflow events tail` (following) stops with exit 0 when the reader of its output goes away,
 * also when no new event comes to be written (the README: `joinflow events tail | grep -m1 Failed`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputWatchStatus } from '../../src/adapters/local/output-watch.ts';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('joinflow-tail-reader-');
const bin = path.join(root, 'bin/joinflow.js');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    // A shell (started detached) with its pipeline: the whole process group.
    if (c.spawnargs[0] === 'sh') process.kill(-c.pid!, 'SIGKILL');
    else c.kill('SIGKILL');
  }
});

/** A generous bound, not a measure: the tail notices within about a quarter of a second. */
const WAIT_MS = 20_000;

/** The child's exit code, or 'still running' when it has not exited within WAIT_MS. */
function exitOf(child: ChildProcess): Promise<number | string | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still running'), WAIT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(signal ?? code);
    });
  });
}

// Only one event of the finished run matches: after it nothing more is written to the pipe.
const succeeded = JSON.stringify({ 'detail-type': ['Run Succeeded'] });

// Linux, with the native/spawn addon built (as `npm ci` does there): elsewhere the tail stops only
// at its next write.
describe.runIf(outputWatchStatus().available)('events tail whose reader goes away', () => {
  let state: string;
  beforeAll(() => {
    state = tmp();
    const r = joinflow(['run', 'workflows/diamond.ts', '--input', '{"x": 1}', '--state', state]);
    expect(r.code).toBe(0);
  });

  it('ends a shell pipeline into head -n 1 on an idle state dir, with exit 0', async () => {
    const tail = [process.execPath, bin, 'events', 'tail', '--from-start', '--state', state, '--pattern', succeeded].map((a) => `'${a}'`).join(' ');
    const sh = spawn('sh', ['-c', `{ ${tail}; echo "tail exited $?" >&2; } | head -n 1`], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0' },
      detached: true,
    });
    children.push(sh);
    let out = '';
    let err = '';
    sh.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    sh.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    expect(await exitOf(sh)).toBe(0);
    expect((JSON.parse(out) as { 'detail-type': string })['detail-type']).toBe('Run Succeeded');
    expect(err).toBe('tail exited 0\n');
  });

  it('exits 0 when its parent closes the stdout pipe, with nothing more to write', async () => {
    const child = spawn(process.execPath, [bin, 'events', 'tail', '--from-start', '--state', state, '--pattern', succeeded], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    // Once the one matching event has come, the tail is following an idle log: close the pipe.
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) child.stdout!.destroy();
    });
    expect(await exitOf(child)).toBe(0);
    expect(out).toContain('"Run Succeeded"');
    expect(err).toBe('');
  });

  it('keeps following while the reader is there', async () => {
    const child = spawn(process.execPath, [bin, 'events', 'tail', '--from-start', '--state', state, '--pattern', succeeded], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const exited = exitOf(child);
    // The matching event has come: the tail follows an idle log, through several checks of the pipe.
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    await new Promise((r) => setTimeout(r, 1500));
    expect(child.exitCode).toBe(null);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});

describe('events tail --no-follow', () => {
  it('prints what the log holds, without --from-start too (it started at the log\'s end and printed nothing)', () => {
    const state = tmp();
    expect(joinflow(['run', 'workflows/diamond.ts', '--input', '{"x": 1}', '--state', state, '--run-id', 'nf-1']).code).toBe(0);
    const all = joinflow(['events', 'tail', '--no-follow', '--state', state]);
    expect(all.code, all.stderr).toBe(0);
    const types = all.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { 'detail-type': string })['detail-type']);
    expect(types[0]).toBe('Run Requested');
    expect(types.at(-1)).toBe('Run Succeeded');
    expect(joinflow(['events', 'tail', '--no-follow', '--from-start', '--state', state]).stdout).toBe(all.stdout);
    const ends = joinflow(['events', 'tail', '--no-follow', '--state', state, '--pattern', succeeded]);
    expect(ends.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { detail: { runId: string } }).detail.runId)).toEqual(['nf-1']);
  });
});
