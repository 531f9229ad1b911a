/**
 * deploy/workflow-resources.cjs: what a workflow's aws.cjs may add to the stack (resources,
 * outputs, a function step's environment and IAM statements), and what it is refused. No
 * `serverless package` here; package.test.ts checks the packaged template.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import { resultsTableDefinition } from '../../workflows/classify-documents/results/dynamodb-results-table.ts';
import { tempDirs } from '../helpers/tmp.ts';

type Json = Record<string, any>;
type Extras = { resources: { Resources: Json; Outputs?: Json }; environment(f: { id: string }): Json; statements(f: { id: string }): Json[] };
const require = createRequire(import.meta.url);
const lib = require('../../deploy/lib.cjs') as {
  buildModel(args: { service: string; stage: string; region: string; custom: object; plans: TriggerPlan[]; warn?: (line: string) => void }): Json;
  loadPlans(dir?: string): TriggerPlan[];
};
const extrasOf = require('../../deploy/workflow-resources.cjs') as { workflowExtras(model: Json, root?: string): Extras };
const root = path.resolve(import.meta.dirname, '../..');
const tmp = tempDirs('jf-workflow-resources-');

const model = (plans: TriggerPlan[]) => lib.buildModel({ service: 'joinflow', stage: 'test', region: 'us-east-1', custom: {}, plans, warn: () => {} });

/** A service directory with workflows/<name>/aws.cjs holding `source`; the plan has function steps a and b, process step p. */
function service(source: string, name = 'my-flow'): { root: string; model: Json } {
  const dir = tmp();
  mkdirSync(path.join(dir, 'workflows', name), { recursive: true });
  writeFileSync(path.join(dir, 'workflows', name, 'aws.cjs'), source);
  const plan = compileWorkflow(
    {
      name,
      steps: {
        a: { executor: { type: 'function', module: 'h.ts', export: 'a' } },
        b: { needs: ['a'], executor: { type: 'function', module: 'h.ts', export: 'b' } },
        p: { executor: { type: 'process', command: 'true' } },
      },
    },
    { source: `workflows/${name}/workflow.ts` },
  );
  return { root: dir, model: model([plan]) };
}

describe('workflow resources (aws.cjs next to a workflow)', () => {
  it('classify-documents: its results table, and the store step (only) gets the table name and two DynamoDB actions on it', () => {
    const m = model(lib.loadPlans(path.join(root, 'triggers')));
    const extras = extrasOf.workflowExtras(m);
    const table = extras.resources.Resources['ClassifyDocumentsResultsTable'];
    const definition = resultsTableDefinition('joinflow-test-classify-results');
    expect(table).toEqual({
      Type: 'AWS::DynamoDB::Table',
      Properties: {
        TableName: definition.TableName,
        BillingMode: definition.BillingMode,
        AttributeDefinitions: definition.AttributeDefinitions,
        KeySchema: definition.KeySchema,
      },
    });
    expect(extras.resources.Outputs).toEqual({ ClassifyDocumentsResultsTableName: { Value: { Ref: 'ClassifyDocumentsResultsTable' } } });
    const steps = (m['functionSteps'] as Array<{ id: string }>).filter((f) => f.id.startsWith('classify-documents/'));
    expect(steps.map((f) => f.id).sort()).toEqual(['classify-documents/biology', 'classify-documents/classify', 'classify-documents/computer-science', 'classify-documents/math', 'classify-documents/physics', 'classify-documents/store']);
    for (const f of steps) {
      if (f.id === 'classify-documents/store') {
        expect(extras.environment(f)).toEqual({ CLASSIFY_RESULTS_TABLE: { Ref: 'ClassifyDocumentsResultsTable' } });
        expect(extras.statements(f)).toEqual([{ Effect: 'Allow', Action: ['dynamodb:BatchWriteItem', 'dynamodb:Query'], Resource: { 'Fn::GetAtt': ['ClassifyDocumentsResultsTable', 'Arn'] } }]);
      } else {
        expect([f.id, extras.environment(f), extras.statements(f)]).toEqual([f.id, {}, []]);
      }
    }
  });

  it('passes stage names to the file and takes resources, outputs and step parts', () => {
    const { root: dir, model: m } = service(`module.exports = ({ prefix, stage, workflow, logicalPrefix }) => ({
      resources: { [logicalPrefix + 'Bucket']: { Type: 'AWS::S3::Bucket', Properties: { Tags: [{ Key: 'k', Value: prefix + '/' + stage + '/' + workflow }] } } },
      steps: { b: { environment: { MY_BUCKET: { Ref: logicalPrefix + 'Bucket' } }, statements: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::x/*' }] } },
    });`);
    const extras = extrasOf.workflowExtras(m, dir);
    expect(extras.resources).toEqual({ Resources: { MyFlowBucket: { Type: 'AWS::S3::Bucket', Properties: { Tags: [{ Key: 'k', Value: 'joinflow-test/test/my-flow' }] } } } });
    expect(extras.environment({ id: 'my-flow/b' })).toEqual({ MY_BUCKET: { Ref: 'MyFlowBucket' } });
    expect(extras.statements({ id: 'my-flow/a' })).toEqual([]);
  });

  it('refuses what could break the stack or widen a role, naming the file and the entry', () => {
    const refused = (source: string) => {
      const { root: dir, model: m } = service(source);
      return () => extrasOf.workflowExtras(m, dir);
    };
    const where = path.join('workflows', 'my-flow', 'aws.cjs');
    expect(refused(`module.exports = { resources: {} };`)).toThrow(`${where} must export a function`);
    expect(refused(`module.exports = () => ({ resources: { Table: {} } });`)).toThrow(`${where}: resources "Table": logical ids are letters and digits and start with "MyFlow"`);
    expect(refused(`module.exports = () => ({ outputs: { 'MyFlow-x': {} } });`)).toThrow(/outputs "MyFlow-x"/);
    expect(refused(`module.exports = () => ({ steps: { zz: {} } });`)).toThrow(`${where}: steps.zz: "my-flow" has no function step "zz"`);
    expect(refused(`module.exports = () => ({ steps: { p: {} } });`)).toThrow(/has no function step "p"/);
    expect(refused(`module.exports = () => ({ steps: { a: { environment: { JOINFLOW_TABLE: 'x' } } } });`)).toThrow(/steps\.a\.environment\.JOINFLOW_TABLE: .*JOINFLOW_ is joinflow's/);
    expect(refused(`module.exports = () => ({ steps: { a: { statements: [{ Effect: 'Allow', Action: ['dynamodb:*'], Resource: 'x' }] } } });`)).toThrow(/no "\*", no NotAction/);
    expect(refused(`module.exports = () => ({ steps: { a: { statements: [{ Effect: 'Allow', NotAction: ['s3:GetObject'], Action: ['s3:PutObject'], Resource: 'x' }] } } });`)).toThrow(/no NotAction/);
    expect(refused(`module.exports = () => ({ steps: { a: { statements: [{ Effect: 'Allow', Action: ['s3:GetObject'] }] } } });`)).toThrow(/on a Resource/);
  });

  it('ignores workflows that are single files (their directory is shared)', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'aws.cjs'), 'throw new Error("must not be loaded")');
    mkdirSync(path.join(dir, 'workflows'));
    writeFileSync(path.join(dir, 'workflows', 'aws.cjs'), 'throw new Error("must not be loaded")');
    const plan = compileWorkflow({ name: 'flat', steps: { a: { executor: { type: 'function', module: 'h.ts', export: 'a' } } } }, { source: 'workflows/flat.ts' });
    expect(extrasOf.workflowExtras(model([plan]), dir).resources).toEqual({ Resources: {} });
  });
});
