/**
 * What `npm pack` puts in the package (the file list of `npm pack --dry-run`: no registry, no
 * network, no build): what an install needs to run, and none of the repository's own tooling.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from '../helpers/cli.ts';

type Manifest = { license: string; bin: Record<string, string>; exports: Record<string, Record<string, string>>; scripts: Record<string, string> };

function packed(): string[] {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // --ignore-scripts: no `prepare` (a 6 s build); dist/ is listed as it is on disk.
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [pack] = JSON.parse(out) as [{ files: { path: string }[] }];
  return pack.files.map((f) => f.path).sort();
}

describe('the npm package', () => {
  const files = packed();
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Manifest;

  it('ships no tests, benchmarks, examples, deploy template or CI script', () => {
    const tops = [...new Set(files.map((f) => f.split('/')[0]))].sort();
    expect(tops).toEqual(['LICENSE', 'README.md', 'bin', 'dist', 'native', 'package.json', 'scripts', 'src', 'tsconfig.json']);
    expect(files.filter((f) => f.startsWith('scripts/'))).toEqual(['scripts/build-native.mjs', 'scripts/date-build.mjs']);
    // The addon is built on install, for that machine: its sources ship, no build of this one.
    expect(files.filter((f) => f.startsWith('native/') && !/^native\/spawn\/([a-z]+\.[ch]|binding\.gyp)$/.test(f))).toEqual([]);
  });

  // package.json said MIT, and nothing in the package gave the licence's text.
  it('ships the licence package.json names: the MIT text, with its copyright line', () => {
    expect(manifest.license).toBe('MIT');
    expect(files).toContain('LICENSE');
    const text = readFileSync(path.join(root, 'LICENSE'), 'utf8');
    expect(text.split('\n').slice(0, 3)).toEqual(['MIT License', '', 'Copyright (c) 2026 joinflow maintainers']);
    expect(text).toContain('Permission is hereby granted, free of charge, to any person obtaining a copy');
  });

  it('ships every file package.json names: the bin, the exports, what the install script runs, the addon\'s sources', () => {
    const named = [...Object.values(manifest.bin), 'bin/cli-entry.js', 'bin/source-condition.js'];
    for (const script of manifest.scripts['install']!.split('&&')) named.push(script.trim().replace(/^node /, ''));
    for (const f of ['binding.gyp', 'spawn.c', 'spawn.h', 'child.c', 'watch.c', 'output.c', 'env.c']) named.push(`native/spawn/${f}`);
    // The exports' targets: the compiled entries and their declarations when there is a build
    // (`npm pack` makes one), and the sources under the `joinflow-source` condition.
    const built = existsSync(path.join(root, 'dist/.built'));
    for (const targets of Object.values(manifest.exports)) named.push(...Object.values(targets).filter((f) => built || !f.startsWith('./dist/')));
    expect(named.map((f) => path.posix.normalize(f)).filter((f) => !files.includes(f))).toEqual([]);
    // The sources, all of them: the CLI runs them when it has no build newer than they are.
    expect(files.filter((f) => f.startsWith('src/')).length).toBeGreaterThan(100);
  });

  it('exports compiled JavaScript to plain Node, declarations to TypeScript, and the sources only under the joinflow-source condition', () => {
    expect(Object.keys(manifest.exports)).toEqual(['.', './handler', './asl']);
    for (const [entry, name] of [['.', 'index'], ['./handler', 'handler'], ['./asl', 'asl']] as const) {
      // Order matters: the first condition that matches wins, and `default` matches everything.
      expect(Object.entries(manifest.exports[entry]!)).toEqual([
        ['joinflow-source', `./src/${name}.ts`],
        ['types', `./dist/${name}.d.ts`],
        ['default', `./dist/${name}.js`],
      ]);
    }
  });

  it('ships the compiled CLI (dist/) when there is a build to ship, its stamp included', () => {
    if (!existsSync(path.join(root, 'dist/.built'))) return; // `npm pack` builds it first (prepare)
    expect(files).toContain('dist/.built');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/adapters/local/own-package.js');
    expect(files).toContain('dist/index.d.ts');
  });
});
