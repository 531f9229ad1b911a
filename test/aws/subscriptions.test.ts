/**
 * Subscriptions on AWS: `serverless package` turns the config file's subscriptions (as `joinflow
 * compile` writes them to triggers/@subscriptions.json) into EventBridge rules — API destinations
 * for webhooks, the processor for workflow targets — and the packaged rule really starts a run
 * through the real processor handler, once, though every event is delivered twice.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../../src/adapters/aws/config.ts';
import { readRunStatus } from '../../src/adapters/aws/run-status.ts';
import { requestRun } from '../../src/adapters/aws/stage.ts';
import { loadConfigSubscriptions } from '../../src/adapters/local/subscription-files.ts';
import { createAwsWorld, type AwsWorld } from '../helpers/aws-world.ts';
import { cleanPackages, slsPackage, type Packaged } from '../helpers/serverless.ts';

const root = path.resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
let pkg: Packaged;
let triggers: string;

beforeAll(() => {
  const project = mkdtempSync(path.join(os.tmpdir(), 'joinflow-subs-aws-'));
  dirs.push(project);
  writeFileSync(
    path.join(project, 'joinflow.config.yaml'),
    `subscriptions:
  notify:
    pattern: {source: [joinflow], detail-type: [Run Succeeded, Run Failed]}
    target: {type: webhook, url: "https://hooks.example.com/joinflow", headers: {x-team: science}, retry: {maxAttempts: 8}}
  chain:
    pattern: {source: [joinflow], detail-type: [Run Succeeded], detail: {workflow: [diamond], runId: [{prefix: sub-src}]}}
    target: {type: workflow, workflow: diamond, inputPath: $.detail.output.nodeC}
  audit:
    pattern: {detail-type: [Run Failed]}
    target: {type: command, command: ./audit.sh}
`,
  );
  triggers = path.join(project, 'triggers');
  mkdirSync(triggers);
  for (const f of readdirSync(path.join(root, 'triggers'))) copyFileSync(path.join(root, 'triggers', f), path.join(triggers, f));
  writeFileSync(path.join(triggers, '@subscriptions.json'), `${JSON.stringify({ version: 1, subscriptions: loadConfigSubscriptions(project) }, null, 2)}\n`);
  pkg = slsPackage({ JOINFLOW_TRIGGERS_DIR: triggers });
}, 300_000);

afterAll(() => {
  cleanPackages();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ofType = (type: string) => Object.entries(pkg.template.Resources).filter(([, r]) => r.Type === type);
const rule = (description: string) => ofType('AWS::Events::Rule').find(([, r]) => r.Properties['Description'] === description)?.[1].Properties;

describe('subscriptions in the packaged stack', () => {
  it('a webhook becomes a rule whose target is an API destination, with retries and the events DLQ', () => {
    const r = rule('joinflow subscription notify')!;
    expect(r['EventPattern']).toEqual({ source: ['joinflow'], 'detail-type': ['Run Succeeded', 'Run Failed'] });
    expect(r['EventBusName']).toEqual({ Ref: 'EventBus' });
    const [target] = r['Targets'] as Array<Record<string, any>>;
    const destId = target!['Arn']['Fn::GetAtt'][0] as string;
    expect(target).toMatchObject({
      RoleArn: { 'Fn::GetAtt': ['SubscriptionsRole', 'Arn'] },
      HttpParameters: { HeaderParameters: { 'x-team': 'science' } },
      RetryPolicy: { MaximumRetryAttempts: 7, MaximumEventAgeInSeconds: 86400 },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] } },
    });
    const dest = pkg.template.Resources[destId]!;
    expect(dest.Type).toBe('AWS::Events::ApiDestination');
    expect(dest.Properties).toMatchObject({ HttpMethod: 'POST', InvocationEndpoint: 'https://hooks.example.com/joinflow' });
    const conn = pkg.template.Resources[dest.Properties['ConnectionArn']['Fn::GetAtt'][0]]!;
    expect(conn.Type).toBe('AWS::Events::Connection');
    expect(conn.Properties['AuthorizationType']).toBe('API_KEY');
    const role = pkg.template.Resources['SubscriptionsRole']!.Properties;
    expect(role['AssumeRolePolicyDocument'].Statement[0].Principal).toEqual({ Service: 'events.amazonaws.com' });
    expect(role['Policies'][0].PolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: 'events:InvokeApiDestination', Resource: [{ 'Fn::GetAtt': [destId, 'Arn'] }] },
    ]);
  });

  it('a workflow target becomes a rule to the processor; a command target is left out with a warning', () => {
    const r = rule('joinflow subscription chain')!;
    const [target] = r['Targets'] as Array<Record<string, any>>;
    expect(target!['Arn']).toEqual({ 'Fn::GetAtt': ['ProcessorLambdaFunction', 'Arn'] });
    expect(JSON.parse(target!['InputTransformer'].InputTemplate.replace('<aws.events.event.json>', 'null'))).toEqual({
      subscription: { name: 'chain', workflow: 'diamond', inputPath: '$.detail.output.nodeC' },
      event: null,
    });
    expect(rule('joinflow subscription audit')).toBeUndefined();
    expect(pkg.stderr).toContain('subscription "audit" runs a local command');
  });
});

describe('a workflow subscription through the packaged rules and the real processor', () => {
  let world: AwsWorld;
  beforeAll(async () => {
    world = await createAwsWorld(pkg.template as never, { root, deliveries: 2, triggersDir: triggers });
  }, 240_000);
  afterAll(async () => world?.close());

  it('starts exactly one chained run with the selected input', async () => {
    await requestRun(configFromEnv(), { workflow: 'diamond', runId: 'sub-src-1', input: { x: 1 } });
    await world.drain();
    const scan = await world.dynamo.client.send(new ScanCommand({ TableName: world.table }));
    const chained = new Set((scan.Items ?? []).map((i) => i['pk']?.S ?? '').filter((pk) => pk.startsWith('RUN#chain:')));
    expect(chained.size).toBe(1);
    const runId = [...chained][0]!.slice('RUN#'.length);
    const status = await readRunStatus(world.dynamo.client, world.table, runId);
    // nodeC's output {sum: 12} became the input: no x, so nodeA gives 1 and nodeB 0.
    expect(status!.run).toMatchObject({ workflow: 'diamond', status: 'succeeded', input: { sum: 12 }, output: { nodeC: { sum: 1 } } });
  });
});
