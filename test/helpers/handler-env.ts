/**
 * The environment the AWS handlers read (src/adapters/aws/wiring.ts) for a test that calls them
 * in process: DynamoDB on dynalite, no bucket, Lambda and Batch names as the deployment gives
 * them, logs off. Sets it, removes what would point elsewhere, and rebuilds the wiring. And
 * loggedErrors, to read the error lines the handlers log.
 */
import { vi } from 'vitest';
import { resetWiring } from '../../src/adapters/aws/wiring.ts';

export const TEST_JOB_QUEUES = { cpu: 'arn:aws:batch:us-east-1:1:job-queue/cpu', gpu: 'arn:aws:batch:us-east-1:1:job-queue/gpu' };

export function useHandlerEnv(o: { triggers: string; table: string; dynamoEndpoint: string; functions: Record<string, string>; jobDefinitions: Record<string, string> }): void {
  Object.assign(process.env, {
    JOINFLOW_TRIGGERS_DIR: o.triggers,
    JOINFLOW_TABLE: o.table,
    JOINFLOW_BUS: 'joinflow-test',
    JOINFLOW_FUNCTIONS: JSON.stringify(o.functions),
    JOINFLOW_JOB_DEFINITIONS: JSON.stringify(o.jobDefinitions),
    JOINFLOW_JOB_QUEUES: JSON.stringify(TEST_JOB_QUEUES),
    AWS_ENDPOINT_URL_DYNAMODB: o.dynamoEndpoint,
    AWS_ACCESS_KEY_ID: 'DYNALITE',
    AWS_SECRET_ACCESS_KEY: 'DYNALITE',
    AWS_REGION: 'us-east-1',
    JOINFLOW_LOG_LEVEL: 'off',
  });
  for (const k of ['JOINFLOW_BUCKET', 'AWS_ENDPOINT_URL']) delete process.env[k];
  resetWiring();
}

/** The error lines the handlers log (JSON, as CloudWatch gets them) while `fn` runs; logs are off again after it. */
export async function loggedErrors(fn: () => Promise<void>): Promise<Array<Record<string, unknown>>> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => void lines.push(String(line)));
  process.env['JOINFLOW_LOG_LEVEL'] = 'error';
  try {
    await fn();
  } finally {
    process.env['JOINFLOW_LOG_LEVEL'] = 'off';
    spy.mockRestore();
  }
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}
