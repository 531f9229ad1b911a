/**
 * The HyperFlow side of the peer bench: installs the pinned package into bench/peers/hyperflow
 * (its own package.json and lockfile, never part of the main project's `npm ci`), writes a
 * converted DAG as a workflow directory, and runs it in a fresh process (run-workflow.cjs).
 */
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { toHyperFlow, type Dag } from './hyperflow-format.ts';
import { missingWork, resultLine } from './report.ts';

/** The peer's own npm project. */
export const PEER_DIR = path.join(import.meta.dirname, 'hyperflow');
const PACKAGE = path.join(PEER_DIR, 'node_modules', '@hyperflow', 'hyperflow', 'package.json');

/** What one HyperFlow process measured (see run-workflow.cjs). */
export type HyperFlowSample = {
  tasks: number;
  calls: number;
  finished: number;
  runs: number;
  setupMs: number;
  coldMs: number;
  ms: number;
  peakRssMb: number;
};

/**
 * Installs the peer from its lockfile unless it is installed already; returns its version.
 * npm's output goes to stderr so that the bench's JSON on stdout stays clean.
 */
export function ensureHyperFlow(): string {
  if (!existsSync(PACKAGE)) {
    process.stderr.write(`installing the HyperFlow peer: npm ci --prefix ${path.relative(process.cwd(), PEER_DIR)}\n`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    // HyperFlow 1.7.0 declares engines.node ~12.16.3; it runs on Node 20 (engine-strict is off).
    const r = spawnSync(npm, ['ci', '--prefix', PEER_DIR, '--no-audit', '--no-fund', '--ignore-scripts'], { stdio: ['ignore', 2, 2] });
    if (r.status !== 0 || !existsSync(PACKAGE)) {
      throw new Error(`installing the HyperFlow peer failed (npm ci --prefix ${PEER_DIR} exited ${r.status ?? r.signal}); see npm's output above`);
    }
  }
  return (JSON.parse(readFileSync(PACKAGE, 'utf8')) as { version: string }).version;
}

/** Writes `workflow.json` (the converted DAG) and the no-op `functions.js` into `dir`. */
export function writeHyperFlowWorkflow(workflow: Dag, dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'workflow.json'), `${JSON.stringify(toHyperFlow(workflow))}\n`);
  copyFileSync(path.join(PEER_DIR, 'functions.js'), path.join(dir, 'functions.js'));
}

/**
 * Runs the workflow in `dir` `runs` times in one fresh Node process against `redisUrl`; rejects
 * naming the shape when the process fails, hangs past `timeoutMs`, or a task did not run once.
 */
export function runHyperFlow(shape: string, dir: string, redisUrl: string, runs: number, timeoutMs: number): Promise<HyperFlowSample> {
  const driver = path.join(PEER_DIR, 'run-workflow.cjs');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [driver, dir, String(runs)], {
      cwd: PEER_DIR,
      env: { ...process.env, REDIS_URL: redisUrl },
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    }, (error, stdout, stderr) => {
      if (error) {
        const why = error.killed ? `did not finish within ${timeoutMs / 1000} s (killed)` : `failed (${error.code ?? error.signal})`;
        const said = stderr.trim().split('\n').slice(-5).join(' | ');
        reject(new Error(`HyperFlow on ${shape} ${why}${said ? `: ${said}` : ''}`));
        return;
      }
      let sample: HyperFlowSample;
      try {
        sample = resultLine<HyperFlowSample>(stdout);
      } catch (e) {
        reject(new Error(`HyperFlow on ${shape}: ${(e as Error).message}`));
        return;
      }
      const missing = missingWork(sample, runs);
      if (missing !== undefined) {
        reject(new Error(`HyperFlow on ${shape}: ${missing}`));
        return;
      }
      resolve(sample);
    });
  });
}
