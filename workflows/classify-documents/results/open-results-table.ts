/**
 * Picks the results table from the environment: DynamoDB when CLASSIFY_RESULTS_TABLE names a table
 * (set by the deployment, see ../aws.cjs), else a SQLite file (CLASSIFY_RESULTS_DB, default
 * .joinflow/classify-results.db under the working directory, next to joinflow's own state).
 */
import path from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ResultsTable } from './results-table.ts';

/** The SQLite file when CLASSIFY_RESULTS_DB is not set, relative to the working directory. */
export const DEFAULT_RESULTS_DB = path.join('.joinflow', 'classify-results.db');

/**
 * better-sqlite3 is a native module that cannot run in the Lambda bundle. Importing the SQLite
 * adapter through a variable keeps esbuild from bundling it (it only follows literal specifiers).
 */
const SQLITE_ADAPTER = './sqlite-results-table.ts';

// One client per process: Lambda reuses warm containers, and the SDK keeps connections alive.
let dynamo: DynamoDBClient | undefined;

/** Opens the table the environment names (a relative SQLite path is taken from `cwd`); close it when done. */
export async function openResultsTable(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<ResultsTable> {
  const table = env['CLASSIFY_RESULTS_TABLE'];
  if (table) {
    const { DynamoDBClient: Client } = await import('@aws-sdk/client-dynamodb');
    const { createDynamoResultsTable } = await import('./dynamodb-results-table.ts');
    dynamo ??= new Client({});
    return createDynamoResultsTable({ table, client: dynamo });
  }
  let adapter: typeof import('./sqlite-results-table.ts');
  try {
    adapter = (await import(SQLITE_ADAPTER)) as typeof import('./sqlite-results-table.ts');
  } catch (error) {
    throw new Error(`results table: CLASSIFY_RESULTS_TABLE is not set and the SQLite adapter cannot load (${(error as Error).message}); on AWS the deployment sets CLASSIFY_RESULTS_TABLE`);
  }
  return adapter.createSqliteResultsTable(path.resolve(cwd, env['CLASSIFY_RESULTS_DB'] || DEFAULT_RESULTS_DB));
}
