/** `joinflow dev`'s PutEvents endpoint, driven by the real EventBridge client. */
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { afterEach, describe, expect, it } from 'vitest';
import { createDevServer, type DevServer } from '../../src/adapters/local/dev-server.ts';
import { configFromEnv } from '../../src/adapters/aws/config.ts';
import { requestRun } from '../../src/adapters/aws/stage.ts';
import { createEngine, type Engine } from '../../src/adapters/local/engine.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { root } from '../helpers/cli.ts';

const plan = compileWorkflow(
  {
    name: 'hello',
    steps: {
      a: { executor: { type: 'simulate', durationMs: 0, output: { greeting: 'hi' } } },
      b: { needs: ['a'], executor: { type: 'simulate', durationMs: 0, output: 'done-b' } },
    },
    output: 'b',
  },
  { source: 'workflows/hello.yaml' },
);

const open: Array<{ server: DevServer; engine: Engine; client: EventBridgeClient }> = [];

afterEach(async () => {
  for (const { server, engine, client } of open.splice(0)) {
    client.destroy();
    await server.close();
    await engine.bus.idle();
    await engine.close();
  }
});

async function setup(options: { token?: string } = {}) {
  const engine = createEngine({ concurrency: { simulate: 4 } });
  engine.register(plan);
  const server = await createDevServer({ engine, ...options });
  const client = new EventBridgeClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  open.push({ server, engine, client });
  return { engine, server, client };
}

const runRequested = (detail: Record<string, unknown>): PutEventsRequestEntry => ({
  Source: 'joinflow',
  DetailType: 'Run Requested',
  Detail: JSON.stringify(detail),
});

/** The error the SDK throws for a call, or a failure if it does not throw. */
async function rejection(p: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (error) {
    return error as Error & { $metadata?: { httpStatusCode?: number } };
  }
  throw new Error('expected the call to fail');
}

describe('dev server (PutEvents)', () => {
  it('starts a run from a Run Requested event', async () => {
    const { engine, client, server } = await setup();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const out = await client.send(new PutEventsCommand({ Entries: [runRequested({ workflow: 'hello', runId: 'run-dev-1', input: { x: 1 } })] }));
    expect(out.FailedEntryCount).toBe(0);
    expect(out.Entries).toHaveLength(1);
    expect(out.Entries?.[0]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
    await engine.bus.idle();
    const result = await engine.wait('run-dev-1');
    expect(result.status).toBe('succeeded');
    expect(result.output).toEqual('done-b');
    expect(engine.deadLetters).toEqual([]);
  });

  // joinflow dev waits for a workflow's running runs before it applies an edit: one that never starts must not count.
  it('counts no running run for a Run Requested that is dead-lettered (a bad run id)', async () => {
    const { engine, client } = await setup();
    for (const runId of [5, '../x']) await client.send(new PutEventsCommand({ Entries: [runRequested({ workflow: 'hello', runId })] }));
    await engine.bus.idle();
    expect(engine.deadLetters).toHaveLength(2);
    expect(engine.activeRuns('hello')).toBe(0);
  });

  it('fails a malformed entry alone in a batch of 10', async () => {
    const { engine, client } = await setup();
    const entries = Array.from({ length: 10 }, (_, i) => runRequested({ workflow: 'hello', runId: `batch-${i}` }));
    entries[4] = { Source: 'joinflow', DetailType: 'Run Requested', Detail: '{"workflow": "hello", ' };
    const out = await client.send(new PutEventsCommand({ Entries: entries }));
    expect(out.FailedEntryCount).toBe(1);
    expect(out.Entries).toHaveLength(10);
    expect(out.Entries?.[4]).toMatchObject({ ErrorCode: 'MalformedDetail' });
    expect(out.Entries?.[4]?.EventId).toBeUndefined();
    const ids = out.Entries!.filter((e, i) => i !== 4).map((e) => e.EventId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(9);
    await engine.bus.idle();
    for (const i of [0, 9]) expect((await engine.wait(`batch-${i}`)).status).toBe('succeeded');
    await expect(engine.wait('batch-4')).rejects.toThrow(/unknown run/);
  });

  it('fails entries without Detail or with a Detail that is not an object', async () => {
    const { client } = await setup();
    const out = await client.send(new PutEventsCommand({
      Entries: [
        { Source: 'joinflow', DetailType: 'Run Requested' },
        { Source: 'joinflow', DetailType: 'Run Requested', Detail: '[1, 2]' },
        runRequested({ workflow: 'hello', runId: 'ok-1' }),
      ],
    }));
    expect(out.FailedEntryCount).toBe(2);
    expect(out.Entries?.[0]).toMatchObject({ ErrorCode: 'InvalidArgument' });
    expect(out.Entries?.[0]?.ErrorMessage).toMatch(/Detail/);
    expect(out.Entries?.[1]).toMatchObject({ ErrorCode: 'MalformedDetail' });
    expect(out.Entries?.[2]?.EventId).toBeTruthy();
  });

  it('keeps an entry\'s Resources, so that a pattern on resources matches as on EventBridge', async () => {
    const { client, engine } = await setup();
    const seen: Array<{ 'detail-type': string; resources?: string[] }> = [];
    // A pattern on `resources`, as a subscription would have it: it sees only the event that names the bucket.
    engine.bus.subscribe({ source: ['my.app'], resources: ['arn:aws:s3:::bucket'] }, async (events) => void seen.push(...events));
    const out = await client.send(new PutEventsCommand({
      Entries: [
        { Source: 'my.app', DetailType: 'with', Detail: '{}', Resources: ['arn:aws:s3:::bucket'] },
        { Source: 'my.app', DetailType: 'without', Detail: '{}' },
        { Source: 'my.app', DetailType: 'bad', Detail: '{}', Resources: [1 as unknown as string] },
      ],
    }));
    expect(out.Entries?.[2]).toMatchObject({ ErrorCode: 'InvalidArgument', ErrorMessage: expect.stringMatching(/Resources/) });
    await engine.bus.idle();
    expect(seen).toMatchObject([{ 'detail-type': 'with', resources: ['arn:aws:s3:::bucket'] }]);
  });

  it('measures entries as EventBridge does (UTF-8 bytes of their fields), not the escaped request body', async () => {
    const { server } = await setup();
    // 240,000 bytes of Detail as UTF-8, but 720,000 once botocore escapes each "é" as \\u00e9.
    const entry = { Source: 'tests', DetailType: 'Big', Detail: JSON.stringify({ text: 'é'.repeat(120_000) }), Time: 1_700_000_000 };
    const body = JSON.stringify({ Entries: [entry] }).replaceAll('é', '\\u00e9');
    expect(Buffer.byteLength(body)).toBeGreaterThan(256 * 1024);
    const post = (text: string) => fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' }, body: text });
    const ok = await post(body);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ FailedEntryCount: 0, Entries: [{ EventId: expect.any(String) }] });
    // Over 256 KB as EventBridge counts it: refused however it is escaped.
    const over = JSON.stringify({ Entries: [{ ...entry, Detail: JSON.stringify({ text: 'é'.repeat(132_000) }) }] });
    const refused = await post(over);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ __type: 'ValidationException' });
    // Far over (11 MB, beyond what is read and dropped): still the API error, not a reset connection.
    const huge = await post(`{"Entries": [${' '.repeat(11 * 1024 * 1024)}]}`);
    expect(huge.status).toBe(400);
    expect(huge.headers.get('connection')).toBe('close');
    expect(await huge.json()).toMatchObject({ __type: 'ValidationException', message: expect.stringContaining('over the limit') });
  });

  it('refuses an oversized request and more than 10 entries with the API error', async () => {
    const { client, engine } = await setup();
    const big = runRequested({ workflow: 'hello', runId: 'too-big', input: 'x'.repeat(300 * 1024) });
    const tooBig = await rejection(client.send(new PutEventsCommand({ Entries: [big] })));
    expect(tooBig.name).toBe('ValidationException');
    expect(tooBig.message).toMatch(/over the limit/);
    expect(tooBig.$metadata?.httpStatusCode).toBe(400);

    const eleven = Array.from({ length: 11 }, (_, i) => runRequested({ workflow: 'hello', runId: `eleven-${i}` }));
    const tooMany = await rejection(client.send(new PutEventsCommand({ Entries: eleven })));
    expect(tooMany.name).toBe('ValidationException');
    expect(tooMany.message).toMatch(/less than or equal to 10/);
    expect(tooMany.$metadata?.httpStatusCode).toBe(400);

    const none = await rejection(client.send(new PutEventsCommand({ Entries: [] })));
    expect(none.name).toBe('ValidationException');

    await engine.bus.idle();
    expect(engine.bus.published).toBe(0);
  });

  it('refuses bodies that are not JSON and unknown operations', async () => {
    const { server } = await setup();
    const post = (body: string, target = 'AWSEvents.PutEvents') =>
      fetch(server.url, { method: 'POST', body, headers: { 'x-amz-target': target, 'content-type': 'application/x-amz-json-1.1' } });
    const notJson = await post('{nope');
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ __type: 'SerializationException' });
    const unknown = await post('{}', 'AWSEvents.PutRule');
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });

  it('requires the token when one is set', async () => {
    const { client, engine } = await setup({ token: 't0ken' });
    const denied = await rejection(client.send(new PutEventsCommand({ Entries: [runRequested({ workflow: 'hello', runId: 'tok-1' })] })));
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.$metadata?.httpStatusCode).toBe(403);

    const wrong = new EventBridgeClient({ endpoint: (open[0]!.server).url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    wrong.middlewareStack.add((next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['authorization'] = 'Bearer nope';
      return next(args);
    }, { step: 'build' });
    const wrongDenied = await rejection(wrong.send(new PutEventsCommand({ Entries: [runRequested({ workflow: 'hello', runId: 'tok-1' })] })));
    wrong.destroy();
    expect(wrongDenied.$metadata?.httpStatusCode).toBe(403);

    client.middlewareStack.add((next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-joinflow-token'] = 't0ken';
      return next(args);
    }, { step: 'build' });
    const out = await client.send(new PutEventsCommand({ Entries: [runRequested({ workflow: 'hello', runId: 'tok-1' })] }));
    expect(out.FailedEntryCount).toBe(0);
    await engine.bus.idle();
    expect((await engine.wait('tok-1')).status).toBe('succeeded');
  });

  it('accepts the token as a bearer Authorization header', async () => {
    const { server } = await setup({ token: 'secret-t' });
    const body = JSON.stringify({ Entries: [runRequested({ workflow: 'hello', runId: 'bearer-1' })] });
    const headers = { 'x-amz-target': 'AWSEvents.PutEvents', 'content-type': 'application/x-amz-json-1.1' };
    const ok = await fetch(server.url, { method: 'POST', body, headers: { ...headers, authorization: 'Bearer secret-t' } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ FailedEntryCount: 0 });
    const no = await fetch(server.url, { method: 'POST', body, headers });
    expect(no.status).toBe(403);
    expect(await no.json()).toMatchObject({ __type: 'AccessDeniedException' });
  });

  it('without a token, refuses a request addressed to a host that is not loopback (a web page\'s, by DNS rebinding), and starts nothing', async () => {
    const { server, engine } = await setup();
    const port = new URL(server.url).port;
    const body = JSON.stringify({ Entries: [runRequested({ workflow: 'hello', runId: 'rebound' })] });
    // fetch() may not set Host: node:http sends what a browser sends for http://attacker.example:PORT/.
    const post = (host: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(server.url, { method: 'POST', headers: { host, 'x-amz-target': 'AWSEvents.PutEvents', 'content-type': 'application/x-amz-json-1.1' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    const rebound = await post(`attacker.example:${port}`);
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toMatchObject({ __type: 'AccessDeniedException' });
    expect(JSON.parse(rebound.body).message).toContain('request addressed to host "attacker.example:');
    await engine.bus.idle();
    await expect(engine.wait('rebound')).rejects.toThrow(/unknown run/);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'app.localhost']) {
      expect((await post(host)).status, host).toBe(200);
    }
    await engine.bus.idle();
    expect((await engine.wait('rebound')).status).toBe('succeeded');
  });

  it('will not bind beyond loopback without a token', async () => {
    const engine = createEngine();
    try {
      await expect(createDevServer({ engine, host: '0.0.0.0' })).rejects.toThrow(/token/);
      const server = await createDevServer({ engine, host: '0.0.0.0', token: 'x' });
      await server.close();
    } finally {
      await engine.close();
    }
  });
});

describe('joinflow start against joinflow dev (requestRun)', () => {
  it('needs no AWS credentials for a loopback endpoint, and sends dev\'s token', async () => {
    const { engine, server } = await setup({ token: 's3cret' });
    // No AWS_* variables at all: the SDK would refuse to sign without the placeholders.
    const env: NodeJS.ProcessEnv = { AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true' };
    const config = { ...configFromEnv({}), endpoint: server.url, region: 'us-east-1' };
    await expect(requestRun(config, { workflow: 'hello', runId: 'no-token', input: null }, {}, env)).rejects.toThrow(/missing or wrong token/);
    await requestRun(config, { workflow: 'hello', runId: 'with-token', input: null }, { token: 's3cret' }, env);
    await engine.bus.idle();
    expect(await engine.wait('with-token')).toMatchObject({ status: 'succeeded', output: 'done-b' });
  });

  // `status --stage` would read the stage's DynamoDB table, which has nothing of a run sent to dev.
  it('says, through the CLI, that the engine behind the endpoint runs it (no status --stage hint)', async () => {
    const { engine, server } = await setup();
    const child = spawn(process.execPath, [path.join(root, 'bin/joinflow.js'), 'start', 'hello', '--endpoint', server.url, '--stage', 'prod', '--run-id', 'via-cli'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toBe('via-cli\n');
    expect(stderr).toContain(`started hello on bus joinflow-prod at ${server.url}; the engine behind it runs it if it has the workflow, else dead-letters it (joinflow dev: joinflow status via-cli and joinflow dlq list, with dev's --state; dev --memory keeps neither on file)`);
    expect(stderr).not.toContain('--stage prod');
    await engine.bus.idle();
    expect(await engine.wait('via-cli')).toMatchObject({ status: 'succeeded' });
  });

  it('writes a run id that starts with a dash after -- in the status command it suggests', async () => {
    const { engine, server } = await setup();
    const child = spawn(process.execPath, [path.join(root, 'bin/joinflow.js'), 'start', 'hello', '--endpoint', server.url, '--run-id=-dashed'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('(joinflow dev: joinflow status -- -dashed and joinflow dlq list');
    await engine.bus.idle();
    expect(await engine.wait('-dashed')).toMatchObject({ status: 'succeeded' });
  });
});

