/** The deploy plugin's copy of runtime/waits.ts (CommonJS, for the bucket's lifecycle) gives the same waits. */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import { runWaitMs } from '../../src/runtime/waits.ts';

const root = path.resolve(import.meta.dirname, '../..');
const lib = createRequire(import.meta.url)(path.join(root, 'deploy/lib.cjs')) as {
  settings(custom: object): { claimCheckDays: number };
  buildModel(args: { service: string; stage: string; region: string; custom: object; plans: TriggerPlan[]; warn?: (line: string) => void }): unknown;
};
const deploy = createRequire(import.meta.url)(path.join(root, 'deploy/retention.cjs')) as {
  runWaitMs(plan: unknown): number;
  claimCheckExpiryDays(model: { plans: unknown[]; settings: { claimCheckDays: number } }): number;
};

const waiting = compileWorkflow(
  {
    name: 'waits',
    steps: {
      a: { executor: { type: 'simulate', durationMs: 0 }, delayMs: 200 * 86_400_000 },
      b: { needs: ['a'], executor: { type: 'process', command: 'true' }, retry: { maxAttempts: 4, backoffMs: 1_000, factor: 3, maxDelayMs: 20_000 }, timeoutMs: 60_000 },
      c: { needs: ['a'], executor: { type: 'simulate', durationMs: 0 }, delayMs: 1_000 },
      d: { needs: ['b', 'c'], executor: { type: 'auto', module: 'h.ts', image: 'img', command: ['run'] }, resources: { memoryMb: 512, expectedSeconds: 60 }, timeoutMs: 30_000, fallback: 'batch' },
    },
  },
  { source: 'waits.yaml' },
);

describe('deploy/retention.cjs', () => {
  it("gives the runtime's waits for every plan of the repository and one that waits 200 days with retries, time-outs and a fallback", () => {
    const plans: TriggerPlan[] = readdirSync(path.join(root, 'triggers'))
      .filter((f) => f.endsWith('.json') && !f.startsWith('@'))
      .map((f) => JSON.parse(readFileSync(path.join(root, 'triggers', f), 'utf8')) as TriggerPlan);
    for (const plan of [...plans, waiting]) expect(deploy.runWaitMs(plan), plan.workflow).toBe(runWaitMs(plan));
    expect(runWaitMs(waiting)).toBeGreaterThan(200 * 86_400_000);
    expect(deploy.claimCheckExpiryDays({ plans: [waiting], settings: { claimCheckDays: 30 } })).toBe(30 + Math.ceil(runWaitMs(waiting) / 86_400_000));
    expect(deploy.claimCheckExpiryDays({ plans: [], settings: { claimCheckDays: 7 } })).toBe(7);
  });

  it('takes custom.joinflow.claimCheckDays as a whole number of days (S3 lifecycle rules expire in whole days), 30 without it', () => {
    expect(lib.settings({}).claimCheckDays).toBe(30);
    expect(lib.settings({ claimCheckDays: 7 }).claimCheckDays).toBe(7);
    expect(lib.settings({ claimCheckDays: '14' }).claimCheckDays).toBe(14);
    for (const bad of [2.5, 0, -3, 'x']) {
      expect(() => lib.settings({ claimCheckDays: bad })).toThrow(`custom.joinflow.claimCheckDays must be a whole number, 1 or more (got ${JSON.stringify(bad)})`);
    }
  });

  it('warns when claimCheckDays is under the 16 days a dead-lettered event may need its claim checks (14 in the DLQ, after up to 30 hours of delivery retries), and only then', () => {
    const warnings = (custom: object) => {
      const lines: string[] = [];
      lib.buildModel({ service: 'joinflow', stage: 'test', region: 'us-east-1', custom, plans: [], warn: (l) => lines.push(l) });
      return lines;
    };
    expect(warnings({ claimCheckDays: 7 })).toEqual([
      'joinflow: custom.joinflow.claimCheckDays is 7, under the 16 days a dead-lettered event may need the claim checks it refers to: ' +
        'the dead-letter queues keep a message 14 days from when it gets there, which may be 30 hours after the event was published ' +
        '(EventBridge retries a delivery for 24 hours, then Lambda an invocation for 6); redriven more than 7 days after it was published, ' +
        'it may find the large results and events it refers to deleted; 16 or more keeps them as long as the message',
    ]);
    expect(warnings({ claimCheckDays: 1 })[0]).toMatch(/more than 1 day after/);
    // 14 days in the DLQ count from when the message got there, up to 30 hours after the objects were written.
    expect(warnings({ claimCheckDays: 14 })).toHaveLength(1);
    expect(warnings({ claimCheckDays: 15 })).toHaveLength(1);
    expect(warnings({ claimCheckDays: 16 })).toEqual([]);
    expect(warnings({})).toEqual([]);
  });
});
