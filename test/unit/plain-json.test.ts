import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseJsonStrict, plainJson } from '../../src/adapters/local/plain-json.ts';
import { compileFile, loadDefinition } from '../../src/adapters/local/workflow-files.ts';
import { Random } from '../fuzz/random.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tempDir = tempDirs('plain-json-');

/** What the YAML reader makes of a text (the reader JSON files went through before). */
function viaYaml(text: string): { value: unknown } | { error: string } {
  try {
    return { value: parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 }) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** A random JSON value with the strings and numbers that differ between readers, if any do. */
function randomValue(rng: Random, depth: number): unknown {
  const kind = depth > 4 ? rng.int(4) : rng.int(6);
  const strings = ['', 'a', 'é', '"', '\\', '/', '\u2028', '\ud800', '\u0000', 'key', 'a b', '__proto__', 'constructor', '\t'];
  const numbers = [0, -0, 1, -1.5, 0.1, 1e21, 1e-7, 2 ** 53 + 2, Number.MAX_VALUE, 5e-324];
  switch (kind) {
    case 0:
      return rng.pick(strings) + (rng.chance(0.3) ? String(rng.int(3)) : '');
    case 1:
      return rng.pick(numbers);
    case 2:
      return rng.pick([true, false, null]);
    case 3:
      return [];
    case 4:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) Object.defineProperty(o, `${rng.pick(strings)}${rng.int(4)}`, { value: randomValue(rng, depth + 1), enumerable: true, configurable: true, writable: true });
      return o;
    }
  }
}

describe('plainJson: JSON workflow files read natively', () => {
  it('gives what the YAML reader gives, for JSON as JSON.stringify writes it (any indentation)', () => {
    const rng = new Random(20261122);
    let compared = 0;
    for (let i = 0; i < 400; i++) {
      const text = JSON.stringify(randomValue(rng, 0), null, rng.pick([0, 2, '\t']));
      const plain = plainJson(text, 200);
      expect(plain, text).toBeDefined();
      const yaml = viaYaml(text);
      // The YAML reader refuses some valid JSON (tabs before a key in a block): nothing to compare.
      if ('error' in yaml) continue;
      expect(plain!.value, text).toStrictEqual(yaml.value);
      compared++;
    }
    expect(compared).toBeGreaterThan(300);
  });

  it('leaves duplicate keys to the YAML reader, also written with escapes, at any depth', () => {
    expect(plainJson('{"a": 1, "a": 2}', 200)).toBeUndefined();
    expect(plainJson('{"a": 1, "\\u0061": 2}', 200)).toBeUndefined();
    expect(plainJson('{"s": {"x": [{"k": 1, "j": 2, "k": 3}]}}', 200)).toBeUndefined();
    // The same key in different objects, and as a string value, is no duplicate.
    expect(plainJson('{"a": {"a": "a"}, "b": ["a", {"a": 1}], "c": "a"}', 200)).toEqual({ value: { a: { a: 'a' }, b: ['a', { a: 1 }], c: 'a' } });
    expect(plainJson('{"a\\"b": 1, "a\\\\": 2, "x": "\\"a\\""}', 200)).toEqual({ value: { 'a"b': 1, 'a\\': 2, x: '"a"' } });
  });

  it('leaves texts that are not JSON, and deep ones, to the YAML reader', () => {
    for (const text of ['', 'name: x\nsteps: {}\n', '\uFEFF{}', '{"a": 1} x', "{'a': 1}", '{"a": 1,}', '[1, 2']) expect(plainJson(text, 200), text).toBeUndefined();
    const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    expect(plainJson(nested(199), 200)).toBeDefined();
    expect(plainJson(nested(200), 200)).toBeUndefined();
  });

  it('keeps loadDefinition\'s messages for JSON files the YAML reader refuses', async () => {
    const dir = tempDir();
    const dup = path.join(dir, 'dup.json');
    writeFileSync(dup, '{"name": "d",\n "steps": {"x": {"executor": {"type": "simulate"}}, "x": {}}}\n');
    await expect(loadDefinition(dup)).rejects.toThrow(/line 2, column \d+: Map keys must be unique/);
    const deep = path.join(dir, 'deep.json');
    writeFileSync(deep, `{"name": "d", "steps": ${'['.repeat(250)}${']'.repeat(250)}}`);
    await expect(loadDefinition(deep)).rejects.toThrow(/nested more than 200 levels deep/);
    const ok = path.join(dir, 'ok.json');
    writeFileSync(ok, JSON.stringify({ name: 'ok', steps: { a: { executor: { type: 'simulate', durationMs: 1 } } } }, null, '\t'));
    await expect(loadDefinition(ok)).resolves.toEqual({ name: 'ok', steps: { a: { executor: { type: 'simulate', durationMs: 1 } } } });
  });

  it('reports a .json file that is not JSON with JSON\'s message and the line, and a forEach of the wrong kind by what it must be', async () => {
    const dir = tempDir();
    const cut = path.join(dir, 'cut.json');
    writeFileSync(cut, '{"name": "t",\n "steps": {"a": {"executor": {"type": "simulate", "durationMs": 1}}\n');
    await expect(loadDefinition(cut)).rejects.toThrow(/line 3, column 1: not valid JSON: Expected ',' or '}' after property value/);
    // What the YAML reader takes still loads: a byte order mark, trailing commas.
    const bom = path.join(dir, 'bom.json');
    writeFileSync(bom, '\ufeff{"name": "b", "steps": {"a": {"executor": {"type": "simulate", "durationMs": 1},},}}');
    await expect(loadDefinition(bom)).resolves.toMatchObject({ name: 'b' });
    // JSON.parse is given no byte order mark either.
    expect(parseJsonStrict('\ufeff{"a": 1}')).toEqual({ a: 1 });
    expect(() => parseJsonStrict('{"a": 1}\n\n#')).toThrow(/^line 3, column 1: Unexpected non-whitespace character$/);
    const fe = path.join(dir, 'fe.yaml');
    writeFileSync(fe, 'name: t\nsteps:\n  a: { executor: { type: simulate, durationMs: 1 } }\n  b: { needs: [a], forEach: 7, executor: { type: simulate, durationMs: 1 } }\n');
    await expect(compileFile(fe, dir)).rejects.toThrow(/steps\.b\.forEach: must be a predecessor's step id, or \{step, path, maxConcurrency\} with the path of an array in its output/);
  });

  it('says a workflow module has no default export, naming what it exports, whether ES module or CommonJS', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'esm.mjs'), 'export const x = 1;\nexport const y = 2;\n');
    mkdirSync(path.join(dir, 'cjs'));
    writeFileSync(path.join(dir, 'cjs', 'package.json'), '{"type": "commonjs"}');
    writeFileSync(path.join(dir, 'cjs', 'cjs.js'), 'exports.x = 1;\nexports.y = 2;\n');
    writeFileSync(path.join(dir, 'cjs', 'whole.js'), "module.exports = { name: 'whole', steps: { a: { executor: { type: 'simulate', durationMs: 1 } } } };\n");
    for (const f of ['esm.mjs', 'cjs/cjs.js']) {
      await expect(loadDefinition(path.join(dir, f))).rejects.toThrow(/the module has no default export \(export default workflow\(\.\.\.\)\); it exports x, y/);
    }
    await expect(loadDefinition(path.join(dir, 'cjs', 'whole.js'))).resolves.toMatchObject({ name: 'whole' });
    // One that exports null says so (it was said to have no default export).
    writeFileSync(path.join(dir, 'null.mjs'), 'export default null;\n');
    writeFileSync(path.join(dir, 'cjs', 'null.js'), 'module.exports = null;\n');
    for (const f of ['null.mjs', 'cjs/null.js']) {
      await expect(loadDefinition(path.join(dir, f))).rejects.toThrow(/the module's default export is null, not a workflow \(export default workflow\(\.\.\.\)\)/);
    }
  });

  it('reports what the YAML reader only warns of as problems of the file, and prints nothing', async () => {
    const dir = tempDir();
    const write = (name: string, text: string) => {
      const file = path.join(dir, name);
      writeFileSync(file, text);
      return file;
    };
    const printed: unknown[] = [];
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation((...args: unknown[]) => void printed.push(args));
    const log = vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void printed.push(args));
    try {
      await expect(loadDefinition(write('tag.yaml', 'name: t\nsteps:\n  a: { executor: !!js/function "x" }\n'))).rejects.toThrow(/line 3, column 18: Unresolved tag: tag:yaml.org,2002:js\/function/);
      await expect(loadDefinition(write('key.yaml', 'name: t\nsteps:\n  ? [x]\n  : {}\n'))).rejects.toThrow(/line 3, column 5: a key must be a plain value, not a list or a map/);
      await expect(loadDefinition(write('two.yaml', 'name: t\nsteps: {}\n---\nname: u\n'))).rejects.toThrow(/line 3, column 1: a workflow file holds one YAML document, and this one has several/);
    } finally {
      warn.mockRestore();
      log.mockRestore();
    }
    expect(printed).toEqual([]);
  });

  it('names what a workflow module\'s top level threw, when it is not an Error (it said "cannot load module: undefined")', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'throws.mjs');
    writeFileSync(file, 'throw "no config for this stage";\n');
    await expect(loadDefinition(file)).rejects.toThrow(/cannot load module: no config for this stage/);
  });

  it('merges YAML merge keys (<<: *base), the keys written beside them winning; a quoted "<<" stays a key', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'merge.yaml');
    writeFileSync(file, [
      'name: m',
      'steps:',
      '  a: &base',
      '    executor: &exec { type: function, module: ./h.mjs, export: run, params: { v: 1 } }',
      '    retry: { maxAttempts: 2 }',
      '  b:',
      '    <<: *base',
      '    needs: [a]',
      '  c:',
      '    <<: [*base]',
      '    executor: { <<: *exec, params: { v: 3 } }',
      '    retry: { maxAttempts: 5 }',
      '  d: { executor: { type: simulate, durationMs: 0, output: { "<<": 1 } } }',
      '',
    ].join('\n'));
    const exec = { type: 'function', module: './h.mjs', export: 'run', params: { v: 1 } };
    await expect(loadDefinition(file)).resolves.toEqual({
      name: 'm',
      steps: {
        a: { executor: exec, retry: { maxAttempts: 2 } },
        b: { executor: exec, retry: { maxAttempts: 2 }, needs: ['a'] },
        c: { executor: { ...exec, params: { v: 3 } }, retry: { maxAttempts: 5 } },
        d: { executor: { type: 'simulate', durationMs: 0, output: { '<<': 1 } } },
      },
    });
  });
});

describe('parseJsonStrict', () => {
  it('reads JSON as JSON.parse does, but refuses a key given twice in one object, saying where', () => {
    expect(parseJsonStrict('{"a": [1, {"b": 2}], "c": "\\"x\\""}')).toEqual({ a: [1, { b: 2 }], c: '"x"' });
    // The same key in two objects is fine; twice in one is not, however it is spelled.
    expect(parseJsonStrict('[{"a": 1}, {"a": 2}]')).toEqual([{ a: 1 }, { a: 2 }]);
    expect(() => parseJsonStrict('{"a": 1,\n  "b": {"c": 2, "c": 3}}')).toThrow('line 2, column 17: key "c" appears twice in one object');
    expect(() => parseJsonStrict('{"a": 1, "\\u0061": 2}')).toThrow('line 1, column 10: key "a" appears twice in one object');
    expect(() => parseJsonStrict('{"a": ')).toThrow(SyntaxError);
    // JSON.parse's own errors, in one line with a line and column where V8 gives a position.
    expect(() => parseJsonStrict('{"a": ')).toThrow(/^line 1, column 7: unexpected end of the text$/);
    expect(() => parseJsonStrict('{\n bad')).toThrow(/^line 2, column 2: /);
    // V8 gives no position for an unexpected token: found by parsing prefixes (it said only
    // "Unexpected token ']', ...\" [" for a longer text, its quote cut at the newline).
    expect(() => parseJsonStrict('{"a": 1,\n  "b": }')).toThrow(/^line 2, column 8: Unexpected token '}'$/);
    expect(() => parseJsonStrict('{"source": [\n "a",\n ]}')).toThrow(/^line 3, column 2: Unexpected token '\]'$/);
    expect(() => parseJsonStrict(`{"long": "${'x'.repeat(200)}",\n "b": [1,\n\n ]}`)).toThrow(/^line 4, column 2: Unexpected token '\]'$/);
    // No depth limit of its own: JSON.parse's.
    const deep = `${'['.repeat(3000)}{"k": 1}${']'.repeat(3000)}`;
    expect(() => parseJsonStrict(deep)).not.toThrow();
  });
});
