/**
 * `serverless package` finds a step's handler by its module's extension, which the Lambda handler
 * string drops: .mjs (and the other extensions `joinflow run` loads), not only serverless-esbuild's
 * default .ts/.js/.tsx/.jsx, which failed the package with "Compilation failed for function alias ...".
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileWorkflow, serializePlan } from '../../src/compiler/compile.ts';
import { cleanPackages, slsPackage } from '../helpers/serverless.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-package-handlers-');
afterAll(() => cleanPackages());

describe('handler modules of function steps', () => {
  it('packages a .mjs handler as its own function, with the handler string Lambda resolves', () => {
    const triggers = path.join(tmp(), 'triggers');
    mkdirSync(triggers);
    // Its source at the root: the module path stays as written (relative to the root).
    const plan = compileWorkflow({ name: 'esm', steps: { greet: { executor: { type: 'function', module: 'test/fixtures/handlers/plain.mjs', export: 'handler' } } } }, { source: 'esm.yaml' });
    writeFileSync(path.join(triggers, 'esm.json'), serializePlan(plan));
    const pkg = slsPackage({ JOINFLOW_TRIGGERS_DIR: triggers });
    const fns = Object.entries(pkg.template.Resources).filter(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('StepEsmGreet'));
    expect(fns).toHaveLength(1);
    expect(fns[0]![1].Properties['Handler']).toBe('test/fixtures/handlers/plain.handler');
    const zip = readFileSync(path.join(pkg.dir, `${fns[0]![0].replace(/LambdaFunction$/, '').replace(/^./, (c) => c.toLowerCase())}.zip`));
    // A zip names its entries in plain bytes: the bundle is there under the name the handler string resolves to.
    expect(zip.includes('test/fixtures/handlers/plain.mjs')).toBe(true);
  }, 300_000);
});
