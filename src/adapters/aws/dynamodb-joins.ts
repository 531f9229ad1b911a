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
 * >= `shardThreshold` (which implies need > shardThreshold for those that count) are kept off
 * the join item:
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
 * A join sized by `setNeed` (a forEach's collect: its arrivals give no need) has the ordinals
 * 0..need-1, one per item. An arrival beyond them (item 7 of 3: a forged, misrouted or foreign
 * event) must not count, so it is refused (`refused`, nothing counted) without a read of its own:
 * the arrival's write is conditioned on `need > :ordinal` (join item) or, on a shard, made only
 * on that condition (the shard has `need` once `setNeed` has run, which is before any item is
 * dispatched; on a shard no item of the width falls in, which never gets `need`, the refusal
 * reads the join item); its marker is written but never counted (markers carry `ord`, and are
 * counted below need only). An arrival before the need is known cannot be judged yet: the join item keeps
 * its ordinal in its set anyway, and a shard in `early` (with its `cnt`). When need is stored on
 * such an item, the same conditional write stores `excess`, how many of those ordinals are beyond
 * it (read just before, and written only if `cnt` has not moved since), and the item's count is
 * `cnt - excess` from then on. After it, only ordinals below need are counted there.
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

/** The arrivals a join or shard item counts: `cnt`, less those that came early and are beyond need. */
const counted = (item: Item | undefined): number => (num(item, 'cnt') ?? 0) - (num(item, 'excess') ?? 0);

/** Whether `ordinal` is beyond the need a join item has (false while it has none). */
const beyond = (item: Item | undefined, ordinal: number): boolean => ordinal >= (num(item, 'need') ?? Infinity);

/** The join operations of a TriggerStore (`arrive`, `setNeed`) on one table. */
export function createJoins(db: Table, options: JoinOptions) {
  const { threshold, shards } = options;
  const expiry = options.expiry;
  const share = (shard: number, need: number) => shardShare(shard, shards, threshold, need);
  const setNeedIfGiven = (need: number | undefined) => (need === undefined ? '' : ', #need = if_not_exists(#need, :need)');
  /** A shard's markers of ordinals below `need` (see the file comment on lost increments). */
  const markers = (runId: string, trigger: string, shard: number, need: number) => db.count(runId, sortKey.markerPrefix(trigger, shard), trigger, need);

  /** The join as its join item tells it: exact for unsharded joins, a lower bound below `need` otherwise. */
  function joinState(item: Item | undefined, fresh: boolean, needHint?: number): JoinState {
    const need = num(item, 'need') ?? needHint;
    const count = counted(item);
    if (need === undefined) return { fresh, count, need };
    const full = numSet(item, 'doneShards').reduce((sum, s) => sum + share(s, need), 0);
    return { fresh, count: count + full, need };
  }

  /** An arrival refused because its ordinal is beyond the join's need; nothing of it counts. */
  const refusal = (item: Item | undefined): JoinState => ({ ...joinState(item, false), refused: true });

  async function arriveOnJoin(runId: string, trigger: string, key: string, need: number | undefined, ordinal: number | undefined) {
    const attr = ordinal === undefined ? 'arrivedKeys' : 'arrived';
    // A sized join (its need comes from setNeed) refuses an ordinal beyond the need in the same write.
    const sized = need === undefined && ordinal !== undefined;
    const values: Item = {
      ':k': ordinal === undefined ? { SS: [key] } : { NS: [String(ordinal)] },
      ':kv': ordinal === undefined ? { S: key } : n(ordinal),
      ':one': n(1),
      ':exp': expiry(runId),
    };
    if (need !== undefined) values[':need'] = n(need);
    const fresh = await db.updateIf(runId, sortKey.join(trigger), {
      names: [attr, 'cnt', ...(need === undefined && !sized ? [] : ['need'])],
      UpdateExpression: `ADD #${attr} :k, #cnt :one SET ${KEEP_EXPIRY}${setNeedIfGiven(need)}`,
      ConditionExpression: `(attribute_not_exists(#${attr}) OR NOT contains(#${attr}, :kv))${sized ? ' AND (attribute_not_exists(#need) OR #need > :kv)' : ''}`,
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    });
    if (fresh !== false) return joinState(fresh === true ? undefined : fresh, true);
    // A duplicate: read back so the caller re-checks (it may finish a fire a crashed processor claimed).
    const item = await db.get(runId, sortKey.join(trigger));
    if (sized && beyond(item, ordinal)) return refusal(item);
    // Like a fresh arrival, a duplicate that brings the first need stores it.
    if (need !== undefined && num(item, 'need') === undefined) return { ...(await setNeed(runId, trigger, need, false)), fresh: false };
    return joinState(item, false);
  }

  async function arriveSharded(runId: string, trigger: string, key: string, need: number | undefined, ordinal: number) {
    const shard = ordinal % shards;
    const marker = { ...itemKey(runId, sortKey.marker(trigger, shard, ordinal)), join: { S: trigger }, key: { S: key }, ord: n(ordinal), expiresAt: expiry(runId) };
    if (!(await db.putNew(marker))) return duplicateSharded(runId, trigger, need, shard, ordinal);
    let counter: Item | undefined;
    if (need === undefined) {
      const sized = await countSized(runId, trigger, shard, ordinal);
      if ('refused' in sized) return sized.refused;
      counter = sized.item;
    } else {
      counter = await db.update(runId, sortKey.shard(trigger, shard), {
        names: ['cnt', 'join', 'need'],
        UpdateExpression: `ADD #cnt :one SET #join = :join, ${KEEP_EXPIRY}${setNeedIfGiven(need)}`,
        ExpressionAttributeValues: { ':one': n(1), ':join': { S: trigger }, ':exp': expiry(runId), ':need': n(need) },
        ReturnValues: 'ALL_NEW',
      });
    }
    const count = counted(counter);
    // Need not copied to this shard yet: setNeed sees this increment when it copies need here.
    const shardNeed = num(counter, 'need');
    if (shardNeed === undefined) return { fresh: true, count, need: undefined };
    const full = share(shard, shardNeed);
    // Short by no more than the duplicates the shard has seen: one may stand for an increment
    // lost after its marker, redelivered before the shard's last arrival (see the file comment).
    // The markers tell.
    const lost = count < full && count + (num(counter, 'dups') ?? 0) >= full && (await markers(runId, trigger, shard, shardNeed)) >= full;
    if (count !== full && !lost) return { fresh: true, count: Math.min(count, shardNeed - 1), need: shardNeed };
    return recordFullShard(runId, trigger, shard, shardNeed, true);
  }

  /**
   * Counts a fresh arrival of a sized join on its shard: the shard item after the write, or the
   * refusal when the ordinal is beyond the join's need.
   */
  async function countSized(runId: string, trigger: string, shard: number, ordinal: number): Promise<{ item: Item } | { refused: JoinState }> {
    const values: Item = { ':one': n(1), ':join': { S: trigger }, ':exp': expiry(runId) };
    // In range: the shard has need (setNeed copied it) and the ordinal is below it. Early: no need yet.
    const counter = async (early: boolean) => {
      const image = await db.updateIf(runId, sortKey.shard(trigger, shard), {
        names: ['cnt', 'join', 'need', ...(early ? ['early'] : [])],
        UpdateExpression: `ADD #cnt :one${early ? ', #early :ord' : ''} SET #join = :join, ${KEEP_EXPIRY}`,
        ConditionExpression: early ? 'attribute_not_exists(#need)' : '#need > :ord',
        ExpressionAttributeValues: { ...values, ':ord': early ? { NS: [String(ordinal)] } : n(ordinal) },
        ReturnValues: 'ALL_NEW',
      });
      return typeof image === 'boolean' ? undefined : image;
    };
    // The common case: setNeed has copied the need here, before any item was dispatched.
    const known = await counter(false);
    if (known) return { item: known };
    // No need here (yet, or ever: a shard that no ordinal below need falls in): refused if beyond the join's.
    const join = await db.get(runId, sortKey.join(trigger));
    if (beyond(join, ordinal)) return { refused: refusal(join) };
    // Early: counted with its ordinal kept, so that setNeed can tell whether it is beyond need.
    const early = await counter(true);
    if (early) return { item: early };
    // setNeed copied the need here meanwhile.
    const late = await counter(false);
    return late ? { item: late } : { refused: refusal(await db.get(runId, sortKey.join(trigger))) };
  }

  async function duplicateSharded(runId: string, trigger: string, need: number | undefined, shard: number, ordinal: number): Promise<JoinState> {
    // Said on the shard before its markers are counted: if the shard's last arrival increments it
    // after this, that arrival sees the mark and counts the markers itself; if before, its marker
    // is in when they are counted here.
    await db.update(runId, sortKey.shard(trigger, shard), {
      names: ['dups', 'join'],
      UpdateExpression: `ADD #dups :one SET #join = :join, ${KEEP_EXPIRY}`,
      ExpressionAttributeValues: { ':one': n(1), ':join': { S: trigger }, ':exp': expiry(runId) },
    });
    const item = await db.get(runId, sortKey.join(trigger));
    if (need === undefined && beyond(item, ordinal)) return refusal(item);
    const state = joinState(item, false, need);
    if (state.need === undefined || state.count >= state.need || numSet(item, 'doneShards').includes(shard)) return state;
    // The first delivery may have died between its marker and its increment (see the file
    // comment): if this shard's markers are all in, record the shard from them.
    if ((await markers(runId, trigger, shard, state.need)) < share(shard, state.need)) return state;
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

  /**
   * Stores `need` on a join or shard item (`sk`) with `excess`, how many of the ordinals that
   * arrived there before it (`early`: the join item's `arrived`, a shard's `early`) are beyond it.
   * Returns the item as the write left it (or as it was, when it had its need already).
   */
  async function storeNeed(runId: string, sk: string, need: number, early: 'arrived' | 'early', join?: string): Promise<Item> {
    const base: Item = { ':need': n(need), ':exp': expiry(runId) };
    if (join !== undefined) base[':join'] = { S: join };
    const setJoin = join === undefined ? '' : ', #join = :join';
    // Nothing arrived early (the common case): one write.
    let seen: Item | undefined;
    let excess = 0;
    for (;;) {
      const cnt = num(seen, 'cnt');
      const values: Item = { ...base };
      if (excess > 0) values[':excess'] = n(excess);
      if (cnt !== undefined) values[':cnt'] = n(cnt);
      // Written only if no arrival came after the read (each adds to cnt): else read and try again.
      const unchanged = seen === undefined ? `attribute_not_exists(#${early})` : cnt === undefined ? 'attribute_not_exists(#cnt)' : '#cnt = :cnt';
      const image = await db.updateIf(runId, sk, {
        names: ['need', seen === undefined ? early : 'cnt', ...(excess > 0 ? ['excess'] : []), ...(join === undefined ? [] : ['join'])],
        UpdateExpression: `SET #need = :need${excess > 0 ? ', #excess = :excess' : ''}${setJoin}, ${KEEP_EXPIRY}`,
        ConditionExpression: `attribute_not_exists(#need) AND ${unchanged}`,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      });
      if (typeof image !== 'boolean') return image;
      seen = await db.get(runId, sk);
      if (num(seen, 'need') !== undefined) return seen!;
      excess = numSet(seen, early).filter((o) => o >= need).length;
    }
  }

  /** Copies need to a shard and records the shard if it is full; returns how many arrivals it holds. */
  async function settleShard(runId: string, trigger: string, shard: number, need: number): Promise<{ count: number; state?: JoinState }> {
    const counter = await storeNeed(runId, sortKey.shard(trigger, shard), need, 'early', trigger);
    const full = share(shard, need);
    let count = counted(counter);
    // A lost increment may have been redelivered before need was known, when it could not repair.
    if (count < full) count = Math.max(count, await markers(runId, trigger, shard, need));
    if (count < full) return { count };
    return { count: full, state: await recordFullShard(runId, trigger, shard, need, false) };
  }

  /** Sets the need of a join; `sized` (a forEach's width): arrivals beyond it never count. */
  async function setNeed(runId: string, trigger: string, need: number, sized = true): Promise<JoinState> {
    const image = sized
      ? await storeNeed(runId, sortKey.join(trigger), need, 'arrived')
      : await db.update(runId, sortKey.join(trigger), {
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
    setNeed: (runId: string, trigger: string, need: number) => setNeed(runId, trigger, need),
  };
}
