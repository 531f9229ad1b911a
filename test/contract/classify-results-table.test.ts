/**
 * One suite for both adapters of classify-documents' results table: SQLite (local runs) and
 * DynamoDB (on dynalite), so that they cannot drift apart.
 */
import path from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClassifiedPhrase, ResultsTable } from '../../workflows/classify-documents/results/results-table.ts';
import { createSqliteResultsTable } from '../../workflows/classify-documents/results/sqlite-results-table.ts';
import { createDynamoResultsTable, resultsTableDefinition } from '../../workflows/classify-documents/results/dynamodb-results-table.ts';
import { openResultsTable } from '../../workflows/classify-documents/results/open-results-table.ts';
import { startDynalite, type DynaliteHandle } from '../helpers/dynalite.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-classify-table-');

function rows(document: string, n: number, runId = 'run-1'): ClassifiedPhrase[] {
  return Array.from({ length: n }, (_, index) => ({
    document,
    index,
    phrase: `phrase ${index} of ${document}`,
    field: index % 2 === 0 ? 'physics' : 'math',
    fieldProbability: 0.5 + index / 1000,
    subfield: index % 2 === 0 ? 'quantum' : 'algebra',
    subfieldProbability: 0.25,
    runId,
  }));
}

function contract(name: string, open: () => Promise<ResultsTable>) {
  describe(`results table contract: ${name}`, () => {
    let table: ResultsTable;
    beforeAll(async () => {
      table = await open();
    });
    afterAll(() => table?.close());

    it('reads back what it wrote, in phrase order, and nothing for an unknown document', async () => {
      await table.replaceDocument('doc-a', rows('doc-a', 3));
      expect(await table.readDocument('doc-a')).toEqual(rows('doc-a', 3));
      expect(await table.readDocument('no-such-doc')).toEqual([]);
    });

    it('replaces a document: a shorter version leaves no stale rows, other documents are untouched', async () => {
      await table.replaceDocument('doc-b', rows('doc-b', 5));
      await table.replaceDocument('doc-c', rows('doc-c', 2));
      await table.replaceDocument('doc-b', rows('doc-b', 2, 'run-2'));
      expect(await table.readDocument('doc-b')).toEqual(rows('doc-b', 2, 'run-2'));
      expect(await table.readDocument('doc-c')).toEqual(rows('doc-c', 2));
      await table.replaceDocument('doc-b', []);
      expect(await table.readDocument('doc-b')).toEqual([]);
    });

    it('is idempotent: the same write twice gives the same rows', async () => {
      await table.replaceDocument('doc-d', rows('doc-d', 4));
      await table.replaceDocument('doc-d', rows('doc-d', 4));
      expect(await table.readDocument('doc-d')).toEqual(rows('doc-d', 4));
    });

    it('takes more rows than one batch (DynamoDB writes 25 at a time)', async () => {
      await table.replaceDocument('doc-e', rows('doc-e', 123));
      const back = await table.readDocument('doc-e');
      expect(back).toHaveLength(123);
      expect(back.map((r) => r.index)).toEqual(Array.from({ length: 123 }, (_, i) => i));
      await table.replaceDocument('doc-e', rows('doc-e', 30));
      expect(await table.readDocument('doc-e')).toHaveLength(30);
    });

    it('refuses rows of another document or out of order', async () => {
      await expect(table.replaceDocument('doc-f', rows('doc-x', 1))).rejects.toThrow('row 0 belongs to document "doc-x", not "doc-f"');
      await expect(table.replaceDocument('doc-f', rows('doc-f', 3).reverse())).rejects.toThrow('row 0 has index 2');
      expect(await table.readDocument('doc-f')).toEqual([]);
    });
  });
}

contract('SQLite', async () => createSqliteResultsTable(path.join(tmp(), 'nested', 'results.db')));

let dynamo: DynaliteHandle | undefined;
afterAll(async () => {
  await dynamo?.close();
});
async function dynalite(): Promise<DynaliteHandle> {
  dynamo ??= await startDynalite();
  return dynamo;
}

contract('DynamoDB (dynalite)', async () => {
  const d = await dynalite();
  await d.client.send(new CreateTableCommand(resultsTableDefinition('classify-results')));
  return createDynamoResultsTable({ table: 'classify-results', client: d.client });
});

describe('results table adapters', () => {
  it('DynamoDB: a missing table is reported by name, with what to do', async () => {
    const d = await dynalite();
    const table = createDynamoResultsTable({ table: 'not-deployed', client: d.client });
    await expect(table.replaceDocument('x', rows('x', 1))).rejects.toThrow(/DynamoDB table "not-deployed" does not exist \(BatchWriteItem\); deploy it/);
  });

  it('DynamoDB: resends unprocessed items with backoff, and gives up after 8 rounds', async () => {
    const sent: number[] = [];
    const waits: number[] = [];
    const throttling = {
      send: async (command: { input: { RequestItems?: Record<string, unknown[]> } }) => {
        const items = command.input.RequestItems?.['t'] ?? [];
        sent.push(items.length);
        // Leave one request unprocessed each time.
        return { UnprocessedItems: { t: items.slice(0, 1) } };
      },
      destroy() {},
    };
    const table = createDynamoResultsTable({ table: 't', client: throttling as never, sleep: async (ms) => void waits.push(ms) });
    await expect(table.replaceDocument('x', rows('x', 3))).rejects.toThrow('DynamoDB left 1 writes to "t" unprocessed after 8 rounds');
    expect(sent).toEqual([3, 1, 1, 1, 1, 1, 1, 1]);
    expect(waits).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
  });

  it('openResultsTable picks DynamoDB when CLASSIFY_RESULTS_TABLE is set, else the SQLite file', async () => {
    const file = path.join(tmp(), 'env.db');
    const sqlite = await openResultsTable({ CLASSIFY_RESULTS_DB: file });
    expect(sqlite.location).toBe(`sqlite:${file}`);
    sqlite.close();
    const cwd = tmp();
    const fallback = await openResultsTable({}, cwd);
    expect(fallback.location).toBe(`sqlite:${path.join(cwd, '.joinflow', 'classify-results.db')}`);
    fallback.close();
    const ddb = await openResultsTable({ CLASSIFY_RESULTS_TABLE: 'classify-results', CLASSIFY_RESULTS_DB: file });
    expect(ddb.location).toBe('dynamodb:classify-results');
    ddb.close();
  });
});
