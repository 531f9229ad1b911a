/** Client-side operations against a deployed stage, for the CLI: start a run, read its status. */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DetailType, JOINFLOW_SOURCE, type RunRequested } from '../../model/events.ts';
import { JoinflowError } from '../../model/errors.ts';
import { clientOptions, type AwsConfig } from './config.ts';
import { createEventBridgeBus } from './eventbridge-bus.ts';
import { readRunStatus } from './run-status.ts';

/** Puts "Run Requested" on the stage's bus. */
export async function requestRun(config: AwsConfig, detail: RunRequested & { runId: string }): Promise<void> {
  const bus = createEventBridgeBus({ client: new EventBridgeClient(clientOptions(config, 'eventbridge')), busName: config.bus });
  await bus.publish([{ id: randomUUID(), source: JOINFLOW_SOURCE, 'detail-type': DetailType.RunRequested, time: new Date().toISOString(), detail }]);
}

/**
 * A run and its steps from the stage's table. A failed read (no credentials, no such table, no
 * endpoint) is a JoinflowError naming the table and what to check.
 */
export async function stageRunStatus(config: AwsConfig, runId: string): ReturnType<typeof readRunStatus> {
  try {
    return await readRunStatus(new DynamoDBClient(clientOptions(config, 'dynamodb')), config.table, runId);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const where = `table "${config.table}" (region ${config.region}${config.endpoint ? `, endpoint ${config.endpoint}` : ''})`;
    const hint =
      e.name === 'ResourceNotFoundException' ? `: is stage "${config.stage}" deployed? (npx serverless deploy --stage ${config.stage})` :
      e.name === 'CredentialsProviderError' ? ': give AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)' : '';
    throw new JoinflowError('STATUS_READ_FAILED', `reading run "${runId}" from ${where} failed: ${e.name}: ${firstLine(e.message)}${hint}`, { cause: err });
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}
