/**
 * `joinflow logs` streams the log files (a log can be larger than a string can hold): the output
 * is byte-exact, in order with its headers, and stops quietly (exit 0) when the reader goes away.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-logs-stream-');
const bin = path.join(root, 'bin/joinflow.js');

/** A few MB of lines with bytes that are not UTF-8, and no newline at the end. */
function bigLog(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = i % 101 === 100 ? 0x0a : (i * 131) % 256;
  b[bytes - 1] = 0x41;
  return b;
}

describe('joinflow logs streams its files', () => {
  let state = '';
  let runId = '';
  let logs = '';

  beforeAll(() => {
    state = path.join(tmp(), 'state');
    const r = joinflow(['run', 'test/fixtures/workflows/process-fail.yaml', '--json', '--state', state]);
    expect(r.code, r.stderr).toBe(1);
    runId = (JSON.parse(r.stdout) as { runId: string }).runId;
    logs = path.join(state, 'runs', runId, 'logs');
  }, 120_000);

  it('prints a log of a few MB complete and byte-exact, with the headers, markers and trailing newline', () => {
    const big = bigLog(6 * 1024 * 1024 + 7);
    writeFileSync(path.join(logs, 'bad.1.out'), big);
    const err = readFileSync(path.join(logs, 'bad.1.err'));
    expect(err.at(-1)).toBe(0x0a);
    const r = spawnSync(process.execPath, [bin, 'logs', runId, '--state', state], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    expect(r.status, r.stderr.toString()).toBe(0);
    const expected = Buffer.concat([
      Buffer.from('== slow.1 stdout ==\n(empty)\n== slow.1 stderr ==\n(empty)\n== bad.1 stdout ==\n'),
      big,
      Buffer.from('\n== bad.1 stderr ==\n'),
      err,
    ]);
    expect(r.stdout.length).toBe(expected.length);
    expect(r.stdout.equals(expected)).toBe(true);
    // An empty file shows as (empty), as a missing one does.
    writeFileSync(path.join(logs, 'bad.1.out'), '');
    const step = spawnSync(process.execPath, [bin, 'logs', runId, '--step', 'bad', '--state', state], { cwd: root, encoding: 'utf8' });
    expect(step.status, step.stderr).toBe(0);
    expect(step.stdout).toBe(`== bad.1 stdout ==\n(empty)\n== bad.1 stderr ==\n${err.toString('utf8')}`);
  });

  it('stops quietly, exit 0, when the reader goes away (| head -c 100)', () => {
    writeFileSync(path.join(logs, 'bad.1.out'), bigLog(8 * 1024 * 1024));
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    // pipefail: the pipeline's status is joinflow's when it fails (head exits 0). One left
    // waiting on the closed pipe is killed at the timeout: a status of null, not 0.
    const r = spawnSync('bash', ['-c', `set -o pipefail; ${q(process.execPath)} ${q(bin)} logs ${q(runId)} --state ${q(state)} | head -c 100`], {
      cwd: root,
      timeout: 60_000,
    });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stderr.toString()).toBe('');
    const head = Buffer.concat([Buffer.from('== slow.1 stdout ==\n(empty)\n== slow.1 stderr ==\n(empty)\n== bad.1 stdout ==\n'), bigLog(8 * 1024 * 1024)]);
    expect(r.stdout.equals(head.subarray(0, 100))).toBe(true);
    expect(r.stdout.length).toBe(100);
  });
});
