/**
 * The joins of the DynamoDB TriggerStore (dynamodb-store.ts): the join algorithm of DESIGN.md
 * ("Triggers and joins") with single-item operations only — GetItem (consistent), conditional
 * UpdateItem/PutItem, Query — so it runs unchanged on dynalite, which has no transactions. Key
 * layout: dynamodb-keys.ts.
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
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { JoinState } from '../../ports.ts';
import { type Item, itemKey, n, num, numSet, shardShare, sortKey, type Table } from './dynamodb-keys.ts';

/** What the joins need of their store. */
export type JoinOptions = {
  /** Arrivals with an ordinal at or above this are sharded (markers + counters). */
  threshold: number;
  /** Counter shards of a large join. */
  shards: number;
  /** The TTL (`expiresAt`) a working item of run `runId` gets when first written. */
  expiry: (runId: string) => AttributeValue;
};

// Working items carry the TTL from their first write, so an abandoned run is cleaned up too.
export const KEEP_EXPIRY = 'expiresAt = if_not_exists(expiresAt, :exp)';

/** The join operations of a TriggerStore (`arrive`, `setNeed`) on one table. */
export function createJoins(db: Table, options: JoinOptions) {
  const { threshold, shards } = options;
  const expiry = options.expiry;
  const share = (shard: number, need: number) => shardShare(shard, shards, threshold, need);
  const setNeedIfGiven = (need: number | undefined) => (need === undefined ? '' : ', #need = if_not_exists(#need, :need)');

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
      ':exp': expiry(runId),
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
    const marker = { ...itemKey(runId, sortKey.marker(trigger, shard, ordinal)), join: { S: trigger }, key: { S: key }, expiresAt: expiry(runId) };
    if (!(await db.putNew(marker))) return duplicateSharded(runId, trigger, need, shard);
    const values: Item = { ':one': n(1), ':join': { S: trigger }, ':exp': expiry(runId) };
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
      ExpressionAttributeValues: { ':one': n(1), ':join': { S: trigger }, ':exp': expiry(runId) },
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
      ExpressionAttributeValues: { ':s': { NS: [String(shard)] }, ':sv': n(shard), ':need': n(need), ':exp': expiry(runId) },
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
      ExpressionAttributeValues: { ':need': n(need), ':join': { S: trigger }, ':exp': expiry(runId) },
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
      ExpressionAttributeValues: { ':need': n(need), ':exp': expiry(runId) },
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
    async arrive(runId: string, trigger: string, key: string, need: number | undefined, ordinal: number | undefined): Promise<JoinState> {
      // A position that is not a whole number cannot name a set member or a shard: count the key.
      if (ordinal !== undefined && !(Number.isSafeInteger(ordinal) && ordinal >= 0)) ordinal = undefined;
      return ordinal !== undefined && ordinal >= threshold
        ? arriveSharded(runId, trigger, key, need, ordinal)
        : arriveOnJoin(runId, trigger, key, need, ordinal);
    },
    setNeed,
  };
}
