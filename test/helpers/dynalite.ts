/** Starts dynalite (a DynamoDB protocol emulator on LevelDB) in-process on a free port. */
import { Agent } from 'node:http';
import { afterAll, beforeAll } from 'vitest';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { tableDefinition } from '../../src/adapters/aws/dynamodb-store.ts';

/** The part of dynalite's (untyped, CommonJS) API the tests use. */
type DynaliteFactory = (options: { createTableMs: number; deleteTableMs: number; updateTableMs: number }) => Server;

// dynalite ships no type declarations; loading it through require keeps the cast in one place.
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

/** A running emulator, a client pointed at it, and a way to tear both down. */
export type DynaliteHandle = {
  endpoint: string;
  client: DynamoDBClient;
  close(): Promise<void>;
};

/** Starts dynalite (in memory, tables active at once); call `close()` in afterAll. */
export async function startDynalite(): Promise<DynaliteHandle> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const endpoint = `http://${address}:${port}`;
  // Contract tests fire hundreds of requests at once; the SDK's default pool of 50 sockets would
  // queue them (and log a warning), hiding the concurrency the tests are about.
  const httpAgent = new Agent({ keepAlive: true, maxSockets: 256 });
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'DYNALITE', secretAccessKey: 'DYNALITE' },
    requestHandler: { httpAgent },
  });
  return {
    endpoint,
    client,
    async close() {
      client.destroy();
      httpAgent.destroy();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** Creates the store's table (tableDefinition) and waits until it is ACTIVE. */
export async function createTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(new CreateTableCommand(tableDefinition(name)));
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * dynalite for the tests of one file: started before them, closed after. `table(prefix)` makes a
 * fresh table (numbered) on it and gives its name.
 */
export function dynaliteForFile(): { readonly client: DynamoDBClient; table(prefix: string): Promise<string> } {
  let handle: DynaliteHandle | undefined;
  let tables = 0;
  beforeAll(async () => {
    handle = await startDynalite();
  });
  afterAll(async () => {
    await handle?.close();
  });
  return {
    get client() {
      if (!handle) throw new Error('dynalite is not started: use the client inside a test');
      return handle.client;
    },
    async table(prefix) {
      const name = `${prefix}-${++tables}`;
      await createTable(this.client, name);
      return name;
    },
  };
}
