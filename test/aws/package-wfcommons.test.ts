/**
 * A whole WfCommons trace mapped to Batch packages as one workflow: Epigenomics' 1,695 tasks,
 * each a batch step by its program, share one job definition (per workflow, image and platform)
 * and one EventBridge rule, so the stack stays far under CloudFormation's 500 resources (one job
 * definition per step made 1,750 and was refused).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileWorkflow, serializePlan } from '../../src/compiler/compile.ts';
import { importWfCommons } from '../../src/importers/wfcommons.ts';
import { parseExecutorMapping } from '../../src/importers/wfcommons-executors.ts';
import { cleanPackages, slsPackage } from '../helpers/serverless.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-package-wfcommons-');
const TRACE = path.resolve(import.meta.dirname, '../../../shared/corpora/wfcommons/epigenomics-chameleon-ilmn-6seq-50k-001.json');
const PROGRAMS = ['fast2bfq', 'fastqSplit', 'filterContams', 'sol2sanger', 'map', 'mapMerge', 'chr21', 'pileup'];

afterAll(() => cleanPackages());

describe('serverless package of a WfCommons trace mapped to Batch', () => {
  it('packages Epigenomics (1,695 batch steps) as one workflow: one job definition, one rule', () => {
    const mapping = parseExecutorMapping({
      tasks: Object.fromEntries(PROGRAMS.map((p) => [p, { type: 'batch', image: 'example/epigenomics:1', command: '{program} {arguments}', vcpus: p === 'map' ? 2 : 1, memoryMb: p === 'map' ? 4096 : 2048 }])),
    });
    const { workflow } = importWfCommons(JSON.parse(readFileSync(TRACE, 'utf8')), { executors: mapping });
    const plan = compileWorkflow(workflow, { source: 'workflows/epigenomics.json' });
    const batchSteps = Object.values(plan.steps).filter((s) => s.executor.type === 'batch');
    expect(batchSteps).toHaveLength(1695);
    const triggers = path.join(tmp(), 'triggers');
    mkdirSync(triggers);
    writeFileSync(path.join(triggers, `${plan.workflow}.json`), serializePlan(plan));

    const pkg = slsPackage({ JOINFLOW_TRIGGERS_DIR: triggers });
    const resources = Object.values(pkg.template.Resources);
    const count = (type: string) => resources.filter((r) => r.Type === type).length;
    expect(count('AWS::Batch::JobDefinition')).toBe(1);
    expect(resources.length).toBeLessThan(100);
    // The workflow's triggers share one rule (over the rule budget): said at package time.
    expect(pkg.stderr).toContain(`joinflow: workflow "${plan.workflow}": its ${plan.triggers.length} triggers share one EventBridge rule`);
    const definition = resources.find((r) => r.Type === 'AWS::Batch::JobDefinition')!.Properties;
    expect(definition['ContainerProperties'].Image).toBe('example/epigenomics:1');
    expect(definition['ContainerProperties'].Command).toBeUndefined();
  }, 240_000);
});
