/**
 * DynamoDB TriggerStore: the join algorithm of DESIGN.md ("Triggers and joins") with single-item
 * operations only — GetItem (consistent), conditional PutItem/UpdateItem, BatchGetItem, Query — so
 * it runs unchanged on dynalite, which has no transactions. Key layout: dynamodb-keys.ts.
 *
 * Small joins (the common case): one join item `TRIG#<trigger>`. An arrival is
 * `ADD arrived :k, cnt :1` conditioned on `NOT contains(arrived, :k)`; the condition makes a
 * redelivered arrival a no-op that is read back instead (a duplicate is not an error). The set
 * holds ordinals (NS, a few bytes each) when the caller gives them, else the keys (SS).
 *
 * Large fan-in: one item must stay under 400 KB and takes about 1,000 writes/s, so a join with
 * thousands of arrivals cannot keep them all in one set on one item. Arrivals whose ordinal is
 * >= `shardThreshold` (which implies need > shardThreshold, because ordinal < need) are kept
 * off the join item:
 *  - a marker item per arrival, `TRIG#<trigger>#A#<shard>#<ordinal>`, put with
 *    `attribute_not_exists(pk)`: it exists already exactly when the arrival is a duplicate;
 *  - a shard counter `TRIG#<trigger>#S#<ordinal % shards>`, `ADD cnt :1`.
 * `ordinal % shards` is deterministic, so once `need` is known each shard's final count (its
 * share of [shardThreshold, need)) is known too. The arrival that brings a shard to exactly its
 * share records the shard on the join item (`ADD doneShards :s`, conditioned on it being absent);
 * the join is complete when the join item's own `cnt` plus the shares of its `doneShards` reaches
 * `need`. Every completion test is made on the ALL_NEW image of a write to the join item, so
 * exactly one write sees the join become complete. Below `need`, the returned count is a lower
 * bound (the join item's count plus the full shards; a shard arrival returns its shard's count):
 * the runtime only compares it with `need`.
 * Sizes and rates: the join item holds at most `shardThreshold` ordinals plus `shards` numbers
 * (a few KB) and takes at most `shardThreshold` arrival writes in all; each shard takes 1/shards
 * of the rest (16 shards ≈ 16,000 arrivals/s into one join); markers are written once each.
 * (A burst of the first `shardThreshold` arrivals can meet the join item's rate for about a
 * second; the SDK retries that throttling.) DynamoDB splits a hot partition by sort key, so the
 * per-item rate is the limit that matters, not the shared partition key.
 *
 * Routing depends on the ordinal alone, never on whether `need` was passed, so an arrival and
 * its redelivery are always deduplicated in the same place. Need unknown at arrival (a dynamic
 * fan-out not yet sized): ordinals below the threshold go to the join item's set (bounded by the
 * threshold, so it stays small), the others to markers and shards, as above. `setNeed` then
 * stores need on the join item, copies it to every shard that can receive arrivals and reads each
 * shard's count in the same write; whichever comes last on a shard item — its final increment or
 * the copy of need — sees both and records the full shard.
 *
 * No transactions means a processor can die between writing a marker and incrementing its shard;
 * the counter then lags by one forever. The markers are the truth: a redelivered (duplicate)
 * arrival, and `setNeed`, count an incomplete shard's markers (Query, Select COUNT) and record the
 * shard when they are all there. A redelivery may come before the shard's other arrivals, when
 * the markers are not all in: it first adds to the shard's count of duplicates (`dups`), and a
 * fresh arrival whose counter falls short by no more than that counts the markers too. One of
 * the two sees every marker. Redelivery is guaranteed for an event whose processing died, so a
 * join never hangs on a lost increment. A shard count must not change while runs are in flight.
 */
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { JoinflowError } from '../../model/errors.ts';
import type { BlobStore, ClaimResult, JoinState, RunRecord, TriggerStore } from '../../ports.ts';
import {
  checkPayload,
  MAX_PAYLOAD_BYTES,
  roomBeside,
  expiryFromNow,
  fromJsonAttr,
  type Item,
  itemKey,
  itemToRun,
  jsonAttr,
  n,
  num,
  numSet,
  runToItem,
  shardShare,
  sortKey,
  tableAccess,
} from './dynamodb-keys.ts';

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
  /** Days until TTL removes a finished run, and working items counted from their first write; default 30. */
  ttlDays?: number;
  /**
   * Where results and run outputs too large for an item go (S3): the item then keeps
   * `outputRef`. Without it such payloads are refused with RESULT_TOO_LARGE.
   */
  blobs?: BlobStore;
};

// Working items carry the TTL from their first write, so an abandoned run is cleaned up too.
const KEEP_EXPIRY = 'expiresAt = if_not_exists(expiresAt, :exp)';

/** Creates a TriggerStore on one DynamoDB table (see `tableDefinition`). */
export function createDynamoDbStore(options: DynamoDbStoreOptions): TriggerStore {
  const db = tableAccess(options.client, options.table);
  const threshold = options.shardThreshold ?? 1000;
  const shards = options.shards ?? 16;
  const ttlDays = options.ttlDays ?? 30;
  const expiry = () => n(expiryFromNow(ttlDays));
  const share = (shard: number, need: number) => shardShare(shard, shards, threshold, need);
  const setNeedIfGiven = (need: number | undefined) => (need === undefined ? '' : ', #need = if_not_exists(#need, :need)');

  /** A payload as item attributes: inline, or claim-checked into the blob store when too big. */
  async function payload(what: string, value: unknown, blobKey: string, room = MAX_PAYLOAD_BYTES): Promise<{ output?: AttributeValue; outputRef?: AttributeValue }> {
    const json = JSON.stringify(value ?? null);
    if (options.blobs && Buffer.byteLength(json) > room) return { outputRef: { S: await options.blobs.put(blobKey, json) } };
    checkPayload(what, value, 'RESULT_TOO_LARGE', room);
    const body = jsonAttr(value);
    return body ? { output: body } : {};
  }

  /** The payload of an item written by `payload`. */
  async function readPayload(item: Item): Promise<unknown> {
    const ref = item.outputRef?.S;
    if (ref === undefined) return fromJsonAttr(item.output);
    if (!options.blobs) throw new JoinflowError('STORE_ERROR', `an item of table "${options.table}" refers to ${ref}, but the store has no blob store to read it`);
    return JSON.parse(await options.blobs.get(ref));
  }

  /** The join as its join item tells it: exact for unsharded joins, a lower bound below `need` otherwise. */
  function joinState(item: Item | undefined, fresh: boolean, needHint?: number): JoinState {
    const need = num(item, 'need') ?? needHint;
    const count = num(item, 'cnt') ?? 0;
    if (need === undefined) return { fresh, count, need };
    const full = numSet(item, 'doneShards').reduce((sum, s) => sum + share(s, need), 0);
    return { fresh, count: count + full, need };
  }

  async function arriveOnJoin(runId: string, trigger: string, key: string, need: number | undefined, ordinal: number | undefined) {
    const attr = ordinal === undefined ? 'arrivedKeys' : 'arrived';
    const values: Item = {
      ':k': ordinal === undefined ? { SS: [key] } : { NS: [String(ordinal)] },
      ':kv': ordinal === undefined ? { S: key } : n(ordinal),
      ':one': n(1),
      ':exp': expiry(),
    };
    if (need !== undefined) values[':need'] = n(need);
    const fresh = await db.updateIf(runId, sortKey.join(trigger), {
      names: [attr, 'cnt', ...(need === undefined ? [] : ['need'])],
      UpdateExpression: `ADD #${attr} :k, #cnt :one SET ${KEEP_EXPIRY}${setNeedIfGiven(need)}`,
      ConditionExpression: `attribute_not_exists(#${attr}) OR NOT contains(#${attr}, :kv)`,
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    });
    if (fresh !== false) return joinState(fresh === true ? undefined : fresh, true);
    // A duplicate: read back so the caller re-checks (it may finish a fire a crashed processor claimed).
    const item = await db.get(runId, sortKey.join(trigger));
    // Like a fresh arrival, a duplicate that brings the first need stores it.
    if (need !== undefined && num(item, 'need') === undefined) return { ...(await setNeed(runId, trigger, need)), fresh: false };
    return joinState(item, false);
  }

  async function arriveSharded(runId: string, trigger: string, key: string, need: number | undefined, ordinal: number) {
    const shard = ordinal % shards;
    const marker = { ...itemKey(runId, sortKey.marker(trigger, shard, ordinal)), join: { S: trigger }, key: { S: key }, expiresAt: expiry() };
    if (!(await db.putNew(marker))) return duplicateSharded(runId, trigger, need, shard);
    const values: Item = { ':one': n(1), ':join': { S: trigger }, ':exp': expiry() };
    if (need !== undefined) values[':need'] = n(need);
    const counter = await db.update(runId, sortKey.shard(trigger, shard), {
      names: ['cnt', 'join', ...(need === undefined ? [] : ['need'])],
      UpdateExpression: `ADD #cnt :one SET #join = :join, ${KEEP_EXPIRY}${setNeedIfGiven(need)}`,
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    });
    const count = num(counter, 'cnt') ?? 0;
    // Need not copied to this shard yet: setNeed sees this increment when it copies need here.
    const shardNeed = num(counter, 'need');
    if (shardNeed === undefined) return { fresh: true, count, need: undefined };
    const full = share(shard, shardNeed);
    // Short by no more than the duplicates the shard has seen: one may stand for an increment
    // lost after its marker, redelivered before the shard's last arrival (see the file comment).
    // The markers tell.
    const lost = count < full && count + (num(counter, 'dups') ?? 0) >= full && (await db.count(runId, sortKey.markerPrefix(trigger, shard), trigger)) >= full;
    if (count !== full && !lost) return { fresh: true, count: Math.min(count, shardNeed - 1), need: shardNeed };
    return recordFullShard(runId, trigger, shard, shardNeed, true);
  }

  async function duplicateSharded(runId: string, trigger: string, need: number | undefined, shard: number): Promise<JoinState> {
    // Said on the shard before its markers are counted: if the shard's last arrival increments it
    // after this, that arrival sees the mark and counts the markers itself; if before, its marker
    // is in when they are counted here.
    await db.update(runId, sortKey.shard(trigger, shard), {
      names: ['dups', 'join'],
      UpdateExpression: `ADD #dups :one SET #join = :join, ${KEEP_EXPIRY}`,
      ExpressionAttributeValues: { ':one': n(1), ':join': { S: trigger }, ':exp': expiry() },
    });
    const item = await db.get(runId, sortKey.join(trigger));
    const state = joinState(item, false, need);
    if (state.need === undefined || state.count >= state.need || numSet(item, 'doneShards').includes(shard)) return state;
    // The first delivery may have died between its marker and its increment (see the file
    // comment): if this shard's markers are all in, record the shard from them.
    const markers = await db.count(runId, sortKey.markerPrefix(trigger, shard), trigger);
    if (markers < share(shard, state.need)) return state;
    return recordFullShard(runId, trigger, shard, state.need, false);
  }

  /** Records a full shard on the join item; the write that completes the join observes it. */
  async function recordFullShard(runId: string, trigger: string, shard: number, need: number, fresh: boolean): Promise<JoinState> {
    const image = await db.updateIf(runId, sortKey.join(trigger), {
      names: ['doneShards', 'need'],
      UpdateExpression: `ADD #doneShards :s SET #need = if_not_exists(#need, :need), ${KEEP_EXPIRY}`,
      ConditionExpression: 'attribute_not_exists(#doneShards) OR NOT contains(#doneShards, :sv)',
      ExpressionAttributeValues: { ':s': { NS: [String(shard)] }, ':sv': n(shard), ':need': n(need), ':exp': expiry() },
      ReturnValues: 'ALL_NEW',
    });
    // Recorded by someone else (a repair racing the last increment): that writer observes the join.
    if (typeof image === 'boolean') return { fresh, count: Math.min(share(shard, need), need - 1), need };
    return joinState(image, fresh);
  }

  /** Copies need to a shard and records the shard if it is full; returns how many arrivals it holds. */
  async function settleShard(runId: string, trigger: string, shard: number, need: number): Promise<{ count: number; state?: JoinState }> {
    const counter = await db.update(runId, sortKey.shard(trigger, shard), {
      names: ['need', 'join'],
      UpdateExpression: `SET #need = if_not_exists(#need, :need), #join = :join, ${KEEP_EXPIRY}`,
      ExpressionAttributeValues: { ':need': n(need), ':join': { S: trigger }, ':exp': expiry() },
      ReturnValues: 'ALL_NEW',
    });
    const full = share(shard, need);
    let count = num(counter, 'cnt') ?? 0;
    // A lost increment may have been redelivered before need was known, when it could not repair.
    if (count < full) count = Math.max(count, await db.count(runId, sortKey.markerPrefix(trigger, shard), trigger));
    if (count < full) return { count };
    return { count: full, state: await recordFullShard(runId, trigger, shard, need, false) };
  }

  async function setNeed(runId: string, trigger: string, need: number): Promise<JoinState> {
    const image = await db.update(runId, sortKey.join(trigger), {
      names: ['need'],
      UpdateExpression: `SET #need = if_not_exists(#need, :need), ${KEEP_EXPIRY}`,
      ExpressionAttributeValues: { ':need': n(need), ':exp': expiry() },
      ReturnValues: 'ALL_NEW',
    });
    const state = joinState(image, false);
    const stored = state.need ?? need;
    if (state.count >= stored) return state;
    const done = new Set(numSet(image, 'doneShards'));
    const open = Array.from({ length: shards }, (_, s) => s).filter((s) => !done.has(s) && share(s, stored) > 0);
    const settled = await Promise.all(open.map((s) => settleShard(runId, trigger, s, stored)));
    const completed = settled.find((r) => r.state !== undefined && r.state.count >= stored)?.state;
    if (completed) return { ...completed, fresh: false };
    const count = settled.reduce((sum, r) => sum + r.count, state.count);
    return { fresh: false, count: Math.min(count, stored - 1), need: stored };
  }

  return {
    // Arrival sets hold ordinals and large fan-ins shard by them.
    ordinals: true,
    async startRun(start) {
      const run: RunRecord = { ...start, status: 'running' };
      checkPayload(`the input of run "${run.runId}"`, run.input, 'INPUT_TOO_LARGE');
      if (await db.putNew(runToItem(run))) return { created: true, run };
      const existing = await db.get(run.runId, sortKey.meta);
      if (!existing) throw new JoinflowError('STORE_ERROR', `run "${run.runId}" exists in table "${options.table}" but its META item could not be read`);
      return { created: false, run: itemToRun(existing) };
    },

    async getRun(runId) {
      const item = await db.get(runId, sortKey.meta);
      if (!item) return undefined;
      const run = itemToRun(item);
      // Only finished runs can carry a claim-checked output; running ones read nothing extra.
      if (item.outputRef) run.output = await readPayload(item);
      return run;
    },

    async finishRun(runId, change) {
      // workflowStatus needs the workflow name (update expressions cannot concatenate strings);
      // the workflow never changes, and the condition below still decides a race between finishers.
      const item = await db.get(runId, sortKey.meta);
      if (!item || item.status?.S !== 'running') return false;
      // The output shares the META item with the run's input: together they must fit in 400 KB.
      const out = change.output === undefined ? {} : await payload(`the output of run "${runId}"`, change.output, `results/${runId}/$output.json`, roomBeside(item));
      const sets: Record<string, AttributeValue | undefined> = {
        status: { S: change.status },
        workflowStatus: { S: `${item.workflow?.S ?? ''}#${change.status}` },
        expiresAt: expiry(),
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

    async arrive(runId, trigger, key, need, ordinal) {
      // A position that is not a whole number cannot name a set member or a shard: count the key.
      if (ordinal !== undefined && !(Number.isSafeInteger(ordinal) && ordinal >= 0)) ordinal = undefined;
      return ordinal !== undefined && ordinal >= threshold
        ? arriveSharded(runId, trigger, key, need, ordinal)
        : arriveOnJoin(runId, trigger, key, need, ordinal);
    },

    setNeed,

    async claim(runId, trigger, now, leaseMs): Promise<ClaimResult> {
      const won = await db.updateIf(runId, sortKey.join(trigger), {
        names: ['claimedAt'],
        UpdateExpression: `SET #claimedAt = :now, ${KEEP_EXPIRY}`,
        ConditionExpression: 'attribute_not_exists(#claimedAt)',
        ExpressionAttributeValues: { ':now': n(now), ':exp': expiry() },
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
        expiresAt: expiry(),
        ...(await payload(`the result "${key}" of run "${runId}"`, output, `results/${runId}/${key}.json`)),
      };
      // First write wins: a redelivered completion must not replace a result others may have read.
      await db.putNew(item);
    },

    async getResults(runId, keys) {
      // BatchGetItem rejects duplicate keys in one request.
      const unique = [...new Set(keys)];
      const items = await db.batchGet(unique.map((k) => itemKey(runId, sortKey.result(k))));
      const found = new Map<string, unknown>();
      for (const item of items) found.set((item.sk?.S ?? '').slice(sortKey.resultPrefix.length), await readPayload(item));
      const out = new Map<string, unknown>();
      for (const k of keys) if (found.has(k)) out.set(k, found.get(k));
      return out;
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
        ExpressionAttributeValues: { ':exp': expiry(), ':running': { S: 'running' } },
      });
    },
  };
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
