/**
 * bin/joinflow.js runs the compiled CLI (dist/) only while it is up to date with src/, and a
 * workflow in TypeScript loads from either.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compiledCli, dateInstalledBuild } from '../../bin/cli-entry.js';
import { initialize, ownPackageHook, resolve } from '../../src/adapters/local/own-package.ts';
import { root } from '../helpers/cli.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A package layout with src/ and a complete build, all files dated `at` (s since the epoch). */
function layout(at: number): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-entry-'));
  dirs.push(dir);
  mkdirSync(path.join(dir, 'src/cli'), { recursive: true });
  mkdirSync(path.join(dir, 'dist/cli'), { recursive: true });
  for (const f of ['src/index.ts', 'src/cli/main.ts', 'dist/cli/main.js', 'dist/.built']) {
    writeFileSync(path.join(dir, f), '');
    utimesSync(path.join(dir, f), at, at);
  }
  for (const d of ['src/cli', 'src', 'dist/cli', 'dist']) utimesSync(path.join(dir, d), at, at);
  return dir;
}

const T = 1_700_000_000;
const stamp = (dir: string, at: number) => utimesSync(path.join(dir, 'dist/.built'), at, at);

describe('which CLI bin/joinflow.js runs', () => {
  it('the compiled one when its build is newer than everything under src/', () => {
    const dir = layout(T);
    stamp(dir, T + 10);
    expect(compiledCli(dir, {})).toBe(path.join(dir, 'dist/cli/main.js'));
  });

  it('the sources when a file under src/ changed after the build', () => {
    const dir = layout(T);
    stamp(dir, T + 10);
    utimesSync(path.join(dir, 'src/cli/main.ts'), T + 20, T + 20);
    expect(compiledCli(dir, {})).toBeUndefined();
  });

  it('the sources when a file was added to or removed from src/ after the build (the directory changed)', () => {
    const dir = layout(T);
    stamp(dir, T + 10);
    rmSync(path.join(dir, 'src/index.ts'));
    expect(compiledCli(dir, {})).toBeUndefined();
  });

  it('the compiled one when there are no sources (a package that ships only dist/)', () => {
    const dir = layout(T);
    stamp(dir, T + 10);
    rmSync(path.join(dir, 'src'), { recursive: true });
    expect(compiledCli(dir, {})).toBe(path.join(dir, 'dist/cli/main.js'));
  });

  it('the sources when the build did not finish (no dist/.built), or with JOINFLOW_CLI_SOURCE=1', () => {
    const dir = layout(T);
    stamp(dir, T + 10);
    expect(compiledCli(dir, { JOINFLOW_CLI_SOURCE: '1' })).toBeUndefined();
    rmSync(path.join(dir, 'dist/.built'));
    expect(compiledCli(dir, {})).toBeUndefined();
  });
});

describe('a build shipped in the package (npm pack), once installed', () => {
  // npm writes every file at extraction, src/ after dist/: the build looks older than the sources.
  const extracted = (stampText: string) => {
    const dir = layout(T + 10);
    writeFileSync(path.join(dir, 'dist/.built'), stampText);
    stamp(dir, T);
    return dir;
  };

  it('is run: the install script dates a packed build after the files were extracted', () => {
    const dir = extracted('2026-11-24T00:00:00.000Z\npacked\n');
    expect(compiledCli(dir, {})).toBeUndefined();
    expect(dateInstalledBuild(dir)).toBe(true);
    expect(compiledCli(dir, {})).toBe(path.join(dir, 'dist/cli/main.js'));
    // A source edited after the install (patch-package) still runs from src/.
    const later = Date.now() / 1000 + 60;
    utimesSync(path.join(dir, 'src/cli/main.ts'), later, later);
    expect(compiledCli(dir, {})).toBeUndefined();
  });

  it('is left alone when it was built in a checkout (npm ci, npm run build), or when there is none', () => {
    const dir = extracted('2026-11-24T00:00:00.000Z\n');
    expect(dateInstalledBuild(dir)).toBe(false);
    expect(compiledCli(dir, {})).toBeUndefined();
    rmSync(path.join(dir, 'dist/.built'));
    expect(dateInstalledBuild(dir)).toBe(false);
  });
});

describe('the CLI, compiled and from the sources', () => {
  const run = (env: Record<string, string>) => {
    const state = mkdtempSync(path.join(tmpdir(), 'joinflow-entry-state-'));
    dirs.push(state);
    const r = spawnSync(process.execPath, [path.join(root, 'bin/joinflow.js'), 'run', 'workflows/fanout.ts', '--state', state, '--json'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: 120_000,
    });
    return { code: r.status, out: r.status === 0 ? (JSON.parse(r.stdout) as { status: string; output: unknown }) : r.stderr };
  };

  it('runs a TypeScript workflow with TypeScript handlers the same way', () => {
    const compiled = compiledCli(root);
    const fromSource = run({ JOINFLOW_CLI_SOURCE: '1' });
    const byDefault = run({});
    expect(fromSource.code, String(fromSource.out)).toBe(0);
    expect(byDefault.code, String(byDefault.out)).toBe(0);
    expect((byDefault.out as { output: unknown }).output).toEqual((fromSource.out as { output: unknown }).output);
    // CI builds dist/ in `npm ci`: there the default is the compiled CLI.
    if (process.env['JOINFLOW_REQUIRE_NATIVE'] === '1') expect(compiled).toBeDefined();
  });

  // A package.json without "type": "module" (npm init's) makes a .ts file CommonJS: Node loads it
  // through require, which needs tsx's CommonJS hook as well as its ES module one.
  it('loads TypeScript workflows and handlers in a CommonJS project, compiled and from the sources', () => {
    const project = mkdtempSync(path.join(tmpdir(), 'joinflow-entry-cjs-'));
    dirs.push(project);
    mkdirSync(path.join(project, 'workflows/handlers'), { recursive: true });
    writeFileSync(path.join(project, 'package.json'), '{"name": "cjs-project", "version": "1.0.0"}\n');
    writeFileSync(
      path.join(project, 'workflows/typed.ts'),
      "type Step = { executor: { type: 'function'; module: string; export: string } };\nconst hello: Step = { executor: { type: 'function', module: './handlers/hello.ts', export: 'hello' } };\nexport default { name: 'typed', steps: { hello } };\n",
    );
    writeFileSync(path.join(project, 'workflows/handlers/hello.ts'), "type Out = { text: string };\nexport const hello = async (): Promise<Out> => ({ text: 'typed' });\n");
    for (const env of [{ JOINFLOW_CLI_SOURCE: '1' }, {}]) {
      const r = spawnSync(process.execPath, [path.join(root, 'bin/joinflow.js'), 'run', 'typed', '--memory', '--json'], { cwd: project, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).output).toEqual({ hello: { text: 'typed' } });
    }
  });

  // The compiled CLI loads such a .ts file as CommonJS whose namespace has only a default: a
  // handler module beside the workflows was checked field by field as a definition ("name: is
  // required", "Unrecognized keys: a, b") instead of being said to have no default export.
  it('says a TypeScript module in workflows/ of a CommonJS project has no default export, compiled and from the sources', () => {
    const project = mkdtempSync(path.join(tmpdir(), 'joinflow-entry-cjs-'));
    dirs.push(project);
    mkdirSync(path.join(project, 'workflows'), { recursive: true });
    writeFileSync(path.join(project, 'package.json'), '{"name": "cjs-project", "version": "1.0.0"}\n');
    writeFileSync(path.join(project, 'workflows/h.ts'), 'export const a = async () => 1;\nexport const b = async () => 2;\n');
    for (const env of [{ JOINFLOW_CLI_SOURCE: '1' }, {}]) {
      const r = spawnSync(process.execPath, [path.join(root, 'bin/joinflow.js'), 'compile', '--check'], { cwd: project, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain('workflows/h.ts: invalid workflow definition (1 problem):\n  - the module has no default export (export default workflow(...)); it exports a, b');
    }
  });

  it('gives a workflow and its handlers that import joinflow the copy the CLI runs: dist/ compiled, src/ from the sources', () => {
    const where = (env: Record<string, string>) => {
      const r = spawnSync(process.execPath, [path.join(root, 'bin/joinflow.js'), 'run', 'test/fixtures/workflows/own-package.ts', '--memory', '--json'], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, ...env },
        timeout: 120_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const { output } = JSON.parse(r.stdout) as { output: { where: { from: string }; worker: { from: string; handlerFrom: string; loaded: boolean } } };
      expect(output.worker.loaded).toBe(true);
      // The workflow (main thread) and the handler (a worker) got the same copy.
      expect(output.worker.from).toBe(output.where.from);
      // The handlers' entry (joinflow/handler) comes from the same side.
      expect(output.worker.handlerFrom).toBe(output.where.from.replace(/index\.(ts|js)$/, 'handler.$1'));
      return output.where.from;
    };
    expect(where({ JOINFLOW_CLI_SOURCE: '1' })).toBe(new URL('src/index.ts', `file://${root}/`).href);
    const compiled = compiledCli(root) !== undefined;
    expect(where({})).toBe(new URL(compiled ? 'dist/index.js' : 'src/index.ts', `file://${root}/`).href);
    // With the sources' condition set for the whole process, the compiled CLI's hook
    // (own-package.ts) still sends the imports to its own copy.
    expect(where({ NODE_OPTIONS: '--conditions=joinflow-source' })).toBe(new URL(compiled ? 'dist/index.js' : 'src/index.ts', `file://${root}/`).href);
    if (process.env['JOINFLOW_REQUIRE_NATIVE'] === '1') expect(compiled).toBe(true);
  });
});

describe('the compiled CLI\'s resolve hook (own-package.ts)', () => {
  it('sends what resolves to the sources\' index to the compiled one, and leaves the rest alone', async () => {
    initialize({ src: 'file:///pkg/src/index.ts', dist: 'file:///pkg/dist/index.js', handlerSrc: 'file:///pkg/src/handler.ts', handlerDist: 'file:///pkg/dist/handler.js' });
    const next = (url: string) => async () => ({ url, format: undefined });
    expect(await resolve('joinflow', {}, next('file:///pkg/src/index.ts'))).toEqual({ url: 'file:///pkg/dist/index.js', format: 'module' });
    expect(await resolve('joinflow/handler', {}, next('file:///pkg/src/handler.ts'))).toEqual({ url: 'file:///pkg/dist/handler.js', format: 'module' });
    // Another package's, or a file of the sources other than the index: as resolved.
    expect(await resolve('joinflow', {}, next('file:///elsewhere/joinflow/src/index.ts'))).toEqual({ url: 'file:///elsewhere/joinflow/src/index.ts', format: undefined });
    expect(await resolve('./x.ts', {}, next('file:///pkg/src/x.ts'))).toEqual({ url: 'file:///pkg/src/x.ts', format: undefined });
  });

  it('is registered with the URLs of the package a compiled module is in', () => {
    const { hook, data } = ownPackageHook('file:///pkg/dist/adapters/local/function-worker.js', 2);
    expect([hook.href, data]).toEqual([
      'file:///pkg/dist/adapters/local/own-package.js',
      { src: 'file:///pkg/src/index.ts', dist: 'file:///pkg/dist/index.js', handlerSrc: 'file:///pkg/src/handler.ts', handlerDist: 'file:///pkg/dist/handler.js' },
    ]);
  });
});
