/**
 * DynamoDB TriggerStore with single-item operations only — GetItem (consistent), conditional
 * PutItem/UpdateItem, BatchGetItem, Query — so it runs unchanged on dynalite, which has no
 * transactions. Runs (the `META` item), fire claims and results are here; the join counters, the
 * heart of the join algorithm of DESIGN.md, are in dynamodb-joins.ts; the key layout is in
 * dynamodb-keys.ts.
 */
import { createHash } from 'node:crypto';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { JoinflowError, UnreadableResultError } from '../../model/errors.ts';
import { describeResultKey } from '../../runtime/tasks.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import type { BlobStore, ClaimResult, RunRecord, RunStatus, TriggerStore } from '../../ports.ts';
import { createJoins, KEEP_EXPIRY } from './dynamodb-joins.ts';
import {
  checkPayload,
  MAX_PAYLOAD_BYTES,
  roomBeside,
  fromJsonAttr,
  type Item,
  itemKey,
  itemToRun,
  jsonAttr,
  n,
  RUN_WITHOUT_OUTPUT,
  runToItem,
  sortKey,
  tableAccess,
} from './dynamodb-keys.ts';
import { createRetention } from './retention.ts';

/** Table shape for deploy scripts and tests: CreateTable input, TTL setting, GSI and TTL names. */
export { STATUS_INDEX, tableDefinition, timeToLiveDefinition, TTL_ATTRIBUTE } from './dynamodb-keys.ts';

/** Options of the DynamoDB store. */
export type DynamoDbStoreOptions = {
  client: DynamoDBClient;
  table: string;
  /** Arrivals with an ordinal at or above this are sharded (markers + counters); default 1000. */
  shardThreshold?: number;
  /** Counter shards of a large join; default 16. Must not change while runs are in flight. */
  shards?: number;
  /**
   * Days until TTL removes a finished run's record; a working item is kept this long plus the
   * longest its run can still wait by its plan (see `plans` and retention.ts). Default 30.
   */
  ttlDays?: number;
  /**
   * The plans whose runs the table holds: a working item of a run is kept, from its first write,
   * `ttlDays` plus the longest a run of its plan can wait (delays, backoffs, timed attempts).
   * Without them (or for a run of another workflow) the longest wait of those given counts.
   */
  plans?: readonly TriggerPlan[];
  /**
   * Where results and run outputs too large for an item go (S3): the item then keeps
   * `outputRef`. Without it such payloads are refused with RESULT_TOO_LARGE.
   */
  blobs?: BlobStore;
};

/** How many runs' workflows a store remembers for the expiry of their items (see `plans`). */
const RUNS_REMEMBERED = 1000;

/** Creates a TriggerStore on one DynamoDB table (see `tableDefinition`). */
export function createDynamoDbStore(options: DynamoDbStoreOptions): TriggerStore {
  const db = tableAccess(options.client, options.table);
  const threshold = options.shardThreshold ?? 1000;
  const shards = options.shards ?? 16;
  const retention = createRetention({ ttlDays: options.ttlDays, plans: options.plans });
  // The workflow of the runs this store started or read lately (the processor reads a run before
  // it writes for it): their working items get their own plan's expiry, others the longest.
  const workflows = new Map<string, string>();
  const seen = (run: { runId: string; workflow: string }) => {
    if (workflows.has(run.runId) || run.workflow === '') return;
    workflows.set(run.runId, run.workflow);
    if (workflows.size > RUNS_REMEMBERED) workflows.delete(workflows.keys().next().value!);
  };
  const expiry = (runId: string) => n(retention.working(workflows.get(runId)));
  const joins = createJoins(db, { threshold, shards, expiry });

  /**
   * A payload as item attributes: inline, or claim-checked into the blob store when too big. The
   * blob is put before the item's conditional write, so its key names its content
   * (`<blobName>.<sha-256 prefix>.json`): a second write of another payload (a step that ran
   * twice, two endings racing) must not replace the object the first write's item refers to.
   */
  async function payload(what: string, value: unknown, blobName: string, room = MAX_PAYLOAD_BYTES): Promise<{ output?: AttributeValue; outputRef?: AttributeValue }> {
    const json = JSON.stringify(value ?? null);
    if (options.blobs && Buffer.byteLength(json) > room) {
      const digest = createHash('sha256').update(json).digest('hex').slice(0, 32);
      return { outputRef: { S: await options.blobs.put(`${blobName}.${digest}.json`, json) } };
    }
    checkPayload(what, value, 'RESULT_TOO_LARGE', room);
    const body = jsonAttr(value);
    return body ? { output: body } : {};
  }

  /**
   * The payload of an item written by `payload`; `what` names it (`the result of step "a" of run
   * "r"`). A claim-checked object that is gone, damaged or in another bucket reads the same on
   * every retry: UnreadableResultError, naming it. S3 unreachable or throttled is thrown as it is.
   */
  async function readPayload(item: Item, what: string): Promise<unknown> {
    const ref = item.outputRef?.S;
    if (ref === undefined) return fromJsonAttr(item.output);
    if (!options.blobs) throw new JoinflowError('STORE_ERROR', `an item of table "${options.table}" refers to ${ref}, but the store has no blob store to read it`);
    const unreadable = (why: string, cause: unknown) => new UnreadableResultError(`${what} is stored by reference at ${ref}, and ${why}`, { cause });
    let text: string;
    try {
      text = await options.blobs.get(ref);
    } catch (error) {
      if (!(error instanceof JoinflowError)) throw error;
      if (error.code === 'BLOB_NOT_FOUND') throw unreadable('that object does not exist (deleted by the bucket\'s lifecycle rule, custom.joinflow.claimCheckDays, or by hand?)', error);
      if (error.code === 'INVALID_BLOB_REF') throw unreadable(`it cannot be read: ${error.message}`, error);
      throw error;
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      throw unreadable(`that object is not JSON (${(error as Error).message})`, error);
    }
  }

  return {
    // Arrival sets hold ordinals and large fan-ins shard by them.
    ordinals: true,
    async startRun(start) {
      const run: RunRecord = { ...start, status: 'running' };
      checkPayload(`the input of run "${run.runId}"`, run.input, 'INPUT_TOO_LARGE');
      if (await db.putNew(runToItem(run))) {
        seen(run);
        return { created: true, run };
      }
      const existing = await db.get(run.runId, sortKey.meta);
      if (!existing) throw new JoinflowError('STORE_ERROR', `run "${run.runId}" exists in table "${options.table}" but its META item could not be read`);
      const stored = itemToRun(existing);
      seen(stored);
      return { created: false, run: stored };
    },

    async getRun(runId, options) {
      const item = await db.get(runId, sortKey.meta, options?.output === false ? RUN_WITHOUT_OUTPUT : undefined);
      if (!item) return undefined;
      const run = itemToRun(item);
      seen(run);
      // Only finished runs can carry a claim-checked output (not projected when not wanted); running ones read nothing extra.
      if (item.outputRef) run.output = await readPayload(item, `the output of run "${runId}"`);
      return run;
    },

    async runStatus(runId) {
      // The workflow too: the items the caller writes next for the run (the timer's claim) expire by its plan.
      const item = await db.get(runId, sortKey.meta, ['status', 'workflow']);
      if (!item) return undefined;
      seen({ runId, workflow: item.workflow?.S ?? '' });
      return (item.status?.S ?? 'running') as RunStatus;
    },

    async finishRun(runId, change) {
      // workflowStatus needs the workflow name (update expressions cannot concatenate strings);
      // the workflow never changes, and the condition below still decides a race between finishers.
      const item = await db.get(runId, sortKey.meta);
      if (!item || item.status?.S !== 'running') return false;
      // The output shares the META item with the run's input: together they must fit in 400 KB.
      const out = change.output === undefined ? {} : await payload(`the output of run "${runId}"`, change.output, `results/${runId}/$output`, roomBeside(item));
      const sets: Record<string, AttributeValue | undefined> = {
        status: { S: change.status },
        workflowStatus: { S: `${item.workflow?.S ?? ''}#${change.status}` },
        expiresAt: n(retention.finished()),
        finishedAt: change.finishedAt === undefined ? undefined : n(change.finishedAt),
        output: out.output,
        outputRef: out.outputRef,
        // A run that failed has no output: its error has the room (a message may be as long as a step's output).
        error: jsonAttr(change.error === undefined ? undefined : fitError(change.error, roomBeside(item))),
      };
      const names = Object.keys(sets).filter((name) => sets[name] !== undefined);
      const values: Item = { ':running': { S: 'running' } };
      for (const name of names) values[`:${name}`] = sets[name]!;
      return (
        (await db.updateIf(runId, sortKey.meta, {
          names,
          UpdateExpression: `SET ${names.map((name) => `#${name} = :${name}`).join(', ')}`,
          ConditionExpression: '#status = :running',
          ExpressionAttributeValues: values,
        })) !== false
      );
    },

    arrive: joins.arrive,
    setNeed: joins.setNeed,

    async claim(runId, trigger, now, leaseMs): Promise<ClaimResult> {
      const won = await db.updateIf(runId, sortKey.join(trigger), {
        names: ['claimedAt'],
        UpdateExpression: `SET #claimedAt = :now, ${KEEP_EXPIRY}`,
        ConditionExpression: 'attribute_not_exists(#claimedAt)',
        ExpressionAttributeValues: { ':now': n(now), ':exp': expiry(runId) },
      });
      if (won !== false) return 'won';
      // Claimed but never dispatched within the lease: the claimer died, so this caller redoes it.
      const reclaimed = await db.updateIf(runId, sortKey.join(trigger), {
        names: ['claimedAt', 'dispatchedAt'],
        UpdateExpression: 'SET #claimedAt = :now',
        ConditionExpression: 'attribute_not_exists(#dispatchedAt) AND #claimedAt <= :staleBefore',
        ExpressionAttributeValues: { ':now': n(now), ':staleBefore': n(now - leaseMs) },
      });
      return reclaimed !== false ? 'reclaimed' : 'taken';
    },

    async markDispatched(runId, trigger, now) {
      await db.updateIf(runId, sortKey.join(trigger), {
        names: ['dispatchedAt'],
        UpdateExpression: 'SET #dispatchedAt = :now',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#dispatchedAt)',
        ExpressionAttributeValues: { ':now': n(now) },
      });
    },

    async saveResult(runId, key, output) {
      const item: Item = {
        ...itemKey(runId, sortKey.result(key)),
        expiresAt: expiry(runId),
        ...(await payload(`the result "${key}" of run "${runId}"`, output, `results/${runId}/${key}`)),
      };
      // First write wins: a redelivered completion must not replace a result others may have read.
      await db.putNew(item);
    },

    async getResults(runId, keys) {
      // BatchGetItem rejects duplicate keys in one request.
      const unique = [...new Set(keys)];
      const items = await db.batchGet(unique.map((k) => itemKey(runId, sortKey.result(k))));
      const byKey = new Map(items.map((item) => [(item.sk?.S ?? '').slice(sortKey.resultPrefix.length), item]));
      // In the keys' order (BatchGetItem answers in any): of several unreadable results, the first is named.
      const saved = unique.filter((k) => byKey.has(k));
      const values = await readAll(saved.length, (i) => readPayload(byKey.get(saved[i]!)!, `${describeResultKey(saved[i]!)} of run "${runId}"`));
      return new Map(saved.map((key, i) => [key, values[i]]));
    },

    async savedKeys(runId, keys) {
      // The keys alone: a claim-checked result's item says it exists without its object being read.
      const items = await db.batchGet([...new Set(keys)].map((k) => itemKey(runId, sortKey.result(k))), ['sk']);
      return new Set(items.map((item) => (item.sk?.S ?? '').slice(sortKey.resultPrefix.length)));
    },

    async commit() {
      // Every write is durable once DynamoDB acknowledges it: nothing is held back to group.
    },

    async release(runId) {
      // TTL deletes the run's items; make sure a finished run's META carries its expiry.
      await db.updateIf(runId, sortKey.meta, {
        names: ['status'],
        UpdateExpression: `SET ${KEEP_EXPIRY}`,
        ConditionExpression: 'attribute_exists(pk) AND #status <> :running',
        ExpressionAttributeValues: { ':exp': n(retention.finished()), ':running': { S: 'running' } },
      });
    },
  };
}

/** Claim-checked results read from the bucket at once: a collect over thousands of them is not one GET after another, nor thousands of sockets. */
export const READ_CONCURRENCY = 16;

/**
 * `read(0 .. n-1)`, up to {@link READ_CONCURRENCY} at a time, in index order. Once a read fails no
 * other starts; the error thrown, once the reads in flight have ended, is the failed read's of
 * lowest index (every read before it was started), the one reading them one by one would throw.
 */
async function readAll<T>(n: number, read: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  let failedAt = Infinity;
  let failure: unknown;
  const lane = async (): Promise<void> => {
    while (next < n && failedAt === Infinity) {
      const i = next++;
      try {
        out[i] = await read(i);
      } catch (error) {
        if (i < failedAt) [failedAt, failure] = [i, error];
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, n) }, lane));
  if (failedAt !== Infinity) throw failure;
  return out;
}

/** A run's error with its message shortened (saying how much was cut) until its JSON takes at most `room` bytes. */
export function fitError<E extends { message: string }>(error: E, room: number): E {
  let json = JSON.stringify(error);
  if (Buffer.byteLength(json) <= room) return error;
  const message = error.message;
  let keep = message.length;
  while (keep > 0) {
    // Shrink by what is over, in proportion (a character is 1 to 4 bytes, more once escaped in JSON).
    keep = Math.max(0, Math.floor(keep * (room / Buffer.byteLength(json))) - 64);
    const shorter = { ...error, message: `${message.slice(0, keep)}... (${message.length - keep} more characters cut to fit the run's item)` };
    json = JSON.stringify(shorter);
    if (Buffer.byteLength(json) <= room) return shorter;
  }
  return { ...error, message: `(${message.length} characters cut to fit the run's item)` };
}
