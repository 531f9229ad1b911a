/**
 * Key layout, table definition, attribute marshalling and request helpers of the DynamoDB
 * TriggerStore (the join algorithm itself is in dynamodb-store.ts). One table
 * (DESIGN.md "AWS mapping"); every item of a run shares `pk = RUN#<runId>`:
 *
 * | sk                               | item                                                     |
 * |----------------------------------|----------------------------------------------------------|
 * | `META`                           | run record (+ `workflowStatus` for the GSI, `expiresAt`) |
 * | `TRIG#<trigger>`                 | join: arrival set, `cnt`, `need`, `doneShards`, claim     |
 * | `TRIG#<trigger>#S#<shard>`       | shard counter of a large fan-in (`cnt`, copy of `need`)  |
 * | `TRIG#<trigger>#A#<shard>#<ord>` | marker: one per arrival of a large fan-in (`ord`)         |
 * | `TRIG#$timer:<step>#<item>#<att>`| the timer's claim of a delayed attempt; `dueAt` (timer-dues.ts) |
 * | `RES#<key>`                      | a step (or item) result, `output` as a JSON string       |
 * | `JOB#<step>#<item>#<attempt>`    | Batch jobs not known to have ended (batch-jobs.ts)        |
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type PutItemCommandInput,
  QueryCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
  type UpdateTimeToLiveCommandInput,
} from '@aws-sdk/client-dynamodb';
import { JoinflowError } from '../../model/errors.ts';
import type { RunRecord, RunStatus } from '../../ports.ts';

/** A raw DynamoDB item. */
export type Item = Record<string, AttributeValue>;

/** The primary key of an item. */
export type ItemKey = { pk: { S: string }; sk: { S: string } };

/** The attribute DynamoDB TTL is enabled on (epoch seconds); finished runs and working items carry it. */
export const TTL_ATTRIBUTE = 'expiresAt';

/** Name of the GSI that lists runs by `<workflow>#<status>`, newest `startedAt` last. */
export const STATUS_INDEX = 'byWorkflowStatus';

/** Sort keys of the items of one run. */
export const sortKey = {
  meta: 'META',
  join: (trigger: string) => `TRIG#${trigger}`,
  shard: (trigger: string, shard: number) => `TRIG#${trigger}#S#${shard}`,
  // The shard is part of the marker key so that one shard's markers can be counted by prefix.
  markerPrefix: (trigger: string, shard: number) => `TRIG#${trigger}#A#${shard}#`,
  marker: (trigger: string, shard: number, ordinal: number) => `TRIG#${trigger}#A#${shard}#${ordinal}`,
  resultPrefix: 'RES#',
  result: (key: string) => `RES#${key}`,
} as const;

/** The key of the item `sk` of run `runId`. */
export function itemKey(runId: string, sk: string): ItemKey {
  return { pk: { S: `RUN#${runId}` }, sk: { S: sk } };
}

/**
 * The CreateTable input of the store's table: `pk`/`sk` strings, on-demand capacity, and the sparse
 * GSI `byWorkflowStatus` (only META items carry `workflowStatus`). TTL cannot be set at creation:
 * enable it on `expiresAt` afterwards (`timeToLiveDefinition`, or serverless.yml
 * `TimeToLiveSpecification`).
 */
export function tableDefinition(table: string): CreateTableCommandInput {
  return {
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'workflowStatus', AttributeType: 'S' },
      { AttributeName: 'startedAt', AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: STATUS_INDEX,
        KeySchema: [
          { AttributeName: 'workflowStatus', KeyType: 'HASH' },
          { AttributeName: 'startedAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

/** The UpdateTimeToLive input that lets DynamoDB delete expired items of the store's table. */
export function timeToLiveDefinition(table: string): UpdateTimeToLiveCommandInput {
  return { TableName: table, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } };
}

/** Number of ordinals i in [from, to) with i % shards === shard: a shard's share of a fan-in. */
export function shardShare(shard: number, shards: number, from: number, to: number): number {
  const below = (x: number) => (x > shard ? Math.floor((x - shard - 1) / shards) + 1 : 0);
  return Math.max(0, below(to) - below(from));
}

/** A numeric attribute, or undefined when absent. */
export function num(item: Item | undefined, name: string): number | undefined {
  const v = item?.[name]?.N;
  return v === undefined ? undefined : Number(v);
}

/** A number-set attribute as numbers (empty when absent). */
export function numSet(item: Item | undefined, name: string): number[] {
  return (item?.[name]?.NS ?? []).map(Number);
}

/** A number attribute value. */
export function n(value: number): AttributeValue {
  return { N: String(value) };
}

// Payloads are stored as JSON strings: any JSON value (top-level null, numbers, nested arrays)
// round-trips unchanged without marshalling options, and its size is known before the write.
/** A JSON payload as a string attribute; undefined stays absent. */
export function jsonAttr(value: unknown): AttributeValue | undefined {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : { S: text };
}

/** Reads a JSON string attribute back (undefined when absent). */
export function fromJsonAttr(value: AttributeValue | undefined): unknown {
  return value?.S === undefined ? undefined : JSON.parse(value.S);
}

/** Epoch seconds `days` from now: the TTL of items written now. */
export function expiryFromNow(days: number): number {
  return Math.floor(Date.now() / 1000) + Math.round(days * 86_400);
}

/**
 * A run's status alone (one strongly consistent GetItem of its META item, through tableAccess:
 * SDK errors translated, as the store's runStatus's are); undefined: no such run.
 */
export async function runStatusOf(client: DynamoDBClient, table: string, runId: string): Promise<RunStatus | undefined> {
  const item = await tableAccess(client, table).get(runId, sortKey.meta, ['status']);
  return item === undefined ? undefined : ((item['status']?.S ?? 'running') as RunStatus);
}

/** The META item of a run. */
export function runToItem(run: RunRecord, expiresAt?: number): Item {
  const item: Item = {
    ...itemKey(run.runId, sortKey.meta),
    runId: { S: run.runId },
    workflow: { S: run.workflow },
    status: { S: run.status },
    workflowStatus: { S: `${run.workflow}#${run.status}` },
    startedAt: n(run.startedAt),
  };
  const optional: [string, AttributeValue | undefined][] = [
    ['input', jsonAttr(run.input)],
    ['finishedAt', run.finishedAt === undefined ? undefined : n(run.finishedAt)],
    ['output', jsonAttr(run.output)],
    ['error', jsonAttr(run.error)],
    [TTL_ATTRIBUTE, expiresAt === undefined ? undefined : n(expiresAt)],
  ];
  for (const [name, value] of optional) if (value !== undefined) item[name] = value;
  return item;
}

/** The attributes of a run's META item that itemToRun reads, but its output (`output`, `outputRef`): a projection. */
export const RUN_WITHOUT_OUTPUT: readonly string[] = ['runId', 'workflow', 'status', 'input', 'startedAt', 'finishedAt', 'error'];

/** A run record from its META item. */
export function itemToRun(item: Item): RunRecord {
  const run: RunRecord = {
    runId: item.runId?.S ?? '',
    workflow: item.workflow?.S ?? '',
    status: (item.status?.S ?? 'running') as RunStatus,
    input: fromJsonAttr(item.input),
    startedAt: num(item, 'startedAt') ?? 0,
  };
  const finishedAt = num(item, 'finishedAt');
  if (finishedAt !== undefined) run.finishedAt = finishedAt;
  if (item.output !== undefined) run.output = fromJsonAttr(item.output);
  if (item.error !== undefined) run.error = fromJsonAttr(item.error) as RunRecord['error'];
  return run;
}

/** Whether an SDK error is a failed ConditionExpression (an expected outcome, never an error). */
export function isConditionFailed(err: unknown): boolean {
  return err instanceof Error && err.name === 'ConditionalCheckFailedException';
}

const THROTTLED = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded']);

/** Translates an SDK error into a JoinflowError that says what failed and what to do. */
export function translateError(err: unknown, table: string, operation: string): JoinflowError {
  if (err instanceof JoinflowError) return err;
  const name = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  const where = `DynamoDB ${operation} on table "${table}"`;
  // The SDK has already retried throttling with backoff; the caller's redelivery retries again.
  if (THROTTLED.has(name)) {
    return new JoinflowError('STORE_THROTTLED', `${where} was throttled after retries (${name}); retry later`, { cause: err });
  }
  if (name === 'ValidationException' && /item size/i.test(message)) {
    return new JoinflowError(
      'ITEM_TOO_LARGE',
      `${where}: an item exceeded 400 KB (${message}); pass arrival ordinals so large fan-ins can be sharded`,
      { cause: err },
    );
  }
  if (name === 'ResourceNotFoundException') {
    return new JoinflowError('STORE_MISSING_TABLE', `${where}: table not found; create it with tableDefinition()`, { cause: err });
  }
  return new JoinflowError('STORE_ERROR', `${where} failed: ${name}: ${message}`, { cause: err });
}

// DynamoDB items hold 400 KB; the rest is left for keys and attribute names.
/** Largest payload kept inside an item (DynamoDB items are at most 400 KB). */
export const MAX_PAYLOAD_BYTES = 350 * 1024;
const BATCH_GET_LIMIT = 100;
const MAX_IDLE_ROUNDS = 8;

/**
 * Throws `code` (RESULT_TOO_LARGE by default) when `value` as JSON would not fit in an item, which
 * has `room` bytes left for it (MAX_PAYLOAD_BYTES in an item of its own).
 */
export function checkPayload(what: string, value: unknown, code = 'RESULT_TOO_LARGE', room = MAX_PAYLOAD_BYTES): void {
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (bytes <= room) return;
  const shared = room < MAX_PAYLOAD_BYTES ? ` beside what its item already holds (the run's input), ${Math.floor(room / 1024)} KB are left` : '';
  throw new JoinflowError(
    code,
    `${what} is ${Math.ceil(bytes / 1024)} KB as JSON; the DynamoDB store keeps at most ${MAX_PAYLOAD_BYTES / 1024} KB ` +
      `in an item (400 KB limit)${shared}. Store large payloads elsewhere (S3) and pass a reference.`,
  );
}

/**
 * What a run's META item has left for its output: its input shares the 400 KB (both at most
 * MAX_PAYLOAD_BYTES), the 50 KB kept for keys and the other attributes still set aside.
 */
export function roomBeside(item: Item): number {
  const input = item['input'];
  const inputBytes = input === undefined ? 0 : Buffer.byteLength(input.S ?? JSON.stringify(input));
  return Math.max(0, Math.min(MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES - inputBytes));
}

/** An UpdateItem of one run item; `names` lists the attributes written as `#name` in expressions. */
export type UpdateRequest = Omit<UpdateItemCommandInput, 'TableName' | 'Key' | 'ExpressionAttributeNames'> & { names: string[] };

/** A read's ProjectionExpression naming `attributes` (none: the whole item). */
function projection(attributes: readonly string[] | undefined): { ProjectionExpression?: string; ExpressionAttributeNames?: Record<string, string> } {
  if (attributes === undefined) return {};
  return {
    ProjectionExpression: attributes.map((_, i) => `#p${i}`).join(', '),
    ExpressionAttributeNames: Object.fromEntries(attributes.map((name, i) => [`#p${i}`, name])),
  };
}

/** Request helpers bound to one table: SDK errors translated, failed conditions turned into answers. */
export type Table = ReturnType<typeof tableAccess>;

/** Binds the request helpers to `table`. */
export function tableAccess(client: DynamoDBClient, table: string) {
  async function send<O>(operation: string, run: () => Promise<O>): Promise<O> {
    try {
      return await run();
    } catch (err) {
      throw translateError(err, table, operation);
    }
  }

  /** A conditional write: undefined when its condition did not hold (an answer, not an error). */
  async function attempt<O>(operation: string, run: () => Promise<O>): Promise<O | undefined> {
    try {
      return await run();
    } catch (err) {
      if (isConditionFailed(err)) return undefined;
      throw translateError(err, table, operation);
    }
  }

  function updateCommand(runId: string, sk: string, request: UpdateRequest): UpdateItemCommand {
    const { names, ...rest } = request;
    const ExpressionAttributeNames = Object.fromEntries(names.map((name) => [`#${name}`, name]));
    return new UpdateItemCommand({ TableName: table, Key: itemKey(runId, sk), ExpressionAttributeNames, ...rest });
  }

  return {
    /** An UpdateItem that must succeed; returns the ALL_NEW image when asked for. */
    async update(runId: string, sk: string, request: UpdateRequest): Promise<Item | undefined> {
      return (await send('UpdateItem', () => client.send(updateCommand(runId, sk, request)))).Attributes;
    },
    /** A conditional UpdateItem: false when the condition failed, else true (or the ALL_NEW image). */
    async updateIf(runId: string, sk: string, request: UpdateRequest): Promise<Item | boolean> {
      const out = await attempt('UpdateItem', () => client.send(updateCommand(runId, sk, request)));
      return out === undefined ? false : (out.Attributes ?? true);
    },
    /** A PutItem conditioned on the item not existing: false when it already did. */
    async putNew(item: Item, extra: Omit<PutItemCommandInput, 'TableName' | 'Item' | 'ConditionExpression'> = {}): Promise<boolean> {
      const put = () => client.send(new PutItemCommand({ TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(pk)', ...extra }));
      return (await attempt('PutItem', put)) !== undefined;
    },
    /** A strongly consistent GetItem; with `attributes`, the item holds those alone (a ProjectionExpression). */
    async get(runId: string, sk: string, attributes?: readonly string[]): Promise<Item | undefined> {
      const get = () => client.send(new GetItemCommand({ TableName: table, Key: itemKey(runId, sk), ConsistentRead: true, ...projection(attributes) }));
      return (await send('GetItem', get)).Item;
    },
    /**
     * Counts (consistently) the items of a run whose sk starts with `prefix` and whose `join` is
     * `join`; with `below`, only those whose `ord` is less (or that have none).
     */
    async count(runId: string, prefix: string, join: string, below?: number): Promise<number> {
      let total = 0;
      let start: Item | undefined;
      const values: Item = { ':pk': itemKey(runId, '').pk, ':prefix': { S: prefix }, ':join': { S: join } };
      if (below !== undefined) values[':below'] = n(below);
      do {
        const query = new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          // A trigger id may itself contain '#', so a prefix alone could match another join's items.
          FilterExpression: below === undefined ? '#join = :join' : '#join = :join AND (attribute_not_exists(#ord) OR #ord < :below)',
          ExpressionAttributeNames: below === undefined ? { '#join': 'join' } : { '#join': 'join', '#ord': 'ord' },
          ExpressionAttributeValues: values,
          Select: 'COUNT',
          ConsistentRead: true,
          ExclusiveStartKey: start,
        });
        const out = await send('Query', () => client.send(query));
        total += out.Count ?? 0;
        start = out.LastEvaluatedKey;
      } while (start);
      return total;
    },
    /**
     * Strongly consistent BatchGetItem of any number of keys, unprocessed keys retried. With
     * `attributes`, the items hold those alone (a ProjectionExpression).
     */
    async batchGet(keys: ItemKey[], attributes?: readonly string[]): Promise<Item[]> {
      const only = projection(attributes);
      const chunks: ItemKey[][] = [];
      for (let i = 0; i < keys.length; i += BATCH_GET_LIMIT) chunks.push(keys.slice(i, i + BATCH_GET_LIMIT));
      const found: Item[] = [];
      await Promise.all(
        chunks.map(async (chunk) => {
          let pending: Item[] = chunk;
          // BatchGetItem returns what fits in 16 MB (or what capacity allows) and the rest as
          // UnprocessedKeys; back off only when a round made no progress at all.
          for (let idle = 0; pending.length > 0; ) {
            const request = new BatchGetItemCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: true, ...only } } });
            const out = await send('BatchGetItem', () => client.send(request));
            const items = out.Responses?.[table] ?? [];
            found.push(...items);
            pending = out.UnprocessedKeys?.[table]?.Keys ?? [];
            if (items.length > 0) idle = 0;
            else if (pending.length > 0) {
              if (++idle > MAX_IDLE_ROUNDS) {
                throw new JoinflowError('STORE_THROTTLED', `DynamoDB BatchGetItem on table "${table}" made no progress after ${MAX_IDLE_ROUNDS} retries; retry later`);
              }
              await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** idle));
            }
          }
        }),
      );
      return found;
    },
  };
}
