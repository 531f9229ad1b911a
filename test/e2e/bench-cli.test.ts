/**
 * The bench entry points' command lines: usage errors are one line and exit 2 before anything
 * runs (no Redis started, no peer installed), --help prints the usage and exits 0.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const bench = (script: string, args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.resolve(import.meta.dirname, '../../bench', script), ...args], { encoding: 'utf8' });

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
