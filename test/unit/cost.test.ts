import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { createMemoryStore } from '../../src/adapters/local/memory-store.ts';
import { UsageMeter } from '../../src/adapters/local/usage-meter.ts';
import { compileFile } from '../../src/adapters/local/workflow-files.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { estimateCost } from '../../src/cost/estimate.ts';
import { formatPlanReport, planReport } from '../../src/cost/plan-report.ts';
import { ASSUMPTIONS, PRICES } from '../../src/cost/prices.ts';
import { root } from '../helpers/cli.ts';
import { fanoutDef, plan } from '../helpers/plans.ts';

describe('cost estimate', () => {
  it('prices the processor and the bridges at the memory the stack gives them (serverless.yml)', () => {
    const yml = readFileSync(path.join(root, 'serverless.yml'), 'utf8');
    const memorySize = Number(/^ {2}memorySize: (\d+)$/m.exec(yml)?.[1]);
    expect(memorySize).toBeGreaterThan(0);
    expect(ASSUMPTIONS.processorMemoryMb).toBe(memorySize);
    expect(ASSUMPTIONS.bridgeMemoryMb).toBe(memorySize);
  });

  it('prices counted usage with the published rates', () => {
    const r = estimateCost({
      events: 1_000_000,
      ruleInvocations: 0,
      dynamoDb: { writeUnits: 2_000_000, readUnits: 4_000_000, requests: 0 },
      executions: { simulate: 998 },
      functionGbSeconds: 0,
      retries: 0,
      mapSteps: 0,
    });
    const line = (name: string) => r.lines.find((l) => l.item.startsWith(name))!;
    expect(line('EventBridge').usd).toBeCloseTo(1.0, 9);
    expect(line('DynamoDB writes').usd).toBeCloseTo(1.25, 9);
    expect(line('DynamoDB reads').usd).toBeCloseTo(0.5, 9);
    expect(r.totalUsd).toBeCloseTo(2.75, 9);
    // 998 executions + start + end.
    expect(r.stepFunctions).toEqual({ transitions: 1000, usd: 1000 * PRICES.stepFunctionsPerTransition });
  });

  it('counts one processor invocation per matched rule, like EventBridge', async () => {
    const meter = new UsageMeter();
    const engine = createEngine({ meter, store: meter.wrap(createMemoryStore()) });
    const p = plan(fanoutDef);
    engine.register(p);
    // split outputs 3 items via a simulate output.
    const withOutput = { ...p, steps: { ...p.steps, split: { ...p.steps['split']!, executor: { type: 'simulate' as const, durationMs: 0, output: [1, 2, 3] } } } };
    engine.register(withOutput);
    const r = await engine.run('fan', null);
    await engine.close();
    expect(r.status).toBe('succeeded');
    const u = meter.counts(withOutput);
    // Run Requested, split, 3 items, the collected square, sum, Run Succeeded (no Step Started).
    expect(u.events).toBe(8);
    // split <- Run Requested, square <- split, $collect x3, sum <- square, $succeed <- sum.
    expect(u.ruleInvocations).toBe(7);
    expect(u.executions).toEqual({ simulate: 5 });
    expect(u.mapSteps).toBe(1);
    expect(u.dynamoDb.writeUnits).toBeGreaterThan(0);
  });

  it('counts a Map state for each forEach step the run entered, not for one a choice skipped', async () => {
    const sim = (output?: unknown) => ({ type: 'simulate' as const, durationMs: 0, ...(output === undefined ? {} : { output }) });
    const p = plan({
      name: 'maps',
      steps: {
        a: { executor: sim([1, 2, 3]) },
        e: { executor: sim([]) },
        fan: { needs: ['a'], when: { input: { go: [true] } }, forEach: 'a', executor: sim() },
        // Entered, with no items: a Map state over an empty array is still a state.
        none: { needs: ['e'], forEach: 'e', executor: sim() },
      },
    });
    const counted = async (input: unknown) => {
      const meter = new UsageMeter();
      const engine = createEngine({ meter, store: meter.wrap(createMemoryStore()) });
      engine.register(p);
      const r = await engine.run('maps', input);
      await engine.close();
      expect(r.status).toBe('succeeded');
      return meter.counts(p);
    };
    const skipped = await counted({ go: false });
    expect([skipped.executions, skipped.mapSteps]).toEqual([{ simulate: 2 }, 1]);
    // a, e, the Map state of none, start and end: fan is not entered.
    expect(estimateCost(skipped).stepFunctions.transitions).toBe(5);
    const taken = await counted({ go: true });
    expect([taken.executions, taken.mapSteps]).toEqual([{ simulate: 5 }, 2]);
    expect(estimateCost(taken).stepFunctions.transitions).toBe(9);
  });

  it('counts the list of Batch jobs a run keeps on AWS: two writes and a read per job, one read per ended run of a workflow with batch steps', async () => {
    const batchPlan = plan({ name: 'gpu', steps: { train: { executor: { type: 'batch', image: 'x:1', command: ['train'], gpus: 1 } } } });
    const noBatch = plan({ name: 'nb', steps: { s: { executor: { type: 'simulate', durationMs: 0 } } } });
    const meter = new UsageMeter();
    const store = meter.wrap(createMemoryStore());
    await store.startRun({ runId: 'r1', workflow: 'gpu', input: null, startedAt: 0 });
    const before = { ...meter.dynamoDb };
    meter.execution({ executor: batchPlan.steps['train']!.executor } as never, 1000);
    expect(meter.dynamoDb.writeUnits - before.writeUnits).toBe(2);
    expect(meter.dynamoDb.readUnits - before.readUnits).toBe(1);
    await store.finishRun('r1', { status: 'succeeded', finishedAt: 1 });
    const counted = meter.dynamoDb.readUnits;
    expect(meter.counts(batchPlan).dynamoDb.readUnits).toBe(counted + 1);
    expect(meter.counts(noBatch).dynamoDb.readUnits).toBe(counted);
    // A run that had already ended is not ended twice.
    await store.finishRun('r1', { status: 'failed', finishedAt: 2 });
    expect(meter.counts(batchPlan).dynamoDb.readUnits).toBe(meter.dynamoDb.readUnits + 1);
  });

  it("counts the timer's read of the run and its claim of the attempt for each task put on the timer queue", () => {
    const meter = new UsageMeter();
    const before = { ...meter.dynamoDb };
    meter.retry();
    expect(meter.dynamoDb.writeUnits - before.writeUnits).toBe(2);
    expect(meter.dynamoDb.readUnits - before.readUnits).toBe(1);
    expect(meter.dynamoDb.requests - before.requests).toBe(3);
  });

  it("prices a Lambda-placed step's duration at the memory its placement gave it, other function steps at the stage default", () => {
    const auto = { type: 'auto' as const, module: './h.ts', export: 'run', image: 'i:1' };
    const p = compileWorkflow({
      name: 'mem',
      steps: {
        big: { executor: auto, resources: { memoryMb: 10_240 } },
        small: { executor: { type: 'function', module: './h.ts' } },
        guarded: { executor: auto, resources: { vcpus: 2 }, fallback: 'batch' },
      },
    }, { source: 'workflows/mem.yaml' });
    const meter = new UsageMeter();
    const task = (step: string, placement?: 'lambda' | 'batch-cpu') =>
      ({ workflow: 'mem', step, executor: p.steps[step]!.executor, ...(placement ? { placement } : {}) }) as never;
    meter.execution(task('big', 'lambda'), 2000);
    meter.execution(task('small'), 1000);
    meter.execution(task('guarded', 'lambda'), 1000);
    // Its fallback attempt is a Batch job: no Lambda duration.
    meter.execution(task('guarded', 'batch-cpu'), 5000);
    const u = meter.counts(p);
    expect(u.executions).toEqual({ function: 3, batch: 1 });
    const duration = estimateCost(u).lines.find((l) => l.item === 'Lambda duration')!;
    // 10 GB x 2 s + 1 GB (the stage default) x 1 s + 3,538 MB x 1 s, plus 4 bridge invocations at 512 MB x 20 ms.
    const gbs = 10 * 2 + 1 * 1 + (3538 / 1024) * 1 + 4 * 0.5 * 0.02;
    expect(duration.quantity).toBeCloseTo(gbs, 3);
    expect(duration.usd).toBeCloseTo(gbs * PRICES.lambdaPerGbSecond, 12);
  });

  it("bills a function step's duration at the stage's step memory (custom.joinflow.stepMemoryMb), as plan prices it; a placed step at its placement's", () => {
    const auto = { type: 'auto' as const, module: './h.ts', export: 'run', image: 'i:1' };
    const p = compileWorkflow({
      name: 'stage-mem',
      steps: {
        plain: { executor: { type: 'function', module: './h.ts' }, resources: { expectedSeconds: 2 } },
        placed: { executor: auto, resources: { memoryMb: 512, expectedSeconds: 2 } },
      },
    }, { source: 'workflows/stage-mem.yaml' });
    const task = (step: string) => ({ workflow: 'stage-mem', step, executor: p.steps[step]!.executor, ...(p.steps[step]!.placement ? { placement: 'lambda' } : {}) }) as never;
    const billed = (meter: UsageMeter) => {
      meter.execution(task('plain'), 2000);
      meter.execution(task('placed'), 2000);
      return meter.counts(p).functionGbSeconds;
    };
    expect(billed(new UsageMeter({ functionMemoryMb: 3008 }))).toBeCloseTo((3008 / 1024) * 2 + 0.5 * 2, 9);
    expect(billed(new UsageMeter())).toBeCloseTo(1 * 2 + 0.5 * 2, 9);
    // The same memory as plan's row of each step, times the same 2 s.
    const rows = planReport(p, { functionMemoryMb: 3008 }).steps;
    const perSecond = (mb: number) => (mb / 1024) * PRICES.lambdaPerGbSecond;
    const fromPlan = rows.reduce((a, r) => a + (r.usd! - PRICES.lambdaPerRequest), 0);
    expect(fromPlan).toBeCloseTo(2 * (perSecond(3008) + perSecond(512)), 12);
  });

  it('gives the same outputs with per-rule invocations as without', async () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const file = await compileFile(path.join(root, 'workflows/diamond.ts'), root);
    const meter = new UsageMeter();
    const metered = createEngine({ root, meter, store: meter.wrap(createMemoryStore()) });
    const plain = createEngine({ root });
    metered.register(file);
    plain.register(file);
    const [a, b] = await Promise.all([metered.run('diamond', { x: 3 }), plain.run('diamond', { x: 3 })]);
    await Promise.all([metered.close(), plain.close()]);
    expect(a.output).toEqual(b.output);
    expect(a.output).toEqual({ nodeC: { sum: 34 } });
  });
});

describe('joinflow plan prices', () => {
  const auto = { type: 'auto' as const, module: './h.ts', export: 'run', image: 'i:1' };

  it('puts a GPU job on the cheapest listed instance whose memory the ECS agent registers holds it, as deploy checks', () => {
    const p = compileWorkflow({
      name: 'gpu',
      steps: {
        fits: { executor: auto, resources: { gpus: 1, vcpus: 4, memoryMb: 15_000, expectedSeconds: 3600 } },
        // Under g4dn.xlarge's 16,384 MiB installed, over the 95 % of it a job can count on.
        tight: { executor: auto, resources: { gpus: 1, vcpus: 4, memoryMb: 16_000, expectedSeconds: 3600 } },
      },
    }, { source: 'workflows/gpu.yaml' });
    const by = Object.fromEntries(planReport(p, { gpuInstanceTypes: ['g4dn.xlarge', 'g4dn.2xlarge', 'g5.xlarge'] }).steps.map((r) => [r.step, r]));
    expect(by['fits']!.resources.instance).toBe('g4dn.xlarge');
    expect(by['fits']!.usd).toBeCloseTo(0.526, 12);
    expect(by['tight']!.resources.instance).toBe('g4dn.2xlarge');
    expect(by['tight']!.usd).toBeCloseTo(0.752, 12);
    // Only the types the stage allows (by default g4dn.xlarge and g5.xlarge, which cannot hold `tight`).
    const report = planReport(p);
    expect(report.gpuInstanceTypes).toEqual(['g4dn.xlarge', 'g5.xlarge']);
    expect(report.steps[1]).toMatchObject({ usd: null, note: 'no allowed GPU instance type with a price in src/cost/prices.ts holds it (allowed: g4dn.xlarge, g5.xlarge)' });
    expect(formatPlanReport(report).split('\n')[1]).toBe('  GPU jobs priced on the cheapest allowed instance type that holds them: g4dn.xlarge, g5.xlarge (custom.joinflow.gpuInstanceTypes)');
    const g5 = Object.fromEntries(planReport(p, { gpuInstanceTypes: ['g5.xlarge'] }).steps.map((r) => [r.step, r]));
    expect([g5['fits']!.resources.instance, g5['fits']!.usd]).toEqual(['g5.xlarge', 1.006]);
  });

  it('reads the allowed GPU types from the project\'s serverless.yml, as deploy does (a list or a comma-separated string)', async () => {
    const { allowedGpuTypes } = await import('../../src/cli/stage-settings.ts');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/jf-plan-gpu-`);
    expect(allowedGpuTypes(dir)).toEqual({});
    writeFileSync(`${dir}/serverless.yml`, 'custom:\n  joinflow:\n    gpuInstanceTypes: [g5.xlarge, g4dn.4xlarge]\nresources:\n  Resources:\n    X: {Type: "AWS::S3::Bucket", Properties: {BucketName: !Ref Y}}\n');
    expect(allowedGpuTypes(dir)).toEqual({ types: ['g5.xlarge', 'g4dn.4xlarge'] });
    writeFileSync(`${dir}/serverless.yml`, 'custom:\n  joinflow:\n    gpuInstanceTypes: "g5.xlarge, g4dn.xlarge"\n');
    expect(allowedGpuTypes(dir)).toEqual({ types: ['g5.xlarge', 'g4dn.xlarge'] });
    writeFileSync(`${dir}/serverless.yml`, 'custom:\n  joinflow:\n    gpuInstanceTypes: ${env:GPU_TYPES}\n');
    expect(allowedGpuTypes(dir).note).toBe('serverless.yml custom.joinflow.gpuInstanceTypes is a serverless variable (${env:GPU_TYPES}): GPU steps are priced on the default instance types');
    writeFileSync(`${dir}/serverless.yml`, 'service: x\n');
    expect(allowedGpuTypes(dir)).toEqual({});
  });

  it("prices function steps at the stage's step memory (serverless.yml custom.joinflow.stepMemoryMb), as deploy sizes their Lambdas", async () => {
    const p = compileWorkflow({
      name: 'mem',
      steps: {
        plain: { executor: { type: 'function', module: './h.ts' }, resources: { expectedSeconds: 10 } },
        placed: { executor: auto, resources: { memoryMb: 512, expectedSeconds: 10 } },
      },
    }, { source: 'workflows/mem.yaml' });
    const by = Object.fromEntries(planReport(p, { functionMemoryMb: 3008 }).steps.map((r) => [r.step, r]));
    expect(by['plain']!.resources).toEqual({ memoryMb: 3008, vcpus: 1.7, gpus: 0, expectedSeconds: 10 });
    expect(by['plain']!.usd).toBeCloseTo(PRICES.lambdaPerRequest + (3008 / 1024) * 10 * PRICES.lambdaPerGbSecond, 12);
    // A placed step has the memory its placement chose.
    expect(by['placed']!.resources.memoryMb).toBe(512);
    expect(planReport(p).steps[0]!.resources.memoryMb).toBe(1024);
    const { stepMemory } = await import('../../src/cli/stage-settings.ts');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/jf-plan-mem-`);
    expect(stepMemory(dir)).toEqual({});
    writeFileSync(`${dir}/serverless.yml`, 'custom:\n  joinflow:\n    stepMemoryMb: 3008\n');
    expect(stepMemory(dir)).toEqual({ memoryMb: 3008 });
    writeFileSync(`${dir}/serverless.yml`, 'custom:\n  joinflow:\n    stepMemoryMb: "2048"\n');
    expect(stepMemory(dir)).toEqual({ memoryMb: 2048 });
    writeFileSync(`${dir}/serverless.yml`, 'custom:\n  joinflow:\n    stepMemoryMb: ${env:STEP_MB}\n');
    expect(stepMemory(dir).note).toBe('serverless.yml custom.joinflow.stepMemoryMb is a serverless variable (${env:STEP_MB}): function steps are priced at 1,024 MB');
    writeFileSync(`${dir}/serverless.yml`, 'custom:\n  joinflow:\n    stepMemoryMb: lots\n');
    for (const [bad, shown] of [['lots', '"lots"'], ['64', '64'], ['1024.5', '1024.5'], ['20000', '20000']] as const) {
      writeFileSync(`${dir}/serverless.yml`, `custom:\n  joinflow:\n    stepMemoryMb: ${bad}\n`);
      expect(stepMemory(dir).note).toBe(`serverless.yml custom.joinflow.stepMemoryMb is not a whole number of MB from 128 to 10240 (${shown}), which serverless package refuses: function steps are priced at 1,024 MB`);
    }
  });

  it('warns of a step expected to run longer than its timeout: every attempt would time out', () => {
    const p = compileWorkflow({
      name: 'late',
      steps: {
        // Placed on Lambda (600 s fits), but stopped at 60 s.
        placed: { executor: auto, resources: { expectedSeconds: 600 }, timeoutMs: 60_000, fallback: 'batch' },
        // A function step's Lambda gets 60 s when it gives no timeout.
        plain: { executor: { type: 'function', module: './h.ts' }, resources: { expectedSeconds: 90 } },
        job: { executor: { type: 'batch', image: 'i:1' }, resources: { expectedSeconds: 120 }, timeoutMs: 100_000 },
        fine: { executor: auto, resources: { expectedSeconds: 30 }, timeoutMs: 30_000 },
      },
    }, { source: 'workflows/late.yaml' });
    const report = planReport(p);
    const by = Object.fromEntries(report.steps.map((r) => [r.step, r]));
    expect(by['placed']!.warning).toBe('expectedSeconds 600 > its timeout of 60 s: every attempt on Lambda would time out and fall back to Batch');
    expect(by['plain']!.warning).toBe("expectedSeconds 90 > its timeout of 60 s (a function step's Lambda without timeoutMs): every attempt would time out");
    expect(by['job']!.warning).toBe('expectedSeconds 120 > its timeout of 100 s: every attempt would time out');
    expect(by['fine']!.warning).toBeUndefined();
    expect(formatPlanReport(report)).toContain('\n          ! expectedSeconds 600 > its timeout of 60 s: every attempt on Lambda would time out and fall back to Batch\n');
  });

  it('prices the fallback: Lambda up to its timeout, then the Batch job; a step expected to outlast its timeout costs that every execution', () => {
    const p = compileWorkflow({
      name: 'fb',
      steps: {
        // 1,024 MB on Lambda (0.58 vCPU) falls back to 1 vCPU / 2,048 MB; 600 s never fits in 60 s.
        late: { executor: auto, resources: { memoryMb: 1024, expectedSeconds: 600 }, timeoutMs: 60_000, fallback: 'batch' },
        // Fits its timeout: priced on Lambda, and says what an execution that falls back costs.
        fits: { executor: auto, resources: { vcpus: 2, expectedSeconds: 30 }, timeoutMs: 120_000, fallback: 'batch' },
        unknown: { executor: auto, resources: { vcpus: 2 }, fallback: 'batch' },
      },
    }, { source: 'workflows/fb.yaml' });
    const report = planReport(p);
    const by = Object.fromEntries(report.steps.map((r) => [r.step, r]));
    const lambda = (mb: number, s: number) => PRICES.lambdaPerRequest + (mb / 1024) * s * PRICES.lambdaPerGbSecond;
    const fargate = (vcpus: number, mb: number, s: number) => (vcpus * PRICES.fargatePerVcpuHour + (mb / 1024) * PRICES.fargatePerGbHour) * Math.max(60, s) / 3600;
    const late = lambda(1024, 60) + fargate(1, 2048, 600);
    expect(by['late']!.fallback).toMatchObject({ placement: 'batch-cpu', vcpus: 1, memoryMb: 2048, timeoutSeconds: 60, always: true });
    expect(by['late']!.fallback!.usd).toBeCloseTo(late, 12);
    expect(by['late']!.usd).toBeCloseTo(late, 12);
    // Its Batch job is billed at least a minute.
    expect(by['fits']!.usd).toBeCloseTo(lambda(3538, 30), 12);
    expect(by['fits']!.fallback!.usd).toBeCloseTo(lambda(3538, 120) + fargate(2, 4096, 30), 12);
    expect(by['fits']!.fallback!.always).toBeUndefined();
    // Lambda's 900 s when the step gives no timeoutMs; not priced without expectedSeconds.
    expect(by['unknown']!.fallback).toEqual({ placement: 'batch-cpu', memoryMb: 4096, vcpus: 2, timeoutSeconds: 900, usd: null });
    expect(report.totalUsd).toBeCloseTo(late + lambda(3538, 30), 12);
    const text = formatPlanReport(report);
    expect(text).toContain(`-> after a Lambda timeout: batch-cpu, 1 vCPU, 2,048 MB (fallback: batch): $${late.toFixed(6)} an execution that falls back (Lambda until its 60 s timeout, then the Batch job), priced above as every execution does`);
    expect(text).toContain(`-> after a Lambda timeout: batch-cpu, 2 vCPU, 4,096 MB (fallback: batch): $${(lambda(3538, 120) + fargate(2, 4096, 30)).toFixed(6)} an execution that falls back (Lambda until its 120 s timeout, then the Batch job)\n`);
  });

  it('warns of a batch step that serverless package refuses: not a Fargate size, or part of a vCPU on a GPU instance', () => {
    const p = compileWorkflow({
      name: 'sizes',
      steps: {
        // 2 vCPUs on Fargate take 4,096-16,384 MB; the default memory is 2,048.
        two: { executor: { type: 'batch', image: 'i:1', vcpus: 2 }, resources: { expectedSeconds: 60 } },
        three: { executor: { type: 'batch', image: 'i:1', vcpus: 3, memoryMb: 8192 } },
        gpu: { executor: { type: 'batch', image: 'i:1', vcpus: 0.5, gpus: 1 } },
        ok: { executor: { type: 'batch', image: 'i:1', vcpus: 2, memoryMb: 4096 } },
      },
    }, { source: 'workflows/sizes.yaml' });
    const by = Object.fromEntries(planReport(p).steps.map((r) => [r.step, r]));
    expect(by['two']!.warning).toBe('not a Fargate size, so serverless package refuses it: 2 vCPUs take 4,096-16,384 MB (the smallest size that holds it: 2 vCPUs, 4,096 MB)');
    expect(by['three']!.warning).toBe('not a Fargate size, so serverless package refuses it: Fargate has 0.25, 0.5, 1, 2, 4, 8 or 16 vCPUs (the smallest size that holds it: 4 vCPUs, 8,192 MB)');
    expect(by['gpu']!.warning).toBe('a GPU (EC2) job takes whole vCPUs, so serverless package refuses 0.5');
    expect(by['ok']!.warning).toBeUndefined();
  });
});
