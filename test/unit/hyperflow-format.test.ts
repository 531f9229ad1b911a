import { describe, expect, it } from 'vitest';
import { START_SIGNAL, toHyperFlow, type HyperFlowWorkflow } from '../../bench/peers/hyperflow-format.ts';
import { chainShape, fanoutShape } from '../../bench/peers/shapes.ts';

/**
 * HyperFlow's dataflow rule, enough to check a converted DAG: a process with firingLimit 1 fires
 * once all its input signals have been emitted, and emits its outputs. Returns the firing order
 * (process names), or throws if a process never fires or fires twice.
 */
function fire(wf: HyperFlowWorkflow): string[] {
  const emitted = new Set<number>(wf.ins);
  const fired: string[] = [];
  const done = new Set<number>();
  for (let progress = true; progress; ) {
    progress = false;
    wf.processes.forEach((p, i) => {
      if (done.has(i) || !p.ins.every((s) => emitted.has(s))) return;
      done.add(i);
      fired.push(p.name);
      for (const s of p.outs) emitted.add(s);
      progress = true;
    });
  }
  if (done.size !== wf.processes.length) throw new Error(`${wf.processes.length - done.size} processes never fire`);
  return fired;
}

const diamond = {
  name: 'diamond',
  steps: { a: {}, b: { needs: ['a'] }, c: { needs: ['a'] }, d: { needs: ['b', 'c'] } },
};

describe('toHyperFlow', () => {
  it('turns each step into a once-firing dataflow process that emits its own signal', () => {
    const wf = toHyperFlow(diamond);
    expect(wf.name).toBe('diamond');
    expect(wf.signals.map((s) => s.name)).toEqual([START_SIGNAL, 'a', 'b', 'c', 'd']);
    expect(wf.signals[0]).toEqual({ name: START_SIGNAL, data: [{}] });
    expect(wf.signals.slice(1).every((s) => s.data === undefined)).toBe(true);
    expect(wf.processes).toEqual([
      { name: 'a', type: 'dataflow', function: 'noop', firingLimit: 1, ins: [0], outs: [1] },
      { name: 'b', type: 'dataflow', function: 'noop', firingLimit: 1, ins: [1], outs: [2] },
      { name: 'c', type: 'dataflow', function: 'noop', firingLimit: 1, ins: [1], outs: [3] },
      { name: 'd', type: 'dataflow', function: 'noop', firingLimit: 1, ins: [2, 3], outs: [4] },
    ]);
    expect(wf.ins).toEqual([0]);
    expect(wf.outs).toEqual([4]);
    expect(wf.functions).toEqual([{ name: 'noop', module: 'functions.js' }]);
  });

  it('gives every signal but the start exactly one producer, and every index a signal', () => {
    const wf = toHyperFlow(fanoutShape(3));
    const producers = new Map<number, number>();
    for (const p of wf.processes) {
      for (const s of [...p.ins, ...p.outs]) expect(wf.signals[s]).toBeDefined();
      for (const s of p.outs) producers.set(s, (producers.get(s) ?? 0) + 1);
    }
    expect(producers.has(0)).toBe(false);
    expect([...producers.values()]).toEqual(Array(wf.signals.length - 1).fill(1));
    expect(JSON.parse(JSON.stringify(wf))).toEqual(wf);
  });

  it('fires a fan-out as source, the parallel steps, then the join, once each', () => {
    const wf = toHyperFlow(fanoutShape(3));
    expect(wf.processes).toHaveLength(5);
    expect(wf.processes.find((p) => p.name === 'join')!.ins).toHaveLength(3);
    const order = fire(wf);
    expect(order[0]).toBe('source');
    expect(order.at(-1)).toBe('join');
    expect([...order].sort()).toEqual(['join', 'p0', 'p1', 'p2', 'source']);
    expect(wf.outs.map((s) => wf.signals[s]!.name)).toEqual(['join']);
  });

  it('fires a chain in order, with only its last step as workflow output', () => {
    const wf = toHyperFlow(chainShape(4));
    expect(fire(wf)).toEqual(['s0', 's1', 's2', 's3']);
    expect(wf.outs).toEqual([4]);
  });

  it('refers to signals by index, so step ids with ":" are not read as count modifiers', () => {
    const wf = toHyperFlow({ name: 'colons', steps: { 'x:2': {}, y: { needs: ['x:2', 'x:2'] } } });
    expect(wf.processes[1]!.ins).toEqual([1]);
    expect(wf.processes.flatMap((p) => [...p.ins, ...p.outs]).every((s) => typeof s === 'number')).toBe(true);
  });

  it('names the step and the missing need', () => {
    expect(() => toHyperFlow({ name: 'bad', steps: { a: {}, b: { needs: ['nope'] } } })).toThrow(
      'toHyperFlow: step "b" of "bad" needs unknown step "nope"',
    );
  });

  it('uses the function and module it is given', () => {
    const wf = toHyperFlow(diamond, { functionName: 'echo', module: 'lib.js' });
    expect(new Set(wf.processes.map((p) => p.function))).toEqual(new Set(['echo']));
    expect(wf.functions).toEqual([{ name: 'echo', module: 'lib.js' }]);
  });
});
