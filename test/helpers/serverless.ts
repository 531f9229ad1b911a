/** Runs `serverless package` offline (dummy credentials, no network) for tests. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
type Json = Record<string, any>;
/** The template as the tests read it. */
export type Template = { Resources: Record<string, { Type: string; Properties: Json; DependsOn?: unknown }>; Outputs?: Json };
/**
 * One packaging: the template, serverless's stderr, the output dir, how long it took, and what
 * the packaging left in its temp dir (serverless ran with a TMPDIR of its own).
 */
export type Packaged = { template: Template; stderr: string; dir: string; ms: number; leftInTmp: string[] };

const temps: string[] = [];

/** Removes every package directory made so far (call in afterAll). */
export function cleanPackages(): void {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
}

const SLS_BIN = path.join(root, 'node_modules/serverless/bin/serverless.js');

/** Runs `serverless package --stage test` into a fresh directory. */
export function slsPackage(extraEnv: Record<string, string>): Packaged {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'joinflow-package-'));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'joinflow-package-tmp-'));
  temps.push(dir, tmp);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'SERVERLESS_PLATFORM_STAGE' || k.startsWith('JOINFLOW_') || k.startsWith('AWS_')) continue;
    env[k] = v;
  }
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    FORCE_COLOR: '0',
    TMPDIR: tmp,
    // A work folder of our own, so that a concurrent `serverless package` elsewhere does not collide.
    JOINFLOW_ESBUILD_DIR: `.esbuild-test-${process.pid}-${temps.length}`,
    ...extraEnv,
  });
  const started = Date.now();
  const r = spawnSync(process.execPath, [SLS_BIN, 'package', '--stage', 'test', '--package', dir], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 240_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const ms = Date.now() - started;
  if (r.status !== 0) {
    throw new Error(`serverless package failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
  const template = JSON.parse(readFileSync(path.join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
  return { template, stderr: r.stderr, dir, ms, leftInTmp: readdirSync(tmp) };
}
