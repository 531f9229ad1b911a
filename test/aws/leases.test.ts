/**
 * The lease of the functions that claim work in the table (processor, timer): deploy/leases.cjs
 * derives it from each function's timeout in the compiled template (timeout + 5 s, so that a live
 * invocation keeps its claims) and refuses a timeout whose lease would still hold when the
 * redelivery that must take a dead invocation's claim over comes; the handlers read it from
 * JOINFLOW_LEASE_MS. package.test.ts checks the packaged template; delivery-races.test.ts the
 * handlers' takeovers.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { configFromEnv, FALLBACK_LEASE_MS } from '../../src/adapters/aws/config.ts';

type Json = Record<string, any>;
const require = createRequire(import.meta.url);
const Leases = require('../../deploy/leases.cjs') as { applyLeases(template: Json): string[]; leaseMs(seconds: number): number };
const root = path.resolve(import.meta.dirname, '../..');

function template(processorTimeout: unknown, timerTimeout: unknown, visibility = 360): Json {
  const fn = (Timeout: unknown, extra: Json = {}) => ({ Type: 'AWS::Lambda::Function', Properties: { Timeout, Environment: { Variables: { JOINFLOW_STAGE: 'test', ...extra } } } });
  return {
    Resources: {
      ProcessorLambdaFunction: fn(processorTimeout),
      TimerLambdaFunction: fn(timerTimeout),
      LambdaResultBridgeLambdaFunction: fn(30),
      TimerQueue: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: visibility } },
    },
  };
}
const env = (t: Json, id: string) => t['Resources'][id].Properties.Environment.Variables as Record<string, string>;

describe('claim leases (deploy/leases.cjs)', () => {
  it("gives the processor and the timer their timeout plus 5 s, and leaves the other functions' environment alone", () => {
    const t = template(50, 60);
    expect(Leases.applyLeases(t)).toEqual([]);
    expect(env(t, 'ProcessorLambdaFunction')).toEqual({ JOINFLOW_STAGE: 'test', JOINFLOW_LEASE_MS: '55000' });
    expect(env(t, 'TimerLambdaFunction')).toEqual({ JOINFLOW_STAGE: 'test', JOINFLOW_LEASE_MS: '65000' });
    expect(env(t, 'LambdaResultBridgeLambdaFunction')).toEqual({ JOINFLOW_STAGE: 'test' });
    const shorter = template(20, 30);
    expect(Leases.applyLeases(shorter)).toEqual([]);
    expect(env(shorter, 'ProcessorLambdaFunction')['JOINFLOW_LEASE_MS']).toBe('25000');
    expect(env(shorter, 'TimerLambdaFunction')['JOINFLOW_LEASE_MS']).toBe('35000');
  });

  it("refuses a processor timeout whose lease would still hold when Lambda retries a failed invocation, a minute later", () => {
    const t = template(60, 60);
    const problems = Leases.applyLeases(t);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("the processor's timeout of 60 s makes its claims' lease 65 s (timeout + 5 s), which ends too late for Lambda's retry of a failed invocation, a minute after it failed (60 s)");
    expect(problems[0]).toContain('Give the processor a timeout of at most 50 s in serverless.yml');
    expect(env(t, 'ProcessorLambdaFunction')['JOINFLOW_LEASE_MS']).toBeUndefined();
    expect(Leases.applyLeases(template(51, 60))).toHaveLength(1);
  });

  it("refuses a timer timeout whose lease would still hold when the queue hands its message back", () => {
    const problems = Leases.applyLeases(template(50, 60, 60));
    expect(problems).toEqual([expect.stringContaining("the timer's timeout of 60 s makes its claims' lease 65 s (timeout + 5 s), which ends too late for the timer queue's redelivery of a message, after its visibility timeout (60 s)")]);
    expect(problems[0]).toContain('Give the timer a timeout of at most 50 s in serverless.yml');
  });

  it('says so when a function, or its timeout, is missing', () => {
    const t = template(undefined, 60);
    delete t['Resources'].TimerLambdaFunction;
    expect(Leases.applyLeases(t)).toEqual([
      'the processor function (ProcessorLambdaFunction) has no timeout in the template (got undefined): its lease is derived from it',
      'no timer function (TimerLambdaFunction) in the template to give its lease',
    ]);
  });

  it("holds for serverless.yml's own processor and timer timeouts", () => {
    const yml = parseDocument(readFileSync(path.join(root, 'serverless.yml'), 'utf8')).toJS() as Json;
    const own = Object.assign({}, ...(yml['functions'] as Json[]).filter((f) => typeof f === 'object')) as Json;
    const visibility = (yml['resources'] as Json[])[0]!['Resources'].TimerQueue.Properties.VisibilityTimeout as number;
    expect([own['processor'].timeout, own['timer'].timeout, visibility]).toEqual([50, 60, 360]);
    expect(Leases.applyLeases(template(own['processor'].timeout, own['timer'].timeout, visibility))).toEqual([]);
    // A handler run without the variable (outside a packaged stage) takes the deployed processor's lease.
    expect(FALLBACK_LEASE_MS).toBe(Leases.leaseMs(own['processor'].timeout as number));
  });
});

describe('JOINFLOW_LEASE_MS (src/adapters/aws/config.ts)', () => {
  it('is the lease the handlers judge claims by; absent, the deployed processor\'s', () => {
    expect(configFromEnv({ JOINFLOW_LEASE_MS: '65000' }).leaseMs).toBe(65_000);
    expect(configFromEnv({}).leaseMs).toBe(FALLBACK_LEASE_MS);
    expect(() => configFromEnv({ JOINFLOW_LEASE_MS: '30s' })).toThrow('environment variable JOINFLOW_LEASE_MS must be a whole number of milliseconds, more than 0, got "30s"');
    expect(() => configFromEnv({ JOINFLOW_LEASE_MS: '0' })).toThrow('JOINFLOW_LEASE_MS must be a whole number');
  });
});
