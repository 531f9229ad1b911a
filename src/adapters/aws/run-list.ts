/**
 * The runs of a deployed stage for `joinflow list`: from the table's sparse GSI byWorkflowStatus
 * (`<workflow>#<status>`, sorted by `startedAt`), which only the runs' META items populate.
 */
import { QueryCommand, ScanCommand, type DynamoDBClient, type QueryCommandInput, type ScanCommandInput } from '@aws-sdk/client-dynamodb';
import type { RunRecord, RunStatus } from '../../ports.ts';
import { itemToRun, STATUS_INDEX, type Item } from './dynamodb-keys.ts';

export const RUN_STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'cancelled'];

/**
 * The stage's runs, newest first, at most `limit` of them. With a workflow, one Query per status
 * asked for (the index's key); without one, a Scan of the index (it holds one item per run),
 * filtered by status when one is asked for. The index is eventually consistent: a run that
 * changed status a moment ago may show its previous one.
 */
export async function listStageRuns(
  client: DynamoDBClient,
  table: string,
  filter: { workflow?: string; status?: RunStatus; limit?: number } = {},
): Promise<RunRecord[]> {
  const items: Item[] = [];
  if (filter.workflow !== undefined) {
    for (const status of filter.status === undefined ? RUN_STATUSES : [filter.status]) {
      // Newest first from each status: no more than `limit` are needed from any one of them.
      await pages(client, (start) => new QueryCommand({
        TableName: table,
        IndexName: STATUS_INDEX,
        KeyConditionExpression: 'workflowStatus = :ws',
        ExpressionAttributeValues: { ':ws': { S: `${filter.workflow}#${status}` } },
        ScanIndexForward: false,
        ...(start ? { ExclusiveStartKey: start } : {}),
      } satisfies QueryCommandInput), items, filter.limit);
    }
  } else {
    await pages(client, (start) => new ScanCommand({
      TableName: table,
      IndexName: STATUS_INDEX,
      ...(filter.status === undefined
        ? {}
        : { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' }, ExpressionAttributeValues: { ':status': { S: filter.status } } }),
      ...(start ? { ExclusiveStartKey: start } : {}),
    } satisfies ScanCommandInput), items);
  }
  const runs = items.map(itemToRun).sort((a, b) => b.startedAt - a.startedAt || a.runId.localeCompare(b.runId));
  return filter.limit === undefined ? runs : runs.slice(0, filter.limit);
}

/** Reads every page of a Query or Scan into `items` (a Query stops once it has `enough` of its own). */
async function pages(
  client: DynamoDBClient,
  command: (start: Record<string, Item[string]> | undefined) => QueryCommand | ScanCommand,
  items: Item[],
  enough = Infinity,
): Promise<void> {
  let start: Record<string, Item[string]> | undefined;
  let got = 0;
  do {
    const page = await client.send(command(start) as QueryCommand);
    const found = (page.Items ?? []) as Item[];
    items.push(...found);
    got += found.length;
    start = page.LastEvaluatedKey as typeof start;
  } while (start && got < enough);
}
