/** joinflow dev compiles on reload in a thread that then ends, so that what workflow files import does not pile up in the server. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileIsolated } from '../../src/adapters/local/compile-isolated.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-compile-isolated-');

describe('compileIsolated', () => {
  it('compiles each file in a worker thread, TypeScript included, and gives each broken file its message', async () => {
    const root = tmp();
    mkdirSync(path.join(root, 'workflows'));
    const ts = path.join(root, 'workflows/where.ts');
    // The definition says which thread loaded it: its one step is named after it.
    writeFileSync(ts, "import { isMainThread } from 'node:worker_threads';\nconst where: string = isMainThread ? 'main' : 'worker';\nexport default { name: 'where', steps: { [where]: { executor: { type: 'simulate', durationMs: 1 } } } };\n");
    const broken = path.join(root, 'workflows/broken.yaml');
    writeFileSync(broken, 'name: broken\nsteps:\n  a: {needs: [nope], executor: {type: simulate, durationMs: 1}}\n');
    const [good, bad] = await compileIsolated([ts, broken], root);
    expect(good).toMatchObject({ file: ts, plan: { workflow: 'where' } });
    expect(Object.keys((good as { plan: { steps: object } }).plan.steps)).toEqual(['worker']);
    expect(bad).toMatchObject({ file: broken });
    expect((bad as { error: string }).error).toContain('unknown step "nope"');
  });
});
