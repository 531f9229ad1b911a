#!/usr/bin/env node
// Runs one HyperFlow workflow `runs` times (default 10) in this fresh process and prints one JSON
// line: {tasks, calls, finished, setupMs, coldMs, ms, runs, peakRssMb}. Started by
// bench/peers/run.ts with REDIS_URL set to the Redis server it started.
// Usage: REDIS_URL=redis://127.0.0.1:PORT node run-workflow.cjs <dir with workflow.json> [runs]
//
// Each run does what `hflow run <dir>` does (common/wfRun.js in the package), without its
// process.exit() on completion, so that it can be timed:
// - setupMs (first run): createInstanceFromFile (parse workflow.json, write the graph to Redis)
//   + new Engine (read it back, build one state machine per process);
// - run time: engine.runInstance (send the input signal) until the engine reports that every
//   process has finished (Engine.syncCb, called from Engine.workflowFinished).
// coldMs is the first run (JIT still cold, as in a fresh `hflow run`); ms is the median of the
// last half of the runs (the steady state of a process that has run the DAG before), measured
// exactly as on the joinflow side (bench/peers/joinflow-child.ts).
// Node start-up, module loading and the Redis start are outside all of these.
'use strict';

const path = require('node:path');

const dir = process.argv[2];
const runs = Math.max(1, Number(process.argv[3] ?? 10));
const url = process.env.REDIS_URL;
if (!dir || !url || !Number.isInteger(runs)) {
  process.stderr.write('usage: REDIS_URL=redis://127.0.0.1:PORT node run-workflow.cjs <workflow dir> [runs]\n');
  process.exit(2);
}

const redis = require('redis');
const rcl = redis.createClient({ url });
rcl.on('error', (err) => fail(`Redis at ${url}: ${err.message}`));

function fail(message) {
  process.stderr.write(`run-workflow.cjs: ${message}\n`);
  process.exit(1);
}

const file = path.join(dir, 'workflow.json');
const workdir = path.resolve(dir);

/** One workflow instance from creation to its end; calls back with its timings. */
function runOnce(wflib, Engine, done) {
  const t0 = performance.now();
  // No `vars`: the file has no {{templates}}, so Mustache rendering is skipped.
  wflib.createInstanceFromFile(file, '', {}, (err, wfId, wfJson) => {
    if (err) return fail(`cannot create an instance of ${file}: ${err.message ?? err}`);
    const engine = new Engine({ emulate: 'false', workdir }, wflib, wfId, (err) => {
      if (err) return fail(`engine for ${file}: ${err.message ?? err}`);
      const t1 = performance.now();
      engine.syncCb = () => {
        const t2 = performance.now();
        done({ tasks: wfJson.processes.length, finished: wfJson.processes.length - engine.nTasksLeft, setupMs: t1 - t0, ms: t2 - t1 });
      };
      engine.runInstance((err) => {
        if (err) fail(`runInstance: ${err.message ?? err}`);
      });
    });
  });
}

// A clean database first, outside the timed window: HyperFlow keeps each instance's graph and
// signals in Redis and never deletes them.
rcl.flushall((err) => {
  if (err) return fail(`FLUSHALL failed: ${err.message}`);
  const wflib = require('@hyperflow/hyperflow/wflib').init(rcl);
  const Engine = require('@hyperflow/hyperflow/engine2');
  const samples = [];
  const next = () => runOnce(wflib, Engine, (sample) => {
    samples.push(sample);
    if (samples.length < runs) return setImmediate(next);
    const first = samples[0];
    const warm = samples.slice(Math.floor(samples.length / 2)).map((s) => s.ms).sort((a, b) => a - b);
    const mid = Math.floor(warm.length / 2);
    const warmMs = warm.length % 2 ? warm[mid] : (warm[mid - 1] + warm[mid]) / 2;
    const result = {
      tasks: first.tasks,
      // The no-op counts its calls: every task of every run must have run exactly once.
      calls: require(path.join(workdir, 'functions.js')).calls(),
      finished: samples.reduce((n, s) => n + s.finished, 0),
      runs,
      setupMs: first.setupMs,
      coldMs: first.ms,
      ms: warmMs,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    // The last line on stdout, after HyperFlow's own log lines; the remote-job poller that
    // createInstance starts would keep the process alive, hence the exit.
    process.stdout.write(`\n${JSON.stringify(result)}\n`, () => process.exit(0));
  });
  next();
});
