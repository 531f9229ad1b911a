/**
 * outputGone (native/spawn addon) and watchOutput: a pipe or socket whose reader has gone is told
 * apart from one that is still read, without writing to it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NATIVE_SPAWN_ADDON } from '../../src/adapters/local/native-launcher.ts';
import { outputGone, outputWatchStatus, watchOutput } from '../../src/adapters/local/output-watch.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-output-watch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fifos = 0;
/** A named pipe opened at both ends (without blocking): its read and write descriptors. */
function fifo(): { read: number; write: number } {
  const file = path.join(dir, `fifo-${++fifos}`);
  execFileSync('mkfifo', [file]);
  const read = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  const write = openSync(file, constants.O_WRONLY | constants.O_NONBLOCK);
  return { read, write };
}

// Linux only (the addon is built there by `npm ci`; CI fails the install when it cannot be).
describe.runIf(outputWatchStatus().available)('outputGone (poll of a write end)', () => {
  it('is false while a pipe has a reader, true once its read end is closed', () => {
    const { read, write } = fifo();
    try {
      expect(outputGone(write)).toBe(false);
      closeSync(read);
      expect(outputGone(write)).toBe(true);
    } finally {
      closeSync(write);
    }
  });

  it('is false for a regular file, true for a descriptor that is not open, and rejects a bad fd', () => {
    const file = path.join(dir, 'plain');
    writeFileSync(file, '');
    const fd = openSync(file, 'w');
    try {
      expect(outputGone(fd)).toBe(false);
    } finally {
      closeSync(fd);
    }
    expect(outputGone(1_000_000)).toBe(true);
    expect(() => outputGone(-1)).toThrow(TypeError);
    expect(() => outputGone('1' as unknown as number)).toThrow(TypeError);
  });

  it('is true for a socket (a parent\'s stdio pipe) once the parent has closed its end', async () => {
    // The child reports on stderr whether its stdout (a socketpair) is gone, before and after.
    const program = `
      const addon = require(${JSON.stringify(NATIVE_SPAWN_ADDON)});
      process.stderr.write('before ' + addon.outputGone(1) + '\\n');
      const end = Date.now() + 20000;
      const timer = setInterval(() => {
        const gone = addon.outputGone(1);
        if (!gone && Date.now() < end) return;
        clearInterval(timer);
        process.stderr.write('after ' + gone + '\\n');
      }, 20);`;
    const child = spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('before')) child.stdout.destroy();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(err).toBe('before false\nafter true\n');
  });
});

describe.runIf(outputWatchStatus().available)('watchOutput', () => {
  it('calls back once when the reader goes, and never while it is there', async () => {
    const { read, write } = fifo();
    let calls = 0;
    const gone = new Promise<void>((resolve) => {
      watchOutput(write, () => {
        calls++;
        resolve();
      }, 20);
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(0);
    closeSync(read);
    await gone;
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(1);
    closeSync(write);
  });

  it('stops when asked, and ignores what is not a pipe or a socket', async () => {
    const { read, write } = fifo();
    let calls = 0;
    const stop = watchOutput(write, () => calls++, 20);
    stop();
    closeSync(read);
    const file = path.join(dir, 'plain-2');
    writeFileSync(file, '');
    const fd = openSync(file, 'w');
    watchOutput(fd, () => calls++, 20)();
    await new Promise((r) => setTimeout(r, 150));
    expect(calls).toBe(0);
    closeSync(write);
    closeSync(fd);
  });

  it('does not keep the process alive by itself', () => {
    const program = `import { watchOutput } from './src/adapters/local/output-watch.ts';
      watchOutput(1, () => process.exit(3), 20);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
