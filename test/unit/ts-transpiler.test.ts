/**
 * TypeScript compiled on the main thread for the compiled CLI's handler workers
 * (ts-transpiler.ts), and the hooks that ask for it (ts-hooks.ts): what is compiled here, what
 * is left to tsx, and how imports resolve.
 */
import { utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { initialize, load, resolve } from '../../src/adapters/local/ts-hooks.ts';
import { serveTranspiler, transpile, tsconfigFor, withoutComments } from '../../src/adapters/local/ts-transpiler.ts';
import { projectDirs } from '../helpers/tmp.ts';

const project = projectDirs('joinflow-ts-');

const ESM = { 'package.json': '{"type": "module"}' };

describe('tsconfig.json as JSON with comments', () => {
  it('drops comments and trailing commas, and leaves strings alone', () => {
    const text = `{
      // a comment, with a comma,
      "compilerOptions": { /* inline */ "jsx": "react-jsx", "outDir": "a//b", "x": "/* not a comment */", "q": "say \\"hi\\", // no",
        "lib": ["ES2023", /* last */ ], },
    }`;
    expect(JSON.parse(withoutComments(text))).toEqual({ compilerOptions: { jsx: 'react-jsx', outDir: 'a//b', x: '/* not a comment */', q: 'say "hi", // no', lib: ['ES2023'] } });
  });

  it('the nearest one above a file: its options; one that extends another or maps paths is left to tsx', () => {
    const dir = project({
      'tsconfig.json': '{ "compilerOptions": { "experimentalDecorators": true, } }',
      'a/b/x.ts': '',
      'ext/tsconfig.json': '{ "extends": "@tsconfig/node20/tsconfig.json" }',
      'paths/tsconfig.json': '{ "compilerOptions": { "paths": { "@/*": ["./src/*"] } } }',
      'bad/tsconfig.json': '{ nope',
    });
    expect(tsconfigFor(path.join(dir, 'a/b'))).toEqual({ compilerOptions: { experimentalDecorators: true } });
    expect(tsconfigFor(path.join(dir, 'ext'))).toEqual({ useTsx: `${path.join(dir, 'ext/tsconfig.json')} extends another` });
    expect(tsconfigFor(path.join(dir, 'paths'))).toEqual({ useTsx: `${path.join(dir, 'paths/tsconfig.json')} maps paths` });
    expect(tsconfigFor(path.join(dir, 'bad'))).toEqual({ useTsx: `${path.join(dir, 'bad/tsconfig.json')} is not JSON with comments` });
  });
});

describe('transpile', () => {
  it('compiles an ES module in TypeScript, with the options of its tsconfig.json, once per version of the file', async () => {
    const dir = project({
      ...ESM,
      'tsconfig.json': '{ "compilerOptions": { "experimentalDecorators": true } }',
      'h.ts': "type T = { a: number };\nconst log = (t: unknown, k: string) => {};\nclass C { @log m() {} }\nexport const f = (t: T): number => t.a + 1;\n",
    });
    const file = path.join(dir, 'h.ts');
    const first = await transpile(file);
    expect('source' in first).toBe(true);
    const source = (first as { source: string }).source;
    expect(source).toContain('export const f = (t) => t.a + 1;');
    // experimentalDecorators: TypeScript's own decorator helper, not the standard decorators'.
    expect(source).toContain('__decorateClass');
    expect(source).toContain('//# sourceMappingURL=data:application/json;base64,');
    expect(transpile(file)).toBe(transpile(file));
    // Changed on disk: compiled again.
    writeFileSync(file, 'export const f = (): number => 2;\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    expect(((await transpile(file)) as { source: string }).source).toContain('export const f = () => 2;');
  });

  it('.mts is an ES module in any package; .ts and .tsx in a CommonJS package, and .cts, are left to tsx', async () => {
    const dir = project({ 'package.json': '{"name": "cjs"}', 'a.mts': 'export const a: number = 1;\n', 'b.ts': 'export const b: number = 1;\n', 'c.cts': 'module.exports = 1;\n' });
    expect(await transpile(path.join(dir, 'a.mts'))).toHaveProperty('source');
    expect(await transpile(path.join(dir, 'b.ts'))).toEqual({ useTsx: 'its package is CommonJS (no "type": "module")' });
    expect(await transpile(path.join(dir, 'c.cts'))).toEqual({ useTsx: '.cts files are left to tsx' });
  });

  it('says where a file does not compile', async () => {
    const dir = project({ ...ESM, 'broken.ts': 'export const f = (: number => 1;\n' });
    const answer = await transpile(path.join(dir, 'broken.ts'));
    expect(answer).toHaveProperty('error');
    expect((answer as { error: string }).error).toContain(`${path.join(dir, 'broken.ts')}:1:`);
  });

  it('answers a hooks thread on its port, request by request', async () => {
    const dir = project({ ...ESM, 'h.ts': 'export const v: number = 1;\n' });
    const { port1, port2 } = new MessageChannel();
    serveTranspiler(port1);
    const reply = new Promise((r) => port2.once('message', r));
    port2.postMessage({ id: 7, url: pathToFileURL(path.join(dir, 'h.ts')).href });
    expect(await reply).toMatchObject({ id: 7, source: expect.stringContaining('export const v = 1;') });
    port1.close();
  });
});

describe('ts-hooks.ts', () => {
  const notFound = () => Object.assign(new Error('not found'), { code: 'ERR_MODULE_NOT_FOUND' });
  /** A nextResolve that knows only these URLs. */
  const only = (...urls: string[]) => async (specifier: string, context: { parentURL?: string }) => {
    const url = new URL(specifier, context.parentURL).href;
    if (urls.includes(url)) return { url, format: null };
    throw notFound();
  };

  it('resolves a TypeScript file\'s import of ./x.js to ./x.ts (NodeNext style); not a JavaScript file\'s', async () => {
    const parent = 'file:///p/h.ts';
    expect(await resolve('./x.js', { parentURL: parent }, only('file:///p/x.ts'))).toEqual({ url: 'file:///p/x.ts', format: null });
    expect(await resolve('./v.jsx', { parentURL: parent }, only('file:///p/v.tsx'))).toEqual({ url: 'file:///p/v.tsx', format: null });
    expect(await resolve('./m.mjs', { parentURL: parent }, only('file:///p/m.mts'))).toEqual({ url: 'file:///p/m.mts', format: null });
    await expect(resolve('./x.js', { parentURL: 'file:///p/h.mjs' }, only('file:///p/x.ts'))).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    await expect(resolve('./y.js', { parentURL: parent }, only())).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
  });

  it('loads TypeScript as the JavaScript the main thread compiles; leaves a file another hook has a format for, and says when tsx should load one', async () => {
    const dir = project({ 'package.json': '{"name": "cjs"}', 'esm/package.json': '{"type": "module"}', 'esm/h.ts': 'export const v: number = 1;\n', 'cjs.ts': 'export = 1;\n' });
    const { port1, port2 } = new MessageChannel();
    serveTranspiler(port1);
    initialize({ port: port2, own: { src: 'file:///none/src/index.ts', dist: 'file:///none/dist/index.js' } });
    const next = async () => ({ format: 'passed-on', source: 'next' });
    const url = pathToFileURL(path.join(dir, 'esm/h.ts')).href;
    expect(await load(url, { format: null }, next)).toEqual({ format: 'module', source: expect.stringContaining('export const v = 1;'), shortCircuit: true });
    expect(await load(url, { format: 'module' }, next)).toEqual({ format: 'passed-on', source: 'next' });
    expect(await load('file:///p/x.mjs', { format: null }, next)).toEqual({ format: 'passed-on', source: 'next' });
    await expect(load(pathToFileURL(path.join(dir, 'cjs.ts')).href, { format: null }, next)).rejects.toMatchObject({
      code: 'JOINFLOW_USE_TSX',
      message: `${path.join(dir, 'cjs.ts')}: its package is CommonJS (no "type": "module"), so tsx loads it`,
    });
    port1.close();
    port2.close();
  });
});
