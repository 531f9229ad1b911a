/** `joinflow compile`: workflows -> triggers/<workflow>.json; `--check` reports staleness. */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { compileFile, findWorkflowFile, listWorkflowFiles } from '../adapters/local/workflow-files.ts';
import { serializePlan } from '../compiler/compile.ts';
import { WorkflowDefinitionError } from '../model/errors.ts';
import type { TriggerPlan } from '../model/plan.ts';
import { ConfigFileError, findConfigFile, loadConfigSubscriptions, projectSubscriptions } from '../adapters/local/subscription-files.ts';
import { UsageError } from '../model/errors.ts';

/** The config file's subscriptions go to triggers/@subscriptions.json: no workflow name starts with "@". */
const SUBSCRIPTIONS_NAME = '@subscriptions';

/** Runs `joinflow compile`; resolves with the exit code. */
export async function compileCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: 'string', short: 'o', default: 'triggers' }, check: { type: 'boolean', default: false } },
  });
  const files = positionals.length > 0 ? positionals.map((p) => findWorkflowFile(p)) : listWorkflowFiles();
  const outDir = path.resolve(values.out);
  const plans = new Map<string, { file: string; text: string }>();
  let broken = 0;
  for (const file of files) {
    try {
      const plan = await compileFile(file);
      const other = plans.get(plan.workflow);
      if (other) {
        process.stderr.write(`joinflow compile: ${rel(file)}: workflow name "${plan.workflow}" is already used by ${rel(other.file)}\n`);
        broken++;
        continue;
      }
      plans.set(plan.workflow, { file, text: serializePlan(plan) });
    } catch (error) {
      if (!(error instanceof WorkflowDefinitionError)) throw error;
      process.stderr.write(`joinflow compile: ${error.message}\n`);
      broken++;
    }
  }
  // The config file's subscriptions are deployed from triggers/ too (all workflows known: no
  // positionals), checked like every definition before anything is written.
  if (positionals.length === 0 && broken === 0) {
    try {
      const compiled = [...plans.values()].map((p) => JSON.parse(p.text) as TriggerPlan);
      projectSubscriptions(compiled, { knownWorkflows: new Set(plans.keys()) });
      const config = loadConfigSubscriptions();
      if (config.length > 0) plans.set(SUBSCRIPTIONS_NAME, { file: findConfigFile()!, text: `${JSON.stringify({ version: 1, subscriptions: config }, null, 2)}\n` });
    } catch (error) {
      if (!(error instanceof ConfigFileError)) throw error;
      process.stderr.write(`joinflow compile: ${error.message}\n`);
      broken++;
    }
  }
  // Every definition is checked before anything is written: no half-written triggers/.
  if (broken > 0) return 2;
  if (values.check) return check(outDir, plans, positionals.length === 0);
  const stale = path.join(outDir, `${SUBSCRIPTIONS_NAME}.json`);
  if (positionals.length === 0 && !plans.has(SUBSCRIPTIONS_NAME) && existsSync(stale)) {
    rmSync(stale);
    process.stderr.write(`removed   ${rel(stale)} (no subscriptions in a config file)\n`);
  }
  // All or none: each changed plan goes to a temporary file first, and they are renamed into
  // place once every one was written (a directory in a plan's place, a full disk: nothing changes).
  const writes: Array<{ target: string; temp: string; file: string; same: boolean }> = [];
  try {
    if (statSync(outDir, { throwIfNoEntry: false })?.isDirectory() === false) throw new UsageError(`-o ${rel(outDir)}: not a directory (a file of that name is in the way); nothing was changed`);
    mkdirSync(outDir, { recursive: true });
    for (const [name, { file, text }] of plans) {
      const target = path.join(outDir, `${name}.json`);
      if (statSync(target, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${rel(target)} is a directory: remove it, or write the plans elsewhere with -o DIR`);
      const same = existsSync(target) && readFileSync(target, 'utf8') === text;
      const temp = `${target}.${process.pid}.tmp`;
      writes.push({ target, temp, file, same });
      if (!same) writeFileSync(temp, text);
    }
    for (const w of writes) if (!w.same) renameSync(w.temp, w.target);
  } catch (error) {
    for (const w of writes) rmSync(w.temp, { force: true });
    if (error instanceof UsageError) throw error;
    const where = (error as NodeJS.ErrnoException).path;
    throw new UsageError(`cannot write the plans into ${rel(outDir)}${where && path.resolve(where) !== path.resolve(outDir) ? ` (${rel(where)})` : ''}: ${(error as Error).message}; nothing was changed`);
  }
  for (const w of writes) process.stderr.write(`${w.same ? 'unchanged' : 'wrote    '} ${rel(w.target)} (from ${rel(w.file)})\n`);
  return 0;
}

function check(outDir: string, plans: Map<string, { file: string; text: string }>, all: boolean): number {
  const stale: string[] = [];
  for (const [name, { text }] of plans) {
    const target = path.join(outDir, `${name}.json`);
    if (!existsSync(target)) stale.push(`${rel(target)} is missing`);
    else if (readFileSync(target, 'utf8') !== text) stale.push(`${rel(target)} is stale`);
  }
  if (all && existsSync(outDir)) {
    for (const f of readdirSync(outDir)) {
      if (!f.endsWith('.json') || plans.has(f.slice(0, -5))) continue;
      stale.push(f === `${SUBSCRIPTIONS_NAME}.json` ? `${rel(path.join(outDir, f))} is left from a config file that has no subscriptions now (or is gone)` : `${rel(path.join(outDir, f))} has no workflow`);
    }
  }
  for (const s of stale) process.stderr.write(`joinflow compile --check: ${s}\n`);
  if (stale.length > 0) process.stderr.write("Run 'joinflow compile' and commit triggers/.\n");
  else process.stderr.write(`joinflow compile --check: ${plans.size - (plans.has(SUBSCRIPTIONS_NAME) ? 1 : 0)} plan(s)${plans.has(SUBSCRIPTIONS_NAME) ? ' and the subscriptions' : ''} up to date\n`);
  return stale.length > 0 ? 1 : 0;
}

function rel(p: string): string {
  return path.relative(process.cwd(), p) || p;
}
