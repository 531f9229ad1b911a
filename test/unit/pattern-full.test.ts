import { describe, expect, it } from 'vitest';
import { compilePattern, PatternError, patternMatches } from '../../src/model/pattern.ts';
import { createRandom } from '../../src/adapters/local/chaos.ts';

type P = Record<string, unknown>;
const d = (detail: P): P => ({ source: 'aws.ec2', 'detail-type': 'X', detail });

// [name, pattern, event, expected] — examples mostly from the AWS EventBridge content-filtering docs.
const cases: Array<[string, P, P, boolean]> = [
  // exact values
  ['exact string', { source: ['aws.ec2'] }, d({}), true],
  ['exact string is case-sensitive', { source: ['AWS.EC2'] }, d({}), false],
  ['number equality 5 = 5.0', { detail: { n: [5.0] } }, d({ n: 5 }), true],
  ['number 3.0e2 = 300', { detail: { n: [3.0e2] } }, d({ n: 300 }), true],
  ['number mismatch', { detail: { n: [5] } }, d({ n: 5.5 }), false],
  ['number is not a string', { detail: { n: [5] } }, d({ n: '5' }), false],
  ['boolean', { detail: { b: [false] } }, d({ b: false }), true],
  ['boolean mismatch', { detail: { b: [false] } }, d({ b: 'false' }), false],
  ['null', { detail: { responseElements: [null] } }, d({ responseElements: null }), true],
  ['null does not match absent', { detail: { responseElements: [null] } }, d({}), false],
  ['empty string', { detail: { eventVersion: [''] } }, d({ eventVersion: '' }), true],
  ['empty string mismatch', { detail: { eventVersion: [''] } }, d({ eventVersion: '1' }), false],
  ['any of', { detail: { state: ['stopped', 'terminated'] } }, d({ state: 'terminated' }), true],
  ['any of mismatch', { detail: { state: ['stopped', 'terminated'] } }, d({ state: 'running' }), false],
  ['event array: any element', { resources: ['arn:b'] }, { resources: ['arn:a', 'arn:b'] }, true],
  ['event array: none', { resources: ['arn:c'] }, { resources: ['arn:a', 'arn:b'] }, false],
  ['nested', { detail: { a: { b: ['x'] } } }, d({ a: { b: 'x' } }), true],
  ['nested mismatch', { detail: { a: { b: ['x'] } } }, d({ a: { b: 'y' } }), false],
  ['nested through array of objects', { detail: { a: { b: ['x'] } } }, d({ a: [{ b: 'y' }, { b: 'x' }] }), true],
  ['nested through array of objects: none', { detail: { a: { b: ['x'] } } }, d({ a: [{ b: 'y' }] }), false],
  // prefix
  ['prefix', { time: [{ prefix: '2017-10-02' }] }, { time: '2017-10-02T18:43:48Z' }, true],
  ['prefix mismatch', { time: [{ prefix: '2017-10-02' }] }, { time: '2017-10-03T18:43:48Z' }, false],
  ['prefix ignores non-strings', { n: [{ prefix: '1' }] }, { n: 12 }, false],
  ['prefix ignore case', { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } }, d({ service: 'eventbridge' }), true],
  ['prefix ignore case mismatch', { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } }, d({ service: 'sqs' }), false],
  // suffix
  ['suffix', { FileName: [{ suffix: '.png' }] }, { FileName: 'a.png' }, true],
  ['suffix mismatch', { FileName: [{ suffix: '.png' }] }, { FileName: 'a.PNG' }, false],
  ['suffix ignore case', { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } }, d({ FileName: 'A.PNG' }), true],
  ['suffix ignore case mismatch', { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } }, d({ FileName: 'a.jpg' }), false],
  // equals-ignore-case
  ['equals-ignore-case', { 'detail-type': [{ 'equals-ignore-case': 'ec2 instance state-change notification' }] }, { 'detail-type': 'EC2 Instance State-change Notification' }, true],
  ['equals-ignore-case mismatch', { 'detail-type': [{ 'equals-ignore-case': 'ec2' }] }, { 'detail-type': 'ec2x' }, false],
  // anything-but
  ['anything-but string', { detail: { state: [{ 'anything-but': 'initializing' }] } }, d({ state: 'running' }), true],
  ['anything-but string excluded', { detail: { state: [{ 'anything-but': 'initializing' }] } }, d({ state: 'initializing' }), false],
  ['anything-but absent never matches', { detail: { state: [{ 'anything-but': 'initializing' }] } }, d({}), false],
  ['anything-but object value counts as absent', { detail: { state: [{ 'anything-but': 'x' }] } }, d({ state: { a: 1 } }), false],
  ['anything-but number', { detail: { 'x-limit': [{ 'anything-but': 123 }] } }, d({ 'x-limit': 124 }), true],
  ['anything-but number excluded (123.0)', { detail: { 'x-limit': [{ 'anything-but': 123 }] } }, d({ 'x-limit': 123.0 }), false],
  ['anything-but string list', { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } }, d({ state: 'running' }), true],
  ['anything-but string list excluded', { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } }, d({ state: 'overloaded' }), false],
  ['anything-but number list', { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } }, d({ 'x-limit': 150 }), true],
  ['anything-but number list excluded', { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } }, d({ 'x-limit': 200 }), false],
  ['anything-but prefix', { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } }, d({ state: 'running' }), true],
  ['anything-but prefix excluded', { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } }, d({ state: 'initializing' }), false],
  ['anything-but suffix', { detail: { FileName: [{ 'anything-but': { suffix: '.png' } }] } }, d({ FileName: 'a.txt' }), true],
  ['anything-but suffix excluded', { detail: { FileName: [{ 'anything-but': { suffix: '.png' } }] } }, d({ FileName: 'a.png' }), false],
  ['anything-but ignore case', { detail: { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] } }, d({ state: 'running' }), true],
  ['anything-but ignore case excluded', { detail: { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] } }, d({ state: 'INITIALIZING' }), false],
  ['anything-but ignore case list', { detail: { state: [{ 'anything-but': { 'equals-ignore-case': ['stopped', 'overloaded'] } }] } }, d({ state: 'running' }), true],
  ['anything-but ignore case list excluded', { detail: { state: [{ 'anything-but': { 'equals-ignore-case': ['stopped', 'overloaded'] } }] } }, d({ state: 'Stopped' }), false],
  ['anything-but wildcard', { detail: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] } }, d({ FilePath: '/usr/bin/x' }), true],
  ['anything-but wildcard excluded', { detail: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] } }, d({ FilePath: '/usr/lib/x' }), false],
  ['anything-but wildcard list', { detail: { FilePath: [{ 'anything-but': { wildcard: ['*/lib/*', '*/bin/*'] } }] } }, d({ FilePath: '/etc/x' }), true],
  ['anything-but wildcard list excluded', { detail: { FilePath: [{ 'anything-but': { wildcard: ['*/lib/*', '*/bin/*'] } }] } }, d({ FilePath: '/usr/bin/x' }), false],
  // numeric
  ['numeric range', { detail: { 'c-count': [{ numeric: ['>', 0, '<=', 5] }] } }, d({ 'c-count': 5 }), true],
  ['numeric range excludes lower bound', { detail: { 'c-count': [{ numeric: ['>', 0, '<=', 5] }] } }, d({ 'c-count': 0 }), false],
  ['numeric range upper', { detail: { 'c-count': [{ numeric: ['>', 0, '<=', 5] }] } }, d({ 'c-count': 5.0001 }), false],
  ['numeric =', { detail: { 'd-count': [{ numeric: ['<', 10] }], 'x-limit': [{ numeric: ['=', 3.018e2] }] } }, d({ 'd-count': 3, 'x-limit': 301.8 }), true],
  ['numeric = mismatch', { detail: { 'x-limit': [{ numeric: ['=', 3.0e2] }] } }, d({ 'x-limit': 301 }), false],
  ['numeric ignores strings', { detail: { n: [{ numeric: ['>=', 0] }] } }, d({ n: '5' }), false],
  // exists
  ['exists true', { detail: { state: [{ exists: true }] } }, d({ state: 'x' }), true],
  ['exists true absent', { detail: { state: [{ exists: true }] } }, d({}), false],
  ['exists true on object (not a leaf)', { detail: { state: [{ exists: true }] } }, d({ state: { a: 1 } }), false],
  ['exists false', { detail: { state: [{ exists: false }] } }, d({}), true],
  ['exists false present', { detail: { state: [{ exists: false }] } }, d({ state: null }), false],
  ['exists false with absent parent', { detail: { a: { b: [{ exists: false }] } } }, d({}), true],
  // wildcard
  ['wildcard', { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] }, { EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/b' }, true],
  ['wildcard mismatch', { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] }, { EventBusArn: 'arn:aws:events:us-west-2:1:event-bus/b' }, false],
  ['wildcard escaped star', { f: [{ wildcard: 'a\\*b' }] }, { f: 'a*b' }, true],
  ['wildcard escaped star is literal', { f: [{ wildcard: 'a\\*b' }] }, { f: 'axxb' }, false],
  ['wildcard regex chars are literal', { f: [{ wildcard: 'a.b*' }] }, { f: 'axb' }, false],
  // cidr
  ['cidr ipv4', { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } }, d({ sourceIPAddress: '10.0.0.255' }), true],
  ['cidr ipv4 mismatch', { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } }, d({ sourceIPAddress: '10.0.1.0' }), false],
  ['cidr ipv4 non-ip value', { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } }, d({ sourceIPAddress: 'example.com' }), false],
  ['cidr ipv6', { detail: { sourceIPAddress: [{ cidr: '2001:db8::/32' }] } }, d({ sourceIPAddress: '2001:db8:1::ab' }), true],
  ['cidr ipv6 mismatch', { detail: { sourceIPAddress: [{ cidr: '2001:db8::/32' }] } }, d({ sourceIPAddress: '2001:db9::1' }), false],
  // $or
  ['$or at top level', { source: ['aws.ec2'], $or: [{ 'detail-type': ['X'] }, { detail: { n: [1] } }] }, d({}), true],
  ['$or none', { source: ['aws.ec2'], $or: [{ 'detail-type': ['Y'] }, { detail: { n: [1] } }] }, d({}), false],
  ['$or nested in detail', { detail: { $or: [{ 'c-count': [{ numeric: ['>', 0, '<=', 5] }] }, { 'd-count': [{ numeric: ['<', 10] }] }] } }, d({ 'd-count': 3 }), true],
  ['$or nested in detail none', { detail: { $or: [{ 'c-count': [{ numeric: ['>', 0, '<=', 5] }] }, { 'd-count': [{ numeric: ['<', 10] }] }] } }, d({ 'c-count': 9, 'd-count': 30 }), false],
  ['$or within $or', { $or: [{ a: ['1'] }, { $or: [{ b: ['2'] }, { c: ['3'] }] }] }, { c: '3' }, true],
  ['$or within $or none', { $or: [{ a: ['1'] }, { $or: [{ b: ['2'] }, { c: ['3'] }] }] }, { c: '4' }, false],
];

describe('EventBridge pattern language', () => {
  it.each(cases)('%s', (_name, pattern, event, expected) => {
    expect(compilePattern(pattern)(event)).toBe(expected);
    expect(patternMatches(pattern, event)).toBe(expected);
  });
});

describe('pattern validation', () => {
  const bad: Array<[string, P, string]> = [
    ['unknown operator', { detail: { a: [{ contains: 'x' }] } }, 'detail.a[0]'],
    ['empty array', { detail: { a: [] } }, 'detail.a'],
    ['prefix non-string', { a: [{ prefix: 1 }] }, 'a[0].prefix'],
    ['prefix bad ignore-case object', { a: [{ prefix: { 'equals-ignore-case': 3 } }] }, 'a[0].prefix.equals-ignore-case'],
    ['suffix non-string', { a: [{ suffix: ['x'] }] }, 'a[0].suffix'],
    ['equals-ignore-case non-string', { a: [{ 'equals-ignore-case': 1 }] }, 'a[0].equals-ignore-case'],
    ['anything-but boolean', { a: [{ 'anything-but': true }] }, 'a[0].anything-but'],
    ['anything-but mixed list', { a: [{ 'anything-but': ['x', 1] }] }, 'a[0].anything-but[1]'],
    ['anything-but empty list', { a: [{ 'anything-but': [] }] }, 'a[0].anything-but'],
    ['anything-but unknown inner', { a: [{ 'anything-but': { numeric: ['>', 1] } }] }, 'a[0].anything-but'],
    ['anything-but prefix empty', { a: [{ 'anything-but': { prefix: '' } }] }, 'a[0].anything-but.prefix'],
    ['numeric bad operator', { a: [{ numeric: ['!=', 1] }] }, 'a[0].numeric[0]'],
    ['numeric non-number', { a: [{ numeric: ['>', '1'] }] }, 'a[0].numeric[1]'],
    ['numeric bad ordering', { a: [{ numeric: ['<', 5, '>', 0] }] }, 'a[0].numeric[0]'],
    ['numeric empty range', { a: [{ numeric: ['>', 5, '<', 5] }] }, 'a[0].numeric'],
    ['numeric out of range', { a: [{ numeric: ['>', 6e9] }] }, 'a[0].numeric[1]'],
    ['numeric wrong arity', { a: [{ numeric: ['>', 1, '<'] }] }, 'a[0].numeric'],
    ['exists non-boolean', { a: [{ exists: 'yes' }] }, 'a[0].exists'],
    ['wildcard consecutive stars', { a: [{ wildcard: 'a**b' }] }, 'a[0].wildcard'],
    ['wildcard bad escape', { a: [{ wildcard: 'a\\b' }] }, 'a[0].wildcard'],
    ['cidr missing prefix length', { detail: { ip: [{ cidr: '10.0.0.1' }] } }, 'detail.ip[0].cidr'],
    ['cidr bad address', { detail: { ip: [{ cidr: '10.0.0.256/24' }] } }, 'detail.ip[0].cidr'],
    ['cidr prefix too long', { detail: { ip: [{ cidr: '10.0.0.0/33' }] } }, 'detail.ip[0].cidr'],
    ['cidr ipv6 prefix too long', { detail: { ip: [{ cidr: '2001:db8::/129' }] } }, 'detail.ip[0].cidr'],
    ['$or with one alternative', { detail: { $or: [{ a: ['x'] }] } }, 'detail.$or'],
    ['$or not an array', { $or: { a: ['x'] } }, '$or'],
    ['$or alternative invalid', { $or: [{ a: ['x'] }, { b: [{ numeric: ['>'] }] }] }, '$or[1].b[0].numeric'],
    ['two operators in one matcher', { a: [{ prefix: 'x', suffix: 'y' }] }, 'a[0]'],
    ['leaf not an array or object', { a: 'x' }, 'a'],
    ['nested array in leaf', { a: [['x']] }, 'a[0]'],
  ];
  it.each(bad)('%s', (_name, pattern, path) => {
    let caught: unknown;
    try {
      compilePattern(pattern);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(PatternError);
    expect((caught as PatternError).path).toBe(path);
    expect((caught as PatternError).message).toContain(`at ${path}:`);
  });

  it('enforces maxLength', () => {
    const pattern = { source: ['x'.repeat(3000)] };
    expect(() => compilePattern(pattern, { maxLength: 2048 })).toThrow(/limit is 2048/);
    expect(() => compilePattern(pattern)).not.toThrow();
  });
});

/** The seeded generator the chaos bus uses, so property tests are reproducible. */
const prng = createRandom;

describe('properties (seeded)', () => {
  const rand = prng(20261121);
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const str = (): string => Array.from({ length: int(4) }, () => pick(['a', 'b', 'A', 'c'])).join('');
  const num = (): number => pick([int(10) - 5, (int(40) - 20) / 4, 0]);
  const leafMakers: Array<() => unknown> = [str, num, () => null, () => rand() < 0.5];
  const leaf = (): unknown => pick(leafMakers)();
  const value = (): unknown => (rand() < 0.2 ? Array.from({ length: int(3) }, leaf) : leaf());
  const N = 500;

  it('anything-but X never matches what X (as exact values) matches when present', () => {
    let checked = 0;
    for (let i = 0; i < N; i++) {
      const strings = rand() < 0.5;
      const make: () => string | number = strings ? str : num;
      const xs = Array.from({ length: 1 + int(3) }, () => make());
      const v = rand() < 0.5 ? pick(xs) : value();
      const event = { f: v };
      const exact = patternMatches({ f: xs }, event);
      const but = patternMatches({ f: [{ 'anything-but': xs }] }, event);
      if (!Array.isArray(v)) {
        expect(but, JSON.stringify({ xs, v })).toBe(!exact);
        checked++;
      } else if (exact) {
        // an array matches anything-but when some other element is not excluded
        expect(but).toBe(v.some((e) => !xs.includes(e as never)));
      }
    }
    expect(checked).toBeGreaterThan(N / 2);
  });

  it('prefix p matches iff value.startsWith(p)', () => {
    let positives = 0;
    for (let i = 0; i < N; i++) {
      const p = str();
      const v = rand() < 0.3 ? p + str() : str();
      const got = patternMatches({ f: [{ prefix: p }] }, { f: v });
      expect(got, JSON.stringify({ p, v })).toBe(v.startsWith(p));
      if (got) positives++;
    }
    expect(positives).toBeGreaterThan(N / 10);
  });

  it('$or [A, B] matches iff A or B matches', () => {
    const sub = (): P =>
      pick([
        () => ({ a: [str()] }),
        () => ({ b: [{ numeric: ['>=', int(5) - 2] }] }),
        () => ({ a: [{ prefix: str() }] }),
        () => ({ b: [{ exists: rand() < 0.5 }] }),
        () => ({ a: [{ 'anything-but': str() }] }),
      ])();
    let positives = 0;
    for (let i = 0; i < N; i++) {
      const A = sub();
      const B = sub();
      const event: P = {};
      if (rand() < 0.8) event['a'] = str();
      if (rand() < 0.8) event['b'] = num();
      const expected = patternMatches(A, event) || patternMatches(B, event);
      expect(patternMatches({ $or: [A, B] }, event), JSON.stringify({ A, B, event })).toBe(expected);
      if (expected) positives++;
    }
    expect(positives).toBeGreaterThan(N / 10);
  });

  it('numeric ranges agree with direct comparison', () => {
    const cmp = (op: string, v: number, n: number): boolean =>
      op === '<' ? v < n : op === '<=' ? v <= n : op === '>' ? v > n : op === '>=' ? v >= n : v === n;
    let positives = 0;
    for (let i = 0; i < N; i++) {
      const v = num();
      let pattern: unknown[];
      let expected: boolean;
      if (rand() < 0.5) {
        const op = pick(['<', '<=', '>', '>=', '=']);
        const n = num();
        pattern = [op, n];
        expected = cmp(op, v, n);
      } else {
        const lo = num();
        const hi = lo + 0.25 + int(8);
        const lop = pick(['>', '>=']);
        const hop = pick(['<', '<=']);
        pattern = [lop, lo, hop, hi];
        expected = cmp(lop, v, lo) && cmp(hop, v, hi);
      }
      const got = patternMatches({ f: [{ numeric: pattern }] }, { f: v });
      expect(got, JSON.stringify({ pattern, v })).toBe(expected);
      if (got) positives++;
    }
    expect(positives).toBeGreaterThan(N / 10);
  });
});
