#!/usr/bin/env node
/**
 * Compiles src/ into dist/ (JavaScript and .d.ts declarations, same layout), run by `npm ci`/`npm
 * install` (the `prepare` script) and by `npm run build`. package.json's `exports` give plain Node
 * dist/index.js (and TypeScript dist/index.d.ts): the package, installed, is a library without
 * tsx. bin/joinflow.js runs the compiled CLI while dist/ is newer than
 * every file in src/, and the sources through tsx otherwise: loading ~100 modules through tsx's
 * loader thread costs ~0.15 s at every start of the command.
 *
 * dist/.built is written last: a build that failed or was interrupted leaves none, and the CLI
 * runs from src/. Without TypeScript (an install without devDependencies) nothing is built. A
 * build for `npm pack`/`npm publish` says "packed" in it: the package's install script dates it
 * after npm extracted the files (bin/cli-entry.js, dateInstalledBuild).
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
rmSync(dist, { recursive: true, force: true });
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.warn('joinflow: TypeScript is not installed, so the CLI is not compiled; it runs from src/ through tsx.');
  process.exit(0);
}
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.error(`joinflow: compiling src/ into dist/ failed (tsc exited with ${result.status ?? result.signal}); the CLI runs from src/ through tsx.`);
  process.exit(1);
}
const packed = process.env.npm_command === 'pack' || process.env.npm_command === 'publish';
writeFileSync(`${dist}.built`, `${new Date().toISOString()}\n${packed ? 'packed\n' : ''}`);
