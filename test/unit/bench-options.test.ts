import { describe, expect, it } from 'vitest';
import { namesFrom, parseBenchOptions, parsePeerOptions, wholeNumber } from '../../bench/options.ts';
import { UsageError } from '../../src/model/errors.ts';

const SCENARIOS = ['chain-10000', 'map-320'];
const SHAPES = ['chain-1000', 'montage'];
const VARIANTS = ['memory-simulate', 'sqlite-simulate', 'rows-simulate'];
const peer = (args: string[]) => parsePeerOptions(args, SHAPES, VARIANTS, VARIANTS.slice(0, 2));

describe('npm run bench options', () => {
  it('defaults to 3 runs of every scenario, and reads --runs, --only (trimmed) and --json', () => {
    expect(parseBenchOptions([], SCENARIOS)).toEqual({ json: false, runs: 3, names: SCENARIOS });
    expect(parseBenchOptions(['--runs', '2', '--only', 'map-320, chain-10000', '--json'], SCENARIOS)).toEqual({ json: true, runs: 2, names: ['map-320', 'chain-10000'] });
    expect(parseBenchOptions(['--help'], SCENARIOS)).toBe('help');
    expect(parseBenchOptions(['-h'], SCENARIOS)).toBe('help');
  });

  it('refuses unknown flags, stray arguments, bad counts and unknown or repeated names with a UsageError', () => {
    expect(() => parseBenchOptions(['--bogus'], SCENARIOS)).toThrow(new UsageError("Unknown option '--bogus' (see --help)"));
    expect(() => parseBenchOptions(['map-320'], SCENARIOS)).toThrow(UsageError);
    expect(() => parseBenchOptions(['--runs'], SCENARIOS)).toThrow(UsageError);
    for (const runs of ['0', '-1', '1.5', 'x', '', '1e3']) {
      expect(() => parseBenchOptions([`--runs=${runs}`], SCENARIOS)).toThrow(`--runs must be a whole number of at least 1, got "${runs}"`);
    }
    expect(() => parseBenchOptions(['--only', 'nope,map-320,also'], SCENARIOS)).toThrow('unknown scenarios "nope", "also" in --only (have: chain-10000, map-320)');
    expect(() => parseBenchOptions(['--only', 'map-320,,chain-10000'], SCENARIOS)).toThrow('unknown scenario "" in --only');
    expect(() => parseBenchOptions(['--only', 'map-320,map-320'], SCENARIOS)).toThrow('--only names "map-320" more than once');
  });
});

describe('npm run bench:peers options', () => {
  it('has the documented defaults', () => {
    expect(peer([])).toEqual({ json: false, markdown: false, runs: 3, names: SHAPES, variants: ['memory-simulate', 'sqlite-simulate'], timeoutMs: 600_000, steadyTasks: 0, redisAof: false });
  });

  it('reads every flag', () => {
    const o = peer(['--runs', '5', '--only', ' montage', '--variants', 'rows-simulate', '--timeout', '1.5', '--steady-tasks', '20000', '--redis-aof', '--markdown']);
    expect(o).toEqual({ json: false, markdown: true, runs: 5, names: ['montage'], variants: ['rows-simulate'], timeoutMs: 1500, steadyTasks: 20_000, redisAof: true });
  });

  it('refuses what it cannot honour, naming the flag', () => {
    expect(() => peer(['--only', 'nope'])).toThrow('unknown shape "nope" in --only (have: chain-1000, montage)');
    expect(() => peer(['--variants', 'sqlite'])).toThrow('unknown variant "sqlite" in --variants');
    expect(() => peer(['--json', '--markdown'])).toThrow('--json and --markdown');
    expect(() => peer(['--steady-tasks', '1.5'])).toThrow('--steady-tasks must be a whole number of at least 0, got "1.5"');
    // Node's timers fire at once past 2^31 - 1 ms, and refuse a fraction of a millisecond.
    for (const t of ['0', '-5', 'x', '', '0.0001', '3000000']) expect(() => peer([`--timeout=${t}`])).toThrow(`--timeout must be a number of seconds from 0.001 to 2147483, got "${t}"`);
    expect(() => peer(['--verbose'])).toThrow(UsageError);
  });
});

describe('helpers', () => {
  it('wholeNumber takes digits only', () => {
    expect(wholeNumber('--n', '007', 0)).toBe(7);
    expect(() => wholeNumber('--n', '0x10', 0)).toThrow(UsageError);
  });

  it('namesFrom gives the defaults when the flag is absent', () => {
    expect(namesFrom('--v', undefined, ['a', 'b'], 'variant', ['b'])).toEqual(['b']);
  });
});
