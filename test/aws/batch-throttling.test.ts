/**
 * AWS Batch accepts at most 50 SubmitJob calls a second per account (a quota that cannot be
 * raised), and the processor sends a forEach's jobs 32 at a time: throttled submissions are
 * retried with the client slowing down (the SDK's adaptive retry mode, 8 attempts), not given up
 * after the SDK's default 3 attempts, which failed the processor's invocation. Batch is a local
 * HTTP server here that answers TooManyRequestsException (429) before it accepts; DynamoDB (the
 * job book) is dynalite.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableDefinition } from '../../src/adapters/aws/dynamodb-store.ts';
import { resetWiring, wiring } from '../../src/adapters/aws/wiring.ts';
import type { Task } from '../../src/ports.ts';
import { startDynalite, type DynaliteHandle } from '../helpers/dynalite.ts';
import { useHandlerEnv } from '../helpers/handler-env.ts';
import { tempDirs } from '../helpers/tmp.ts';

const saved = { ...process.env };
const tmp = tempDirs('jf-batch-throttle-');
const TABLE = 'joinflow-batch-throttle';
let dynamo: DynaliteHandle;
let server: Server;
/** How many SubmitJob requests to throttle before accepting; each request seen. */
let throttleNext = 0;
let requests = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.client.send(new CreateTableCommand(tableDefinition(TABLE)));
  server = createServer((req, res) => {
    req.resume().on('end', () => {
      requests++;
      if (throttleNext > 0) {
        throttleNext--;
        res.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException' }).end(JSON.stringify({ message: 'Too Many Requests' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jobArn: 'arn:aws:batch:us-east-1:1:job/j', jobName: 'j', jobId: `job-${requests}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const triggers = path.join(tmp(), 'triggers');
  mkdirSync(triggers);
  useHandlerEnv({ triggers, table: TABLE, dynamoEndpoint: dynamo.endpoint, functions: {}, jobDefinitions: { 'w/train': 'jd-train' } });
  process.env['AWS_ENDPOINT_URL_BATCH'] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  resetWiring();
}, 60_000);

afterAll(async () => {
  process.env = saved;
  resetWiring();
  await new Promise((resolve) => server?.close(resolve));
  await dynamo?.close();
});

describe('Batch SubmitJob throttled', () => {
  it('is retried, slowing down, until Batch takes it (3 throttled answers, then accepted: the default 3 attempts gave up): the job is submitted once and noted', async () => {
    const task: Task = { workflow: 'w', runId: 'throttled-1', step: 'train', attempt: 1, maxAttempts: 1, executor: { type: 'batch', image: 'train:1', command: ['train'], vcpus: 1, memoryMb: 2048, gpus: 0, env: {} }, event: { input: {}, results: {} } };
    throttleNext = 3;
    requests = 0;
    await wiring().effects.dispatch(task);
    expect(requests).toBe(4);
    expect((await wiring().jobs.jobs('throttled-1')).map((j) => j.jobIds)).toEqual([['job-4']]);
  }, 120_000);
});
