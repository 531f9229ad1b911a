/**
 * TypeScript handlers under the CLI. Compiled (dist/), a worker loads them through ts-hooks.ts,
 * compiled on the main thread, without tsx; what that cannot load the same way goes to tsx, in
 * the same worker. From the sources, the worker has tsx from the start.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compiledCli } from '../../bin/cli-entry.js';
import { joinflow, root } from '../helpers/cli.ts';
import { projectDirs } from '../helpers/tmp.ts';

const compiled = compiledCli(root) !== undefined;
const project = projectDirs('joinflow-ts-handlers-');
// A directory that a path taken for a URL gets wrong: "#" starts a fragment, "%20" is a space.
const odd = projectDirs('joinflow-ts-handlers-a#b c%20-');

// Whether tsx is registered in the worker: its CommonJS hook adds the .ts extension.
const REPORT = "import Module from 'node:module';\nconst tsx = (): boolean => '.ts' in Module._extensions;\n";
const UTIL = 'export const twice = (n: number): number => n * 2;\n';

describe('TypeScript handlers in a worker', () => {
  it(`load ${compiled ? 'without tsx (compiled CLI)' : 'through tsx (from the sources)'}, with their own URL; ./x.js imports ./x.ts`, () => {
    const dir = project({
      'package.json': '{"type": "module"}',
      'tsconfig.json': '{\n  // comments and trailing commas are fine\n  "compilerOptions": { "strict": true, },\n}\n',
      'h/util.ts': UTIL,
      'h/a.ts': `${REPORT}import { twice } from './util.js';\ntype Out = { n: number; tsx: boolean; url: string };\nexport const main = async (): Promise<Out> => ({ n: twice(21), tsx: tsx(), url: import.meta.url });\n`,
      'w.yaml': 'name: w\nsteps:\n  a: { executor: { type: function, module: ./h/a.ts, export: main } }\n',
    });
    const r = joinflow(['run', 'w.yaml', '--memory', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).output).toEqual({ a: { n: 42, tsx: !compiled, url: pathToFileURL(path.join(dir, 'h/a.ts')).href } });
  });

  it('that cannot be compiled file by file (a CommonJS package, a tsconfig.json that extends another, an import without extension) load through tsx, in the worker that loaded the others', () => {
    const dir = project({
      'package.json': '{"type": "module"}',
      'tsconfig.json': '{ "compilerOptions": { "strict": true } }',
      'h/util.ts': UTIL,
      'h/a.ts': `${REPORT}export const main = () => ({ tsx: tsx() });\n`,
      'cjs/package.json': '{"name": "cjs"}',
      'cjs/b.ts': `${REPORT}export const main = (e: { results: object }) => ({ tsx: tsx(), cjs: typeof module === 'object', ...e.results });\n`,
      'ext/tsconfig.json': '{ "extends": "../tsconfig.json" }',
      'ext/c.ts': `${REPORT}export const main = () => ({ tsx: tsx() });\n`,
      'h/d.ts': `${REPORT}import { twice } from './util';\nexport const main = (e: { results: object }) => ({ n: twice(2), tsx: tsx(), ...e.results });\n`,
      // One worker runs them in this order (--concurrency function=1).
      'w.yaml': [
        'name: w',
        'steps:',
        '  a: { executor: { type: function, module: ./h/a.ts, export: main } }',
        '  b: { needs: [a], executor: { type: function, module: ./cjs/b.ts, export: main } }',
        '  d: { needs: [b], executor: { type: function, module: ./h/d.ts, export: main } }',
        '',
      ].join('\n'),
      'x.yaml': 'name: x\nsteps:\n  c: { executor: { type: function, module: ./ext/c.ts, export: main } }\n  d: { needs: [c], executor: { type: function, module: ./h/d.ts, export: main } }\n',
    });
    const w = joinflow(['run', 'w.yaml', '--memory', '--concurrency', 'function=1', '--json'], { cwd: dir });
    expect(w.code, w.stderr).toBe(0);
    // a without tsx (compiled); b, a CommonJS module, through tsx; and d after it.
    expect(JSON.parse(w.stdout).output).toEqual({ d: { n: 4, tsx: true, b: { tsx: true, cjs: true, a: { tsx: !compiled } } } });
    const x = joinflow(['run', 'x.yaml', '--memory', '--json'], { cwd: dir });
    expect(x.code, x.stderr).toBe(0);
    expect(JSON.parse(x.stdout).output).toEqual({ d: { n: 4, tsx: true, c: { tsx: true } } });
  });

  it('load from a directory whose path has "#", a space or "%20" in it, in a CommonJS project too (tsx took the path as a URL: "Cannot find module \'/tmp/a\'")', () => {
    for (const type of ['module', 'commonjs']) {
      const dir = odd({
        'package.json': `{"type": "${type}"}`,
        'h/util.ts': UTIL,
        'h/a.ts': "import { twice } from './util.ts';\nexport const main = (): { n: number } => ({ n: twice(21) });\n",
        'w.yaml': 'name: w\nsteps:\n  a: { executor: { type: function, module: ./h/a.ts, export: main } }\n',
      });
      const r = joinflow(['run', 'w.yaml', '--memory', '--json'], { cwd: dir });
      expect(r.code, `${type}: ${r.stderr}`).toBe(0);
      expect(JSON.parse(r.stdout).output).toEqual({ a: { n: 42 } });
    }
  });

  it('that do not compile are refused before the run, saying where', () => {
    const dir = project({
      'package.json': '{"type": "module"}',
      'h/broken.ts': 'export const main = (: number) => 1;\n',
      'w.yaml': 'name: w\nsteps:\n  a: { executor: { type: function, module: ./h/broken.ts, export: main } }\n',
    });
    const r = joinflow(['run', 'w.yaml', '--memory', '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('steps.a.executor.module: cannot load handler module h/broken.ts');
    expect(r.stderr).toContain(`${path.join(dir, 'h/broken.ts')}:1:21`);
  });
});
