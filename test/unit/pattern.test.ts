import { describe, expect, it } from 'vitest';
import { compilePattern, PatternError } from '../../src/model/pattern.ts';
import { RuleIndex } from '../../src/runtime/rule-index.ts';

const ev = (detail: Record<string, unknown>, type = 'Step Completed') => ({ id: '1', source: 'joinflow', 'detail-type': type, time: '', detail });

describe('pattern matcher (compiler subset)', () => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, boolean]> = [
    ['exact string', { source: ['joinflow'] }, ev({}), true],
    ['exact string mismatch', { source: ['other'] }, ev({}), false],
    ['any of', { detail: { step: ['a', 'b'] } }, ev({ step: 'b' }), true],
    ['any of mismatch', { detail: { step: ['a', 'b'] } }, ev({ step: 'c' }), false],
    ['number', { detail: { n: [5] } }, ev({ n: 5 }), true],
    ['number is not string', { detail: { n: ['5'] } }, ev({ n: 5 }), false],
    ['boolean', { detail: { retrying: [true] } }, ev({ retrying: true }), true],
    ['boolean mismatch', { detail: { retrying: [true] } }, ev({ retrying: false }), false],
    ['null', { detail: { v: [null] } }, ev({ v: null }), true],
    ['null does not match absent', { detail: { v: [null] } }, ev({}), false],
    ['nested', { detail: { a: { b: ['x'] } } }, ev({ a: { b: 'x' } }), true],
    ['nested absent', { detail: { a: { b: ['x'] } } }, ev({ a: 1 }), false],
    ['prefix', { detail: { step: [{ prefix: 'mProj' }] } }, ev({ step: 'mProject_1' }), true],
    ['prefix mismatch', { detail: { step: [{ prefix: 'mProj' }] } }, ev({ step: 'mDiff' }), false],
    ['exists true', { detail: { item: [{ exists: true }] } }, ev({ item: 0 }), true],
    ['exists true absent', { detail: { item: [{ exists: true }] } }, ev({}), false],
    ['exists false absent', { detail: { item: [{ exists: false }] } }, ev({}), true],
    ['exists false present', { detail: { item: [{ exists: false }] } }, ev({ item: 3 }), false],
    ['array in event: any element', { detail: { tags: ['x'] } }, ev({ tags: ['w', 'x'] }), true],
    ['array in event: none', { detail: { tags: ['x'] } }, ev({ tags: ['w'] }), false],
    ['all fields must match', { source: ['joinflow'], 'detail-type': ['Step Failed'] }, ev({}), false],
  ];
  it.each(cases)('%s', (_name, pattern, event, expected) => {
    expect(compilePattern(pattern)(event)).toBe(expected);
  });

  it('rejects malformed patterns naming the path', () => {
    expect(() => compilePattern({ detail: { a: [{ nope: 1 }] } })).toThrow(/detail\.a\[0\]: unknown operator "nope"/);
    expect(() => compilePattern({ detail: { a: [] } })).toThrow(PatternError);
    expect(() => compilePattern({ detail: { a: [{ prefix: 1 }] } })).toThrow(/prefix/);
    expect(() => compilePattern({ detail: 'x' } as never)).toThrow(/at detail/);
    expect(() => compilePattern({ source: ['x'.repeat(3000)] }, { maxLength: 2048 })).toThrow(/limit is 2048/);
  });
});

describe('rule index', () => {
  it('returns exactly the matching rules, in insertion order', () => {
    const index = new RuleIndex<string>();
    index.add('c-joins-a-b', { source: ['joinflow'], 'detail-type': ['Step Completed'], detail: { workflow: ['w'], step: ['a', 'b'] } });
    index.add('any-completed', { 'detail-type': ['Step Completed'] });
    index.add('other-workflow', { source: ['joinflow'], 'detail-type': ['Step Completed'], detail: { workflow: ['v'], step: ['a'] } });
    index.add('failed', { source: ['joinflow'], 'detail-type': ['Step Failed'] });
    index.add('prefix', { detail: { step: [{ prefix: 'b' }] } });
    expect(index.match(ev({ workflow: 'w', step: 'a' }))).toEqual(['c-joins-a-b', 'any-completed']);
    expect(index.match(ev({ workflow: 'w', step: 'b' }))).toEqual(['c-joins-a-b', 'any-completed', 'prefix']);
    expect(index.match(ev({ workflow: 'v', step: 'a' }))).toEqual(['any-completed', 'other-workflow']);
    expect(index.match(ev({ workflow: 'w', step: 'a' }, 'Step Failed'))).toEqual(['failed']);
    expect(index.match(ev({ workflow: 'w', step: ['a', 'b'] }))).toEqual(['c-joins-a-b', 'any-completed', 'prefix']);
  });

  it('keeps insertion order when an event reaches many buckets (few and many rules)', () => {
    // Rules alternate between buckets that the event reaches in another order than they were added.
    const shapes = [
      (i: number) => ({ detail: { step: ['s'], n: [i] } }),
      (i: number) => ({ 'detail-type': ['Step Completed'], detail: { n: [i] } }),
      (i: number) => ({ source: ['joinflow'], detail: { workflow: ['w'], n: [i] } }),
      (i: number) => ({ detail: { n: [i] } }),
    ];
    for (const count of [5, 40]) {
      const index = new RuleIndex<number>();
      for (let i = 0; i < count; i++) index.add(i, shapes[(i * 7) % 4]!(0));
      expect(index.match(ev({ workflow: 'w', step: 's', n: 0 }))).toEqual(Array.from({ length: count }, (_, i) => i));
    }
  });

  it('gives each match its own answer: candidates of an earlier event never carry over (the index reuses its scratch arrays)', () => {
    const index = new RuleIndex<number>();
    // Pinned by their buckets alone (nothing left to test), so a leftover candidate would be returned.
    for (let i = 0; i < 40; i++) index.add(i, { detail: { step: ['wide'] } });
    index.add(100, { detail: { step: ['narrow'] } });
    index.add(101, { detail: { step: ['some'], n: [{ numeric: ['>', 1] }] } });
    const wide = index.match(ev({ step: 'wide' }));
    expect(wide).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // Fewer candidates after more: only this event's.
    expect(index.match(ev({ step: 'narrow' }))).toEqual([100]);
    expect(index.match(ev({ step: 'some', n: 1 }))).toEqual([]);
    expect(index.match(ev({ step: 'none' }))).toEqual([]);
    expect(index.match(ev({ step: 'some', n: 2 }))).toEqual([101]);
    // Rules added after a match take part in the next.
    expect(index.match(ev({ workflow: 'w', step: 'narrow' }))).toEqual([100]);
    index.add(102, { detail: { workflow: ['w'], step: ['narrow'] } });
    index.add(103, { detail: { workflow: ['v'], step: ['narrow'] } });
    expect(index.match(ev({ workflow: 'w', step: 'narrow' }))).toEqual([100, 102]);
    expect(index.match(ev({ workflow: 'v', step: 'narrow' }))).toEqual([100, 103]);
    // An event array reaches two buckets of one rule: the rule once.
    expect(index.match(ev({ workflow: 'w', step: ['narrow', 'narrow'] }))).toEqual([100, 102]);
    // An answer already handed out does not change with later matches.
    expect(wide).toHaveLength(40);
  });

  it("answers a step trigger's own residual ({item: [{exists: false}]}) exactly as the compiled pattern does", () => {
    const pattern = { source: ['joinflow'], 'detail-type': ['Step Completed'], detail: { workflow: ['w'], step: ['a'], item: [{ exists: false }] } };
    const index = new RuleIndex<string>();
    index.add('t', pattern);
    const oracle = compilePattern(pattern);
    const items: unknown[] = [0, 3, null, undefined, [], [1], [[]], [{}], {}, { x: 1 }, 'x', true, false, [null]];
    const details: unknown[] = [{ workflow: 'w', step: 'a' }, ...items.map((item) => ({ workflow: 'w', step: 'a', item }))];
    const inherited = Object.create({ item: 1 }) as Record<string, unknown>;
    Object.assign(inherited, { workflow: 'w', step: 'a' });
    details.push(inherited);
    for (const detail of details) {
      const event = { id: '1', source: 'joinflow', 'detail-type': 'Step Completed', time: '', detail };
      expect(index.match(event).length, JSON.stringify(detail)).toBe(oracle(event) ? 1 : 0);
    }
  });

  it('verifies the fields the buckets do not pin (residual patterns)', () => {
    const index = new RuleIndex<string>();
    index.add('items-only', { source: ['joinflow'], detail: { step: ['m'], item: [{ exists: true }] } });
    index.add('string-five', { detail: { step: ['5'] } });
    expect(index.match(ev({ step: 'm', item: 0 }))).toEqual(['items-only']);
    expect(index.match(ev({ step: 'm' }))).toEqual([]);
    expect(index.match({ ...ev({ step: 'm', item: 0 }), source: 'other' })).toEqual([]);
    // Only strings equal string literals: a number 5 must not reach the "5" bucket.
    expect(index.match(ev({ step: 5 }))).toEqual([]);
    expect(index.match(ev({ step: '5' }))).toEqual(['string-five']);
  });
});
