#!/usr/bin/env node
/**
 * Builds the native/spawn addon (posix_spawn + pidfd launcher for the process executor) with
 * node-gyp; run by `npm ci`/`npm install` (the `install` script) and by `npm run build:native`.
 *
 * Optional: where it cannot be built (not Linux, no C compiler, no Node headers) the process
 * executor falls back to its spawner helpers, so the install goes on with a warning. With
 * JOINFLOW_REQUIRE_NATIVE=1 (CI) a failed build fails the install instead.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../native/spawn/', import.meta.url));
const required = process.env.JOINFLOW_REQUIRE_NATIVE === '1';

function giveUp(why) {
  const message = `joinflow: native/spawn addon not built (${why}); process steps will be started by spawner helpers instead.`;
  if (required) {
    console.error(`${message}\nJOINFLOW_REQUIRE_NATIVE=1: failing.`);
    process.exit(1);
  }
  console.warn(message);
  process.exit(0);
}

if (process.platform !== 'linux') giveUp(`posix_spawn with pidfds is Linux-only, this is ${process.platform}`);
// npm runs install scripts with its own node-gyp at hand: npm_config_node_gyp, or node-gyp on PATH.
const gyp = process.env.npm_config_node_gyp;
const [command, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const result = spawnSync(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (result.error) giveUp(`cannot run node-gyp: ${result.error.message}`);
if (result.status !== 0) {
  process.stderr.write(result.stdout.split('\n').filter((l) => !l.startsWith('gyp info')).join('\n'));
  process.stderr.write(result.stderr.split('\n').filter((l) => !l.startsWith('gyp info')).join('\n'));
  giveUp(`node-gyp exited with ${result.status ?? result.signal}`);
}
