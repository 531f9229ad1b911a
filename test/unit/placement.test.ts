/**
 * Hybrid placement: `executor: auto` steps go to Lambda when they fit its limits (10,240 MB,
 * 6 vCPUs bought with memory, 900 s, no GPU), else to Batch (GPU queue when gpus > 0, else the
 * smallest Fargate size that covers them); the plan records where and why; `resources` and
 * `fallback` elsewhere are refused with their paths.
 */
import { describe, expect, it } from 'vitest';
import { compileWorkflow, serializePlan } from '../../src/compiler/compile.ts';
import { fargateSize, lambdaVcpus, place } from '../../src/compiler/placement.ts';
import { WorkflowDefinitionError } from '../../src/model/errors.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';

const auto = { type: 'auto' as const, module: './handlers/h.ts', export: 'run', image: 'example/img:1', command: ['run'] };

function compile(def: WorkflowInput) {
  return compileWorkflow(def, { source: 'workflows/w.yaml' });
}

function problemsOf(def: unknown) {
  try {
    compileWorkflow(def, { source: 'workflows/w.yaml' });
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowDefinitionError);
    return (error as WorkflowDefinitionError).problems;
  }
  throw new Error('expected a WorkflowDefinitionError');
}

describe('placement boundaries', () => {
  it('keeps exactly 10,240 MB on Lambda and sends 10,241 MB to Batch', () => {
    expect(place({ memoryMb: 10_240 })).toEqual({ target: 'lambda', reason: 'fits Lambda', memoryMb: 10_240, vcpus: 6, gpus: 0 });
    expect(place({ memoryMb: 10_241 })).toEqual({
      target: 'batch-cpu', reason: "memory 10,241 MB > Lambda's 10,240 MB", memoryMb: 11_264, vcpus: 2, gpus: 0,
    });
    expect(place({ memoryMb: 12_288 })).toMatchObject({ target: 'batch-cpu', reason: "memory 12,288 MB > Lambda's 10,240 MB" });
  });

  it('keeps an expected 900 s on Lambda and sends 901 s (or a longer timeout) to Batch', () => {
    expect(place({ expectedSeconds: 900 })).toMatchObject({ target: 'lambda', expectedSeconds: 900 });
    expect(place({ expectedSeconds: 901 })).toMatchObject({ target: 'batch-cpu', reason: "expectedSeconds 901 > Lambda's 900" });
    // Too long for Lambda, not too big: at least the CPU its memory buys there (0.58 vCPU at 1,024 MB).
    expect(place({ expectedSeconds: 1200 })).toMatchObject({ reason: "expectedSeconds 1200 > Lambda's 900", memoryMb: 2048, vcpus: 1 });
    expect(place({}, 900_000)).toMatchObject({ target: 'lambda' });
    expect(place({}, 900_001)).toMatchObject({ target: 'batch-cpu', reason: "timeoutMs 900001 > Lambda's 900000" });
  });

  it('sends gpus 1 to the GPU queue with whole vCPUs, gpus 0 to Lambda', () => {
    expect(place({ gpus: 0 })).toMatchObject({ target: 'lambda', gpus: 0 });
    expect(place({ gpus: 1 })).toEqual({ target: 'batch-gpu', reason: 'gpus 1', memoryMb: 1024, vcpus: 1, gpus: 1 });
    expect(place({ gpus: 2, vcpus: 2.5, memoryMb: 20_000, expectedSeconds: 60 })).toEqual({
      target: 'batch-gpu', reason: "gpus 2; memory 20,000 MB > Lambda's 10,240 MB", memoryMb: 20_000, vcpus: 3, gpus: 2, expectedSeconds: 60,
    });
  });

  it('raises memory to buy vCPUs on Lambda up to 6, and sends more to Batch', () => {
    // 1,769 MB is one vCPU: a step that asks for 2 gets 3,538 MB.
    expect(place({ vcpus: 2 })).toEqual({ target: 'lambda', reason: 'fits Lambda (memory raised to 3,538 MB for 2 vCPUs)', memoryMb: 3538, vcpus: 2, gpus: 0 });
    // Memory already enough: nothing raised.
    expect(place({ vcpus: 1, memoryMb: 4096 })).toEqual({ target: 'lambda', reason: 'fits Lambda', memoryMb: 4096, vcpus: 2.32, gpus: 0 });
    expect(place({ vcpus: 1 })).toMatchObject({ reason: 'fits Lambda (memory raised to 1,769 MB for 1 vCPU)', memoryMb: 1769, vcpus: 1 });
    expect(place({ vcpus: 6 })).toMatchObject({ target: 'lambda', memoryMb: 10_240, vcpus: 6 });
    expect(place({ vcpus: 6.5 })).toMatchObject({ target: 'batch-cpu', reason: "vcpus 6.5 > Lambda's 6", vcpus: 8, memoryMb: 16_384 });
  });

  it('gives a step too long for Lambda at least the CPU its memory buys there, as its fallback would get', () => {
    // 4,096 MB is 2.32 vCPUs on Lambda: not 0.5 vCPU, the smallest Fargate size with 4,096 MB.
    expect(place({ memoryMb: 4096, expectedSeconds: 1800 })).toEqual({
      target: 'batch-cpu', reason: "expectedSeconds 1800 > Lambda's 900", memoryMb: 8192, vcpus: 4, gpus: 0, expectedSeconds: 1800,
    });
    expect(place({ memoryMb: 512 }, 1_200_000)).toMatchObject({ target: 'batch-cpu', vcpus: 0.5, memoryMb: 1024 });
    expect(place({ memoryMb: 10_240, expectedSeconds: 901 })).toMatchObject({ target: 'batch-cpu', vcpus: 8, memoryMb: 16_384 });
    // The same size as the fallback of the same step kept on Lambda.
    const onLambda = compile({ name: 'w', steps: { s: { executor: auto, resources: { memoryMb: 4096, expectedSeconds: 600 }, fallback: 'batch' } } });
    expect(onLambda.steps['s']!.fallback!.executor).toMatchObject({ vcpus: 4, memoryMb: 8192 });
    // vcpus given: they are what the step asked for, even below what its memory buys on Lambda.
    expect(place({ memoryMb: 4096, vcpus: 1, expectedSeconds: 1800 })).toMatchObject({ vcpus: 1, memoryMb: 4096 });
    // Over Lambda's memory: no Lambda CPU to match, the smallest size that holds it.
    expect(place({ memoryMb: 12_288, expectedSeconds: 1800 })).toMatchObject({ vcpus: 2, memoryMb: 12_288 });
  });

  it('lists every reason a step misses Lambda', () => {
    expect(place({ memoryMb: 12_000, vcpus: 8, expectedSeconds: 3600 }, 7_200_000)).toMatchObject({
      target: 'batch-cpu',
      reason: "memory 12,000 MB > Lambda's 10,240 MB; vcpus 8 > Lambda's 6; expectedSeconds 3600 > Lambda's 900; timeoutMs 7200000 > Lambda's 900000",
      vcpus: 8,
      memoryMb: 16_384,
    });
  });

  it('rounds CPU Batch sizes up to a Fargate size, or says none is large enough', () => {
    expect(fargateSize(undefined, 1024)).toEqual({ vcpus: 0.25, memoryMb: 1024 });
    expect(fargateSize(1, 1024)).toEqual({ vcpus: 1, memoryMb: 2048 });
    expect(fargateSize(3, 20_000)).toEqual({ vcpus: 4, memoryMb: 20_480 });
    expect(fargateSize(undefined, 122_880)).toEqual({ vcpus: 16, memoryMb: 122_880 });
    expect(fargateSize(undefined, 122_881)).toBeUndefined();
    expect(fargateSize(17, 1024)).toBeUndefined();
    const none = place({ memoryMb: 200_000 });
    expect('problem' in none && none.problem).toMatch(/nor Fargate's largest task \(16 vCPUs, 122,880 MB\).*give gpus/);
  });

  it("gives Lambda's vCPUs for a memory size", () => {
    expect(lambdaVcpus(1769)).toBe(1);
    expect(lambdaVcpus(128)).toBe(0.07);
    expect(lambdaVcpus(10_240)).toBe(6);
  });
});

describe('compiling auto steps', () => {
  const def: WorkflowInput = {
    name: 'w',
    steps: {
      small: { executor: auto, resources: { memoryMb: 512, expectedSeconds: 3 } },
      gpu: { executor: { ...auto, local: { command: 'node', args: ['gpu.mjs'] } }, resources: { gpus: 1, vcpus: 4, memoryMb: 15_000 }, timeoutMs: 3_600_000 },
      big: { executor: auto, resources: { memoryMb: 12_288 } },
      guarded: { needs: ['small'], executor: auto, resources: { vcpus: 2 }, timeoutMs: 30_000, fallback: 'batch', retry: { maxAttempts: 2 } },
    },
  };

  it('records a function executor for Lambda and a batch executor for Batch, with the placement and why', () => {
    const p = compile(def);
    expect(p.steps['small']).toMatchObject({
      executor: { type: 'function', module: 'workflows/handlers/h.ts', export: 'run' },
      // Lambda's own limit when the step gives none, so a timeout means the same locally and on AWS.
      timeoutMs: 900_000,
      placement: { target: 'lambda', reason: 'fits Lambda', memoryMb: 512, vcpus: 0.29, gpus: 0, expectedSeconds: 3, handler: { module: 'workflows/handlers/h.ts', export: 'run' } },
    });
    expect(p.steps['small']!.fallback).toBeUndefined();
    expect(p.steps['gpu']).toMatchObject({
      executor: { type: 'batch', image: 'example/img:1', command: ['run'], vcpus: 4, memoryMb: 15_000, gpus: 1, env: {}, local: { command: 'node', args: ['gpu.mjs'], cwd: 'workflows' } },
      timeoutMs: 3_600_000,
      placement: { target: 'batch-gpu', reason: "gpus 1; memory 15,000 MB > Lambda's 10,240 MB; timeoutMs 3600000 > Lambda's 900000" },
    });
    expect(p.steps['big']).toMatchObject({ executor: { type: 'batch', vcpus: 2, memoryMb: 12_288, gpus: 0 }, placement: { target: 'batch-cpu' } });
    expect(p.steps['big']!.timeoutMs).toBeUndefined();
  });

  it('gives a Lambda step with fallback: batch a CPU job at least as large as its Lambda', () => {
    const s = compile(def).steps['guarded']!;
    expect(s.executor).toEqual({ type: 'function', module: 'workflows/handlers/h.ts', export: 'run' });
    expect(s.timeoutMs).toBe(30_000);
    expect(s.placement).toMatchObject({ target: 'lambda', memoryMb: 3538, vcpus: 2 });
    expect(s.fallback).toEqual({
      target: 'batch-cpu',
      executor: { type: 'batch', image: 'example/img:1', command: ['run'], vcpus: 2, memoryMb: 4096, gpus: 0, env: {} },
    });
  });

  it('ignores fallback on a step placed on Batch already', () => {
    const p = compile({ name: 'w', steps: { s: { executor: auto, resources: { gpus: 1 }, fallback: 'batch' } } });
    expect(p.steps['s']!.placement!.target).toBe('batch-gpu');
    expect(p.steps['s']!.fallback).toBeUndefined();
  });

  it('is deterministic and leaves plans without auto steps as they were', () => {
    expect(serializePlan(compile(def))).toBe(serializePlan(compile(structuredClone(def))));
    const plain = compile({ name: 'p', steps: { a: { executor: { type: 'simulate', durationMs: 1 }, timeoutMs: 5 } } });
    expect(Object.keys(plain.steps['a']!)).toEqual(['needs', 'executor', 'retry', 'timeoutMs']);
    const hinted = compile({ name: 'p', steps: { a: { executor: { type: 'batch', image: 'i' }, resources: { expectedSeconds: 60 } } } });
    expect(hinted.steps['a']!.expectedSeconds).toBe(60);
    expect(hinted.steps['a']!.placement).toBeUndefined();
  });
});

describe('validating resources and fallback', () => {
  it('refuses sizing on steps that are not auto, and fallback where there is no image, with paths', () => {
    const problems = problemsOf({
      name: 'w',
      steps: {
        f: { executor: { type: 'function', module: 'h.ts' }, resources: { memoryMb: 2048, expectedSeconds: 5 }, fallback: 'batch' },
        b: { executor: { type: 'batch', image: 'i' }, resources: { gpus: 1 } },
      },
    });
    expect(problems.map((p) => p.path)).toEqual(['steps.f.resources.memoryMb', 'steps.f.fallback', 'steps.b.resources.gpus']);
    expect(problems[0]!.message).toMatch(/places "executor: auto" steps only; a function step cannot use it \(only expectedSeconds applies/);
    expect(problems[1]!.message).toMatch(/needs a container image.*a function step has none: use executor \{type: auto/);
    expect(problems[2]!.message).toMatch(/executor\.vcpus \/ memoryMb \/ gpus/);
  });

  it('checks the bounds and fields of resources, the fallback value and the auto executor', () => {
    const problems = problemsOf({
      name: 'w',
      steps: {
        a: { executor: auto, resources: { memoryMb: 64, vcpus: 0, gpus: 1.5, expectedSeconds: -1, disk: 10 } },
        b: { executor: auto, fallback: 'lambda' },
        c: { executor: { type: 'auto', module: 'h.ts' } },
        d: { executor: auto, resources: { memoryMb: 500_000 } },
      },
    });
    const by = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    expect(by['steps.a.resources.memoryMb']).toMatch(/at least 128 MB/);
    expect(by['steps.a.resources.vcpus']).toMatch(/more than 0/);
    expect(by['steps.a.resources.gpus']).toMatch(/whole number/);
    expect(by['steps.a.resources.expectedSeconds']).toMatch(/more than 0/);
    expect(by['steps.a.resources']).toMatch(/disk/);
    expect(by['steps.b.fallback']).toBe('the only fallback is "batch"');
    expect(by['steps.c.executor.image']).toMatch(/container image/);
    expect(by['steps.d.resources']).toMatch(/^does not fit Lambda \(memory 500,000 MB > Lambda's 10,240 MB\) nor Fargate's largest task/);
  });

  it('checks the handler module of an auto step like a function step', () => {
    const modules = { './handlers/h.ts': { path: 'workflows/handlers/h.ts', exports: ['other'] } };
    let error: unknown;
    try {
      compileWorkflow({ name: 'w', steps: { a: { executor: auto } } }, { source: 'workflows/w.yaml', modules });
    } catch (e) {
      error = e;
    }
    expect((error as WorkflowDefinitionError).problems).toEqual([
      { path: 'steps.a.executor.export', message: '"workflows/handlers/h.ts" has no function export "run" (it exports: other)' },
    ]);
  });
});
