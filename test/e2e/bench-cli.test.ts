/**
 * The bench entry points' command lines: usage errors are one line and exit 2 before anything
 * runs (no Redis started, no peer installed), --help prints the usage and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('joinflow-bench-cli-test-');
const bench = (script: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.resolve(import.meta.dirname, '../../bench', script), ...args], { encoding: 'utf8', env, timeout: 30_000 });

describe('npm run bench with a failing scenario', () => {
  it('reports that scenario as a failure with its reason, still measures the others, and exits 1', () => {
    // A TMPDIR that is a file: the durable scenario cannot make its state dir; the in-memory one needs none.
    const notADir = path.join(tmp(), 'file');
    writeFileSync(notADir, '');
    const r = bench('run.ts', ['--only', 'map-320-sqlite,map-320', '--runs', '2', '--json'], { ...process.env, TMPDIR: notADir, TSX_DISABLE_CACHE: '1' });
    expect(r.status).toBe(1);
    const { results } = JSON.parse(r.stdout) as { results: Array<Record<string, unknown>> };
    expect(results).toHaveLength(2);
    expect(results[0]).toEqual({ name: 'map-320-sqlite', store: 'sqlite', runs: 0, error: expect.stringMatching(/^process 1 of 2 exited 1: Error: ENOTDIR: not a directory, mkdtemp/) });
    expect(results[1]).toMatchObject({ name: 'map-320', store: 'memory', events: 647, steps: 322, runs: 2 });
    expect(results[1]!['ms']).toBeGreaterThan(0);
    expect(r.stderr).toContain('bench: map-320-sqlite failed: process 1 of 2 exited 1: Error: ENOTDIR');
  });
});

describe.each([['run.ts', 'bench'], ['peers/run.ts', 'bench:peers']])('%s', (script, prefix) => {
  it('refuses a bad flag with one line naming it, and exit code 2', () => {
    for (const args of [['--bogus'], ['--runs', 'x'], ['--only', 'nope']]) {
      const r = bench(script, args);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^${prefix}: .*(--bogus|--runs|"nope")`));
    }
  });

  it('prints its usage on --help', () => {
    const r = bench(script, ['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run bench/);
    expect(r.stdout).toContain('--only');
  });
});

describe('the side benches refuse bad values before measuring anything', () => {
  it.each([
    // --batch 0 never committed and never advanced through the events: the script ran forever.
    ['sqlite-micro.ts', ['--batch', '0'], 'sqlite-micro: --batch must be a whole number of at least 1, got "0"'],
    ['sqlite-micro.ts', ['--sync', 'ful'], 'sqlite-micro: --sync must be normal or full, got "ful"'],
    // --rounds x ran no round and printed empty results.
    ['commit-cost.ts', ['--rounds', 'x'], 'commit-cost: --rounds must be a whole number of at least 1, got "x"'],
    ['commit-cost.ts', ['--child', 'journal'], 'commit-cost: --child must be one of sqlite, sqlite-rows, memory, got "journal"'],
  ])('%s %j', (script, args, message) => {
    const r = bench(script, args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(message);
  });
});
