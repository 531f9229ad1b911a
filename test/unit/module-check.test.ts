/** describeModules: handler modules imported in a thread of their own, whatever their top level does. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { describeModules } from '../../src/adapters/local/module-check.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-modcheck-');

function modules(files: Record<string, string>): Record<string, string> {
  const dir = tmp();
  mkdirSync(dir, { recursive: true });
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(files)) {
    out[name] = path.join(dir, name);
    writeFileSync(out[name], text);
  }
  return out;
}

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

describe('describeModules', () => {
  it('lists the function exports of JavaScript and TypeScript modules, and why one does not load', async () => {
    const m = modules({
      'a.mjs': 'export const handler = async () => 1;\nexport const value = 3;\nexport function other() {}\n',
      'b.ts': 'export const handler = async (e: { input: unknown }): Promise<number> => 2;\n',
      'c.mjs': 'throw new Error("broken at import");\n',
      // Thrown values that are not errors: null was "Cannot read properties of null (reading 'code')".
      'd.mjs': 'throw null;\n',
      'e.mjs': 'throw "a string";\n',
    });
    const out = await describeModules([m['a.mjs']!, m['b.ts']!, m['c.mjs']!, m['d.mjs']!, m['e.mjs']!]);
    expect(out.get(m['a.mjs']!)).toEqual({ exports: ['handler', 'other'] });
    expect(out.get(m['b.ts']!)).toEqual({ exports: ['handler'] });
    expect(out.get(m['c.mjs']!)).toEqual({ error: 'broken at import' });
    expect(out.get(m['d.mjs']!)).toEqual({ error: 'null' });
    expect(out.get(m['e.mjs']!)).toEqual({ error: 'a string' });
  });

  it('says why a CommonJS .js module in a "type": "module" package has no exports', async () => {
    const m = modules({ 'package.json': '{"type": "module"}', 'cjs.js': 'exports.handler = async () => 1;\n', 'empty.js': 'const x = 1;\n' });
    const out = await describeModules([m['cjs.js']!, m['empty.js']!]);
    expect(out.get(m['cjs.js']!)).toEqual({ exports: [], note: expect.stringContaining('it is written as CommonJS (exports.x = ..., require), but its package.json says "type": "module"') });
    // Nothing written as CommonJS: no note.
    expect(out.get(m['empty.js']!)).toEqual({ exports: [] });
  });

  it('gives the line of a JavaScript syntax error, which the module loader leaves out', async () => {
    const m = modules({ 'broken.mjs': 'export const handler = async () => {\n  return 1;\n  const x = ;\n};\n' });
    const out = await describeModules([m['broken.mjs']!]);
    expect(out.get(m['broken.mjs']!)).toEqual({ error: "line 3: Unexpected token ';'" });
  });

  it("sends what a module prints while imported to `output`, not to this process's stdout", async () => {
    const m = modules({ 'loud.mjs': 'console.log("loading the model");\nexport const handler = () => 1;\n' });
    const output = collect();
    const out = await describeModules([m['loud.mjs']!], { output: output.stream });
    expect(out.get(m['loud.mjs']!)).toEqual({ exports: ['handler'] });
    await new Promise((resolve) => setImmediate(resolve));
    expect(output.text()).toBe('loading the model\n');
  });

  it('answers for a module that ends its thread, and goes on with the next in a new one', async () => {
    const m = modules({ 'exits.mjs': 'process.exit(3);\nexport const handler = () => 1;\n', 'after.mjs': 'export const handler = () => 1;\n' });
    const out = await describeModules([m['exits.mjs']!, m['after.mjs']!]);
    expect(out.get(m['exits.mjs']!)).toEqual({ error: 'it ended its thread (process.exit(3)) while being imported' });
    expect(out.get(m['after.mjs']!)).toEqual({ exports: ['handler'] });
  });

  it('gives up on a module whose import never settles, and goes on with the next', async () => {
    const m = modules({ 'hangs.mjs': 'await new Promise(() => {});\nexport const handler = () => 1;\n', 'after.mjs': 'export const handler = () => 1;\n' });
    const out = await describeModules([m['hangs.mjs']!, m['after.mjs']!], { limitMs: 300 });
    expect(out.get(m['hangs.mjs']!)).toEqual({ error: 'it did not finish loading within 0.3 s (a top-level await that never settles?)' });
    expect(out.get(m['after.mjs']!)).toEqual({ exports: ['handler'] });
  });
});
