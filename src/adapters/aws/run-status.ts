/**
 * Reads a run's state from the DynamoDB table for `joinflow status`: the META item, which
 * steps fired (their trigger's claim and dispatch times), which completed (their results), and
 * which can never run (their `$lost:<step>` trigger fired: too many of their needs failed), and
 * which a choice skipped (the processor's `$skipped:<step>` note), and which failed for good and
 * were caught (the `$caught:<step>` note their catch step reads its error from), and which failed
 * for good (the processor's `$failed:<step>[#item]` note; the step that failed a failed run is
 * also named in its record's error), and which were still running on Batch when the run ended and
 * were stopped (their `JOB#` item's `stoppedAt`, batch-jobs.ts), and which forEach steps fanned
 * out over an empty array (their `$collect:<step>` join's `need` is 0: the width the fan-out set),
 * and, of a running run, which wait on the timer queue for their `delayMs` or a retry's backoff
 * (the due time noted on the timer's claim item: timer-dues.ts).
 */
import { QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { RunRecord } from '../../ports.ts';
import { TriggerId } from '../../compiler/compile.ts';
import { caughtKey, failedKey, skippedKey } from '../../runtime/tasks.ts';
import { JOB_PREFIX } from './batch-jobs.ts';
import { itemKey, itemToRun, num, sortKey, type Item } from './dynamodb-keys.ts';
import { markNeverStarted, markWaiting, timerNote, type TimerNote } from './timer-dues.ts';

const LOST_PREFIX = TriggerId.lost('');
const COLLECT_PREFIX = TriggerId.collect('');
const SKIPPED_PREFIX = skippedKey('');
const CAUGHT_PREFIX = caughtKey('');
const FAILED_PREFIX = failedKey('');

/**
 * One step as status shows it. Items count a forEach step's finished items (0: it fanned out over
 * an empty array, and completed with []). `lost`: it can never run. `jobs`: its Batch jobs not
 * known to have ended (a step still running on Batch), by id. `waiting`: its start waits for its
 * `delayMs` (`delay`), or its retry for its backoff (`unstarted`, as the embedded status gives
 * them; of a forEach step, the soonest of its items', `retriesWaiting` counting them when several).
 */
export type StepStatus = {
  step: string;
  state: 'dispatched' | 'waiting' | 'completed' | 'failed' | 'lost' | 'skipped' | 'caught' | 'stopped';
  dispatchedAt?: number;
  items?: number;
  jobs?: string[];
  delay?: { dueAt: number };
  /** An attempt on the timer queue: due then (`scheduled`), or never started, the run having ended first (`cancelled`). */
  unstarted?: { attempt: number; state: 'scheduled'; dueAt: number; item?: number } | { attempt: number; state: 'cancelled'; item?: number };
  retriesWaiting?: number;
};

/** A run with its steps, or undefined when the table has no such run. */
export async function readRunStatus(client: DynamoDBClient, table: string, runId: string): Promise<{ run: RunRecord; steps: StepStatus[]; outputRef?: string } | undefined> {
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
  const lost: string[] = [];
  const failures: string[] = [];
  const stopped = new Set<string>();
  const running = new Map<string, string[]>();
  const empty = new Set<string>();
  const timers: TimerNote[] = [];
  for (const item of items) {
    const sk = item['sk']?.S ?? '';
    if (sk.startsWith(JOB_PREFIX)) {
      const step = item['step']?.S;
      if (!step) continue;
      if (num(item, 'stoppedAt') !== undefined) stopped.add(step);
      const ids = item['jobIds']?.SS ?? [];
      if (ids.length > 0) running.set(step, [...(running.get(step) ?? []), ...ids]);
      continue;
    }
    if (sk.startsWith('TRIG#')) {
      const trigger = sk.slice('TRIG#'.length);
      if (trigger.startsWith(LOST_PREFIX) && !trigger.includes('#')) {
        if (num(item, 'claimedAt') !== undefined) lost.push(trigger.slice(LOST_PREFIX.length));
        continue;
      }
      // A forEach's collect is sized by its fan-out (setNeed): 0 when its array was empty.
      if (trigger.startsWith(COLLECT_PREFIX) && !trigger.includes('#')) {
        if (num(item, 'need') === 0) empty.add(trigger.slice(COLLECT_PREFIX.length));
        continue;
      }
      const timer = timerNote(trigger, item);
      if (timer) {
        timers.push(timer);
        continue;
      }
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
    if (key.startsWith(FAILED_PREFIX)) {
      failures.push(key.slice(FAILED_PREFIX.length));
      continue;
    }
    if (key.startsWith(SKIPPED_PREFIX) || key.startsWith(CAUGHT_PREFIX)) {
      const skipped = key.startsWith(SKIPPED_PREFIX);
      const step = key.slice((skipped ? SKIPPED_PREFIX : CAUGHT_PREFIX).length);
      steps.set(step, { ...steps.get(step), step, state: skipped ? 'skipped' : 'caught' });
      continue;
    }
    const hash = key.lastIndexOf('#');
    const isItem = hash > 0 && /^\d+$/.test(key.slice(hash + 1));
    const step = isItem ? key.slice(0, hash) : key;
    const s = steps.get(step) ?? { step, state: 'dispatched' as const };
    if (isItem) s.items = (s.items ?? 0) + 1;
    else s.state = 'completed';
    steps.set(step, s);
  }
  const run = itemToRun(meta);
  // Steps that failed for good (an item of a forEach step: the step; its other items may be done),
  // and the one that failed the run, noted or not (a run failed by code from before the notes).
  if (run.status === 'failed' && run.error?.step !== undefined) failures.push(run.error.step);
  for (const key of failures) {
    const hash = key.lastIndexOf('#');
    const step = hash > 0 && /^\d+$/.test(key.slice(hash + 1)) ? key.slice(0, hash) : key;
    // A step that could never run failed too (NeedsFailed): it shows as lost.
    if (lost.includes(step)) continue;
    const s = steps.get(step);
    if (!s) steps.set(step, { step, state: 'failed' });
    else if (s.state === 'dispatched') s.state = 'failed';
  }
  // Still running when the run ended, and stopped then (not a step that completed or failed before).
  for (const step of stopped) {
    const s = steps.get(step);
    if (s?.state === 'dispatched') s.state = 'stopped';
  }
  for (const step of empty) {
    const s = steps.get(step);
    if (s) s.items = 0;
  }
  // An ended run's timers are dropped when due: none of its steps waits, and what waited never starts.
  if (run.status === 'running') markWaiting(steps, timers);
  else markNeverStarted(steps, timers);
  for (const [step, ids] of running) {
    const s = steps.get(step);
    if (s) s.jobs = ids.sort();
  }
  const ordered = [...steps.values()].sort((a, b) => (a.dispatchedAt ?? 0) - (b.dispatchedAt ?? 0) || a.step.localeCompare(b.step));
  for (const step of lost.sort()) if (!steps.has(step)) ordered.push({ step, state: 'lost' });
  // An output too large for the item is in the bucket (a claim check): where, not its content.
  const outputRef = meta['outputRef']?.S;
  return { run, steps: ordered, ...(outputRef === undefined ? {} : { outputRef }) };
}
