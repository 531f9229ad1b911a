/**
 * Reads a run's state from the DynamoDB table for `joinflow status`: the META item, which
 * steps fired (their trigger's claim and dispatch times) and which completed (their results).
 */
import { QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { RunRecord } from '../../ports.ts';
import { itemKey, itemToRun, num, sortKey, type Item } from './dynamodb-keys.ts';

/** One step as status shows it. Items count a forEach step's finished items. */
export type StepStatus = {
  step: string;
  state: 'dispatched' | 'completed';
  dispatchedAt?: number;
  items?: number;
};

/** A run with its steps, or undefined when the table has no such run. */
export async function readRunStatus(client: DynamoDBClient, table: string, runId: string): Promise<{ run: RunRecord; steps: StepStatus[] } | undefined> {
  const items: Item[] = [];
  let start: Record<string, Item[string]> | undefined;
  do {
    const page = await client.send(new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': itemKey(runId, sortKey.meta).pk },
      ConsistentRead: true,
      ...(start ? { ExclusiveStartKey: start } : {}),
    }));
    items.push(...((page.Items ?? []) as Item[]));
    start = page.LastEvaluatedKey as typeof start;
  } while (start);
  const meta = items.find((i) => i['sk']?.S === sortKey.meta);
  if (!meta) return undefined;
  const steps = new Map<string, StepStatus>();
  for (const item of items) {
    const sk = item['sk']?.S ?? '';
    if (sk.startsWith('TRIG#')) {
      const trigger = sk.slice('TRIG#'.length);
      // Internal triggers ($collect, $succeed, ...) and shard/marker items are not steps.
      if (trigger.startsWith('$') || trigger.includes('#')) continue;
      if (num(item, 'claimedAt') === undefined) continue;
      const dispatchedAt = num(item, 'dispatchedAt');
      steps.set(trigger, { step: trigger, state: 'dispatched', ...(dispatchedAt === undefined ? {} : { dispatchedAt }) });
    }
  }
  for (const item of items) {
    const sk = item['sk']?.S ?? '';
    if (!sk.startsWith(sortKey.resultPrefix)) continue;
    const key = sk.slice(sortKey.resultPrefix.length);
    const hash = key.lastIndexOf('#');
    const isItem = hash > 0 && /^\d+$/.test(key.slice(hash + 1));
    const step = isItem ? key.slice(0, hash) : key;
    const s = steps.get(step) ?? { step, state: 'dispatched' as const };
    if (isItem) s.items = (s.items ?? 0) + 1;
    else s.state = 'completed';
    steps.set(step, s);
  }
  return { run: itemToRun(meta), steps: [...steps.values()].sort((a, b) => (a.dispatchedAt ?? 0) - (b.dispatchedAt ?? 0) || a.step.localeCompare(b.step)) };
}
