/** joinflow dev compiles on reload in a thread that then ends, so that what workflow files import does not pile up in the server. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compiledCli } from '../../bin/cli-entry.js';
import { root } from '../helpers/cli.ts';
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

// Compiled, each compile thread started esbuild's service (tsx's for the workflow file, the
// transpiler's for the handler modules its definition check imports): a child process that no
// thread reaped once the compile thread ended. `joinflow dev` kept one zombie per reload.
describe.runIf(process.platform === 'linux' && compiledCli(root) !== undefined)('compileIsolated, compiled (dist/)', () => {
  it('leaves no child process behind, a zombie included: its TypeScript is compiled on the calling thread', () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'workflows/handlers'), { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}');
    writeFileSync(path.join(dir, 'workflows/handlers/h.ts'), 'export const main = async (): Promise<number> => 1;\n');
    writeFileSync(path.join(dir, 'workflows/fy.yaml'), 'name: fy\nsteps:\n  a: {executor: {type: function, module: ./handlers/h.ts, export: main}}\n');
    const wf = path.join(dir, 'workflows/w.ts');
    const program = `
      import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
      import { compileIsolated } from ${JSON.stringify(pathToFileURL(path.join(root, 'dist/adapters/local/compile-isolated.js')).href)};
      const [dir, wf] = process.argv.slice(1);
      const children = () => readdirSync('/proc/self/task').flatMap((t) => readFileSync('/proc/self/task/' + t + '/children', 'utf8').split(' ').filter(Boolean))
        .map((pid) => { try { return readFileSync('/proc/' + pid + '/stat', 'utf8').replace(/^.*\\) /, '')[0]; } catch { return 'gone'; } });
      for (let i = 0; i < 3; i++) {
        // Edited each time, as a reload finds it (tsx compiles a file it has cached only once).
        writeFileSync(wf, "const n: number = " + i + ";\\nexport default { name: 'w', steps: { ['s' + n]: { executor: { type: 'function', module: './handlers/h.ts', export: 'main' } } } };\\n");
        const out = await compileIsolated([wf, dir + '/workflows/fy.yaml'], dir);
        if (out.some((o) => 'error' in o)) throw new Error(JSON.stringify(out));
      }
      // A service whose thread has ended exits once its stdin closes: wait until none runs but this thread's own.
      for (let t = 0; t < 100 && children().filter((s) => s !== 'Z').length > 1; t++) await new Promise((r) => setTimeout(r, 50));
      console.log(JSON.stringify(children()));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', program, dir, wf], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const states = JSON.parse(r.stdout) as string[];
    expect(states.filter((s) => s === 'Z')).toEqual([]);
    // At most the calling thread's esbuild service, which serves every compile.
    expect(states.length).toBeLessThanOrEqual(1);
  });
});
