/** The results table in DynamoDB (AWS): partition key `document` (S), sort key `idx` (N). */
import {
  BatchWriteItemCommand,
  DynamoDBClient,
  QueryCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { checkRows, type ClassifiedPhrase, type ResultsTable } from './results-table.ts';

/** BatchWriteItem takes at most 25 requests. */
const BATCH = 25;
/** Rounds of resending what DynamoDB left unprocessed (throttled) before giving up. */
const UNPROCESSED_ROUNDS = 8;

/** The table's definition (what aws.cjs deploys; tests create it on dynalite). */
export function resultsTableDefinition(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'document', AttributeType: 'S' },
      { AttributeName: 'idx', AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: 'document', KeyType: 'HASH' },
      { AttributeName: 'idx', KeyType: 'RANGE' },
    ],
  };
}

/** Options of {@link createDynamoResultsTable}. */
export type DynamoResultsTableOptions = {
  table: string;
  client?: DynamoDBClient;
  /** Waits between unprocessed-item rounds; replaced in tests. */
  sleep?: (ms: number) => Promise<void>;
};

/** Writes rows with BatchWriteItem; a document's stale rows are found with a Query and deleted. */
export function createDynamoResultsTable(options: DynamoResultsTableOptions): ResultsTable {
  const table = options.table;
  const own = options.client === undefined;
  const client = options.client ?? new DynamoDBClient({});
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  async function send<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException') {
        throw new Error(`results table: DynamoDB table "${table}" does not exist (${what}); deploy it (serverless deploy) or set CLASSIFY_RESULTS_TABLE to an existing table`);
      }
      throw error;
    }
  }

  async function writeAll(requests: WriteRequest[]): Promise<void> {
    for (let i = 0; i < requests.length; i += BATCH) {
      let pending = requests.slice(i, i + BATCH);
      for (let round = 0; pending.length > 0; round++) {
        if (round === UNPROCESSED_ROUNDS) throw new Error(`results table: DynamoDB left ${pending.length} writes to "${table}" unprocessed after ${UNPROCESSED_ROUNDS} rounds (throttled); the step is retried`);
        // Unprocessed items mean throttling: back off before resending them.
        if (round > 0) await sleep(Math.min(2000, 50 * 2 ** round));
        const out = await send('BatchWriteItem', () => client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } })));
        pending = out.UnprocessedItems?.[table] ?? [];
      }
    }
  }

  async function query(document: string, fromIndex: number, keysOnly: boolean): Promise<Array<Record<string, AttributeValue>>> {
    const items: Array<Record<string, AttributeValue>> = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await send('Query', () =>
        client.send(
          new QueryCommand({
            TableName: table,
            // Both attribute names are DynamoDB reserved words or close to them: always aliased.
            KeyConditionExpression: '#d = :d AND #i >= :i',
            ExpressionAttributeNames: { '#d': 'document', '#i': 'idx' },
            ExpressionAttributeValues: { ':d': { S: document }, ':i': { N: String(fromIndex) } },
            ...(keysOnly ? { ProjectionExpression: '#d, #i' } : {}),
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  return {
    location: `dynamodb:${table}`,
    async replaceDocument(document, rows) {
      checkRows(document, rows);
      await writeAll(rows.map((row) => ({ PutRequest: { Item: toItem(row) } })));
      // Put first, delete the tail after: a crash in between leaves extra rows, never missing ones,
      // and the retried step removes them.
      const stale = await query(document, rows.length, true);
      await writeAll(stale.map((key) => ({ DeleteRequest: { Key: key } })));
    },
    async readDocument(document) {
      return (await query(document, 0, false)).map(fromItem);
    },
    close() {
      if (own) client.destroy();
    },
  };
}

function toItem(row: ClassifiedPhrase): Record<string, AttributeValue> {
  return {
    document: { S: row.document },
    idx: { N: String(row.index) },
    phrase: { S: row.phrase },
    field: { S: row.field },
    fieldProbability: { N: String(row.fieldProbability) },
    subfield: { S: row.subfield },
    subfieldProbability: { N: String(row.subfieldProbability) },
    runId: { S: row.runId },
  };
}

function fromItem(item: Record<string, AttributeValue>): ClassifiedPhrase {
  const s = (k: string) => item[k]?.S ?? '';
  const n = (k: string) => Number(item[k]?.N ?? 'NaN');
  return {
    document: s('document'),
    index: n('idx'),
    phrase: s('phrase'),
    field: s('field'),
    fieldProbability: n('fieldProbability'),
    subfield: s('subfield'),
    subfieldProbability: n('subfieldProbability'),
    runId: s('runId'),
  };
}
