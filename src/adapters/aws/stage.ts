/** Client-side operations against a deployed stage, for the CLI: start a run, read its status. */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DetailType, JOINFLOW_SOURCE, type RunRequested } from '../../model/events.ts';
import { clientOptions, type AwsConfig } from './config.ts';
import { createEventBridgeBus } from './eventbridge-bus.ts';
import { readRunStatus } from './run-status.ts';

/** Puts "Run Requested" on the stage's bus. */
export async function requestRun(config: AwsConfig, detail: RunRequested & { runId: string }): Promise<void> {
  const bus = createEventBridgeBus({ client: new EventBridgeClient(clientOptions(config, 'eventbridge')), busName: config.bus });
  await bus.publish([{ id: randomUUID(), source: JOINFLOW_SOURCE, 'detail-type': DetailType.RunRequested, time: new Date().toISOString(), detail }]);
}

/** A run and its steps from the stage's table. */
export function stageRunStatus(config: AwsConfig, runId: string): ReturnType<typeof readRunStatus> {
  return readRunStatus(new DynamoDBClient(clientOptions(config, 'dynamodb')), config.table, runId);
}
