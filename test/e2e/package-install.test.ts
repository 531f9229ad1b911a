/**
 * The package as a user installs it: `npm pack`'s tarball unpacked into node_modules/joinflow of
 * a new project, its dependencies linked from this checkout's node_modules (no registry, no
 * install scripts), then used as a library from plain `node` and type-checked by `tsc`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-install-');
// The tarball ships dist/ as it is on disk (--ignore-scripts: `prepare` would rebuild dist/ under
// the feet of the other test files); `npm ci` builds it, CI (JOINFLOW_REQUIRE_NATIVE=1) must have it.
const built = existsSync(path.join(root, 'dist/.built'));

/** A project with the packed joinflow in node_modules/joinflow; returns its directory. */
function installPacked(): string {
  const project = realpathSync(tmp());
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', project], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [{ filename }] = JSON.parse(out) as [{ filename: string }];
  const modules = path.join(project, 'node_modules');
  const pkg = path.join(modules, 'joinflow');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(project, filename), '-C', pkg, '--strip-components=1']);
  const manifest = JSON.parse(readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  // What `npm install` would put beside it; a TypeScript project has @types/node of its own.
  for (const name of [...Object.keys(manifest.dependencies), '@types/node']) {
    mkdirSync(path.dirname(path.join(modules, name)), { recursive: true });
    symlinkSync(path.join(root, 'node_modules', name), path.join(modules, name), 'dir');
  }
  writeFileSync(path.join(project, 'package.json'), '{"name": "consumer", "version": "1.0.0", "private": true, "type": "module"}\n');
  return project;
}

describe.skipIf(!built && process.env['JOINFLOW_REQUIRE_NATIVE'] !== '1')('the installed package', () => {
  let project = '';
  beforeAll(() => {
    project = installPacked();
  });

  // package.json's exports named src/*.ts: plain Node refused them (ERR_UNKNOWN_FILE_EXTENSION).
  it('runs a workflow from plain node, without tsx: joinflow, joinflow/handler and joinflow/asl load their compiled JavaScript', () => {
    mkdirSync(path.join(project, 'handlers'));
    writeFileSync(
      path.join(project, 'handlers/double.mjs'),
      "import { NonRetriableStepError } from 'joinflow/handler';\n" +
        "export const double = async (event) => ({ y: event.input.x * 2, handler: import.meta.resolve('joinflow/handler'), errors: typeof NonRetriableStepError });\n",
    );
    const program = `
      import { compileWorkflow, createEngine, fn, simulate, workflow } from 'joinflow';
      import { aslHandler } from 'joinflow/asl';
      const engine = createEngine({ root: process.cwd() });
      engine.register(compileWorkflow(workflow('one').step('a', simulate(0, { hello: 'world' })).build()));
      engine.register(compileWorkflow(workflow('two').step('d', fn('./handlers/double.mjs', 'double')).build()));
      const one = await engine.run('one', { x: 1 });
      const two = await engine.run('two', { x: 21 });
      await engine.close();
      console.log(JSON.stringify({ one: [one.status, one.output, one.steps.total], two: [two.status, two.output], aslHandler: typeof aslHandler,
        joinflow: import.meta.resolve('joinflow'), asl: import.meta.resolve('joinflow/asl') }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION');
    expect(r.status, r.stderr).toBe(0);
    const dist = pathToFileURL(path.join(project, 'node_modules/joinflow/dist/')).href;
    expect(JSON.parse(r.stdout)).toEqual({
      one: ['succeeded', { a: { hello: 'world' } }, 1],
      two: ['succeeded', { d: { y: 42, handler: `${dist}handler.js`, errors: 'function' } }],
      aslHandler: 'function',
      asl: `${dist}asl.js`,
      joinflow: `${dist}index.js`,
    });
  });

  // Plain Node refused the file ('Unknown file extension ".ts"'): only a process run under tsx
  // could compile a TypeScript workflow.
  it('compiles and runs a workflow file written in TypeScript from plain node, without tsx', () => {
    mkdirSync(path.join(project, 'workflows'), { recursive: true });
    writeFileSync(
      path.join(project, 'workflows/typed.ts'),
      "import { simulate, workflow } from 'joinflow';\n" +
        'interface Greeting { hello: string; count: number }\n' +
        "const greeting: Greeting = { hello: 'typed', count: 2 as number };\n" +
        "export default workflow('typed').step('a', simulate(0, greeting)).step('b', simulate(0, { after: 'a' }), { needs: ['a'] }).build();\n",
    );
    const program = `
      import { compileFile, createEngine } from 'joinflow';
      const engine = createEngine({ root: process.cwd() });
      engine.register(await compileFile('workflows/typed.ts'));
      const run = await engine.run('typed', null);
      await engine.close();
      console.log(JSON.stringify([run.status, run.output]));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(['succeeded', { b: { after: 'a' } }]);
  });

  // The exports' types named the TypeScript sources, which a project's tsc compiled as its own
  // code: their `.ts` imports failed without allowImportingTsExtensions. And the declarations of
  // openDurableState reached modules that import better-sqlite3's types: without
  // @types/better-sqlite3 (a devDependency of joinflow's), TS7016 in five of them.
  it('type-checks a TypeScript project that uses it (tsc, nodenext, strict, declarations checked too) with @types/node alone', () => {
    expect(existsSync(path.join(project, 'node_modules/@types/better-sqlite3'))).toBe(false);
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['main.ts'] }),
    );
    writeFileSync(
      path.join(project, 'main.ts'),
      [
        "import { compileWorkflow, createEngine, openDurableState, simulate, workflow, type EventEnvelope, type RunResult } from 'joinflow';",
        "import { NonRetriableStepError, type StepHandler } from 'joinflow/handler';",
        "import { aslHandler } from 'joinflow/asl';",
        '',
        "export const handler: StepHandler = async (event) => {",
        "  if (event.input === null) throw new NonRetriableStepError('no input');",
        '  return { ok: true };',
        '};',
        'const engine = createEngine({ concurrency: { function: 2 } });',
        "engine.register(compileWorkflow(workflow('one').step('a', simulate(0, { hello: 'world' })).build()));",
        "engine.bus.subscribe({ 'detail-type': ['Run Succeeded'] }, (events: EventEnvelope[]) => console.log(events.length));",
        "const result: RunResult = await engine.run('one', { x: 1 });",
        "const state = openDurableState({ dir: 'state', sync: 'full' });",
        'state.close();',
        'console.log(result.status, typeof aslHandler);',
        // Real types, not `any`: a mistake is an error (and an unused @ts-expect-error would be one).
        '// @ts-expect-error: the option is `concurrency`',
        'createEngine({ concurency: 2 });',
        '',
      ].join('\n'),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });
});
