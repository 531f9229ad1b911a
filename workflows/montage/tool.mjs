#!/usr/bin/env node
/**
 * A stand-in for the Montage tools (mProject, mDiffFit, ...), so that an imported Montage runs
 * with real processes and real files without installing Montage:
 *
 *   node tool.mjs <label> <seconds> --in <files...> --out <files...>
 *     reads every input file from $JOINFLOW_DATA_DIR (exit 1 naming a missing one), sleeps
 *     <seconds>, writes every output file there (a JSON note of who wrote it from which inputs),
 *     and prints one JSON line {label, step, read, bytesRead, wrote}: the step's output.
 *
 *   node tool.mjs --make-inputs <workflow.json> <dir>
 *     writes the workflow's external inputs (files some step reads and no step writes) into
 *     <dir>, small placeholder files, for `joinflow run ... --data <dir>`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function fail(message) {
  process.stderr.write(`tool.mjs: ${message}\n`);
  process.exit(1);
}

function makeInputs(workflowFile, dir) {
  if (!workflowFile || !dir) fail('usage: tool.mjs --make-inputs <workflow.json> <dir>');
  const steps = Object.values(JSON.parse(readFileSync(workflowFile, 'utf8')).steps ?? {});
  const written = new Set(steps.flatMap((s) => s.files?.outputs ?? []));
  const external = [...new Set(steps.flatMap((s) => s.files?.inputs ?? []))].filter((f) => !written.has(f)).sort();
  for (const name of external) {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `placeholder input ${name}\n`);
  }
  process.stderr.write(`tool.mjs: wrote ${external.length} input file(s) into ${dir}\n`);
}

async function run(args) {
  const [label, seconds, ...rest] = args;
  const wait = Number(seconds);
  if (!label || !Number.isFinite(wait) || wait < 0) fail('usage: tool.mjs <label> <seconds> --in <files...> --out <files...>');
  const dataDir = process.env.JOINFLOW_DATA_DIR;
  if (!dataDir) fail('JOINFLOW_DATA_DIR is not set: run me as a joinflow step with "files"');
  const inputs = [];
  const outputs = [];
  let into;
  for (const a of rest) {
    if (a === '--in') into = inputs;
    else if (a === '--out') into = outputs;
    else if (into) into.push(a);
    else fail(`unexpected argument "${a}" before --in/--out`);
  }
  const digests = {};
  let bytesRead = 0;
  for (const name of inputs) {
    let body;
    try {
      body = readFileSync(path.join(dataDir, name));
    } catch (error) {
      fail(`cannot read input "${name}" in ${dataDir}: ${error.code ?? error.message}`);
    }
    bytesRead += body.length;
    digests[name] = createHash('sha256').update(body).digest('hex').slice(0, 16);
  }
  await sleep(wait * 1000);
  const note = `${JSON.stringify({ label, step: process.env.JOINFLOW_STEP, run: process.env.JOINFLOW_RUN_ID, inputs: digests })}\n`;
  for (const name of outputs) {
    const file = path.join(dataDir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, note);
  }
  process.stdout.write(`${JSON.stringify({ label, step: process.env.JOINFLOW_STEP, read: inputs.length, bytesRead, wrote: outputs })}\n`);
}

const argv = process.argv.slice(2);
if (argv[0] === '--make-inputs') makeInputs(argv[1], argv[2]);
else await run(argv);
