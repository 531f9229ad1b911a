import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compiledCli } from '../../bin/cli-entry.js';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-cli-');

/** A project dir with one handler module, h/x.mjs, and a workflow w.yaml of `steps` (YAML lines) that may run it. */
function handlerProject(module: string, steps: string): string {
  const dir = tmp();
  mkdirSync(path.join(dir, 'h'));
  writeFileSync(path.join(dir, 'h', 'x.mjs'), module);
  writeFileSync(path.join(dir, 'w.yaml'), `name: w\nsteps:\n${steps}`);
  return dir;
}

describe('joinflow run', () => {
  it('prints the documented JSON object and exits 0', () => {
    const r = joinflow(['run', 'workflows/fanout.ts', '--input', '{"n": 500}', '--json', '--state', tmp()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['durationMs', 'events', 'output', 'runId', 'status', 'steps', 'workflow']);
    expect(out).toMatchObject({ workflow: 'fanout', status: 'succeeded', output: { count: 500, sum: 41541750 } });
    expect(out.steps).toEqual({ total: 502, succeeded: 502, failed: 0, cancelled: 0, retried: 0 });
    expect(out.events).toBeGreaterThan(1000);
  });

  it('finds workflows by name, prints a line per step without a TTY, and the output on stdout', () => {
    const r = joinflow(['run', 'diamond', '--input', '{"x": 1}', '--state', tmp()]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ nodeC: { sum: 12 } });
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('ok '))).toHaveLength(3);
    // nodeA and nodeB start function workers first (their init: one each with 2 CPUs or more); nodeC finds one ready.
    expect(lines.filter((l) => /^ok +node[AB] \(attempt 1, \d+ ms, \d+ ms of it init\)$/.test(l)).length).toBeGreaterThanOrEqual(1);
    expect(lines.find((l) => l.includes('nodeC'))).toMatch(/^ok +nodeC \(attempt 1, \d+ ms\)$/);
    expect(lines.at(-1)).toMatch(/^run \S+ succeeded in \d+ ms: 3 succeeded, 0 failed, 0 retried, 8 events$/);
  });

  it('runs a workflow of process steps and keeps their logs under the state dir', () => {
    const state = tmp();
    const r = joinflow(['run', 'workflows/text-stats.yaml', '--input', '{"text": "a b c\\nd e"}', '--json', '--state', state]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.output).toEqual({ report: { words: 5, lines: 2 } });
    expect(readFileSync(path.join(state, 'runs', out.runId, 'logs', 'words.1.err'), 'utf8')).toBe('counted 5 words\n');
    expect(joinflow(['logs', out.runId, '--step', 'words', '--state', state]).stdout).toContain('== words.1 stderr ==\ncounted 5 words\n');
    const typo = joinflow(['logs', out.runId, '--step', 'wordz', '--state', state]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(`run "${out.runId}" has no step "wordz" (did you mean "words"?)`);
    const extra = joinflow(['logs', out.runId, 'more', '--state', state]);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain('one run id at a time: unexpected argument "more"');
  });

  it('--memory: a run\'s files are marked as its own, and gc removes them once its process is gone', () => {
    const cwd = tmp();
    const wf = path.join(root, 'workflows/text-stats.yaml');
    const r = joinflow(['run', wf, '--memory', '--input', '{"text": "a b"}', '--json'], { cwd });
    expect(r.code).toBe(0);
    const { runId } = JSON.parse(r.stdout) as { runId: string };
    const runDir = path.join(cwd, '.joinflow', 'runs', runId);
    expect(readFileSync(path.join(runDir, 'logs', 'words.1.err'), 'utf8')).toBe('counted 2 words\n');
    // A --memory run keeps no state, but logs prints its process steps' logs all the same.
    const logs = joinflow(['logs', runId], { cwd });
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('== words.1 stderr ==\ncounted 2 words\n');
    expect(JSON.parse(readFileSync(path.join(runDir, '.memory-run.json'), 'utf8'))).toMatchObject({ runId });
    // status says what it was, rather than that the state dir is not one (or has no such run).
    const status = joinflow(['status', runId], { cwd });
    expect(status.code).toBe(1);
    expect(status.stderr).toBe(`joinflow status: run "${runId}" was a --memory run: no state records it (its result went to the command that ran it); 'joinflow logs ${runId}' prints its process steps' logs\n`);
    // Also beside durable runs in the same state dir.
    expect(joinflow(['run', path.join(root, 'workflows/diamond.ts')], { cwd }).code).toBe(0);
    expect(joinflow(['status', runId], { cwd }).stderr).toContain('was a --memory run');
    // A run that wrote nothing leaves nothing.
    const quiet = tmp();
    expect(joinflow(['run', path.join(root, 'workflows/diamond.ts'), '--memory'], { cwd: quiet }).code).toBe(0);
    expect(existsSync(path.join(quiet, '.joinflow'))).toBe(false);
    // gc removes the --memory runs' directories (here beside the durable run's state file).
    const gc = joinflow(['gc'], { cwd });
    expect(gc.code).toBe(0);
    expect(gc.stderr).toContain('and 1 directory of --memory runs');
    expect(existsSync(runDir)).toBe(false);
  });

  it('writes --trace records and exits 1 with the error when the run fails', () => {
    const trace = path.join(tmp(), 'trace.json');
    const r = joinflow(['run', 'test/fixtures/workflows/process-fail.yaml', '--json', '--trace', trace, '--state', tmp()]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.status).toBe('failed');
    expect(r.stderr).toMatch(/error in step "bad": ProcessExited: exited with code 3/);
    const records = JSON.parse(readFileSync(trace, 'utf8')) as Array<Record<string, unknown>>;
    expect(records.map((t) => `${t.step}:${t.status}`).sort()).toEqual(['bad:failed', 'ok:succeeded', 'slow:cancelled']);
    for (const t of records) {
      expect(Object.keys(t).sort()).toEqual(['attempt', 'end', 'start', 'status', 'step']);
      expect(t.end as number).toBeGreaterThanOrEqual(t.start as number);
    }
  });

  it('charts a --memory run from its --trace file and the workflow it ran', () => {
    const dir = tmp();
    const trace = path.join(dir, 'trace.json');
    const r = joinflow(['run', 'fanout', '--input', '{"n": 3}', '--memory', '--trace', trace]);
    expect(r.code, r.stderr).toBe(0);
    // fanout's steps are functions: the first to run started a worker, and its record says how long that took.
    expect((JSON.parse(readFileSync(trace, 'utf8')) as Array<{ initMs?: number }>).some((t) => typeof t.initMs === 'number' && t.initMs > 0)).toBe(true);
    // Without the workflow the file has no step graph: the error says what to add.
    const bare = joinflow(['timeline', trace]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain(`${trace}: a 'joinflow run --trace' file has no step graph: name the workflow that ran with --workflow`);
    const chart = path.join(dir, 'run.svg');
    const t = joinflow(['timeline', trace, '--workflow', 'fanout', '-o', chart]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^trace\.json: 5 executions \(measured\)/);
    expect(t.stdout).toMatch(/critical path .*\(3 executions: split -> square\[\d\] -> sum\)/);
    expect(readFileSync(chart, 'utf8')).toMatch(/^<\?xml [^>]*>\s*<svg /);
    expect(readFileSync(chart, 'utf8')).toMatch(/<title>[^<]* of it init[^<]*<\/title>/);
    expect(joinflow(['timeline', 'some-run-id', '--workflow', 'fanout']).stderr).toContain("--workflow goes with a 'joinflow run --trace' file");
  });

  it('refuses bad flags and ambiguous names before anything is run or written', () => {
    const project = tmp();
    mkdirSync(path.join(project, 'workflows', 'empty'), { recursive: true });
    const def = 'name: x\nsteps:\n  a: { executor: { type: simulate, durationMs: 0 } }\n';
    writeFileSync(path.join(project, 'workflows', 'x.yaml'), def);
    writeFileSync(path.join(project, 'workflows', 'x.json'), JSON.stringify({ name: 'x', steps: { other: { executor: { type: 'simulate', durationMs: 0 } } } }));
    writeFileSync(path.join(project, 'workflows', 'one.yaml'), def.replace('name: x', 'name: one'));
    const run = (...args: string[]) => joinflow(['run', ...args], { cwd: project });
    const refused = (r: { code: number | null; stderr: string }, message: string) => {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(message);
    };
    // Two files of one name: neither is run.
    refused(run('x', '--memory'), 'workflow "x" is ambiguous: workflows/x.yaml and workflows/x.json all answer to it; name the file to run');
    refused(run('onee', '--memory'), 'workflow "onee" not found (did you mean "one"?)');
    // A file and a directory of one name answer to it too.
    mkdirSync(path.join(project, 'workflows', 'one'));
    writeFileSync(path.join(project, 'workflows', 'one', 'workflow.yaml'), def.replace('name: x', 'name: one'));
    refused(run('one', '--memory'), 'workflow "one" is ambiguous: workflows/one.yaml and workflows/one/workflow.yaml all answer to it');
    refused(run('workflows/one', '--memory'), 'workflow "workflows/one" is ambiguous: workflows/one.yaml and workflows/one/workflow.yaml all answer to it');
    // A path to a directory names the workflow file in it ("is a directory with no workflow file").
    mkdirSync(path.join(project, 'elsewhere', 'two'), { recursive: true });
    writeFileSync(path.join(project, 'elsewhere', 'two', 'workflow.yaml'), def.replace('name: x', 'name: two'));
    for (const dir of ['elsewhere/two', 'elsewhere/two/', path.join(project, 'elsewhere', 'two')]) {
      const r = run(dir, '--memory', '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ workflow: 'two', status: 'succeeded' });
    }
    rmSync(path.join(project, 'workflows', 'one'), { recursive: true });
    refused(run('workflows/empty', '--memory'), 'workflows/empty is a directory with no workflow file in it');
    // Each refused before the state dir is made, and before the run.
    const state = path.join(project, 'state');
    refused(run('one', '--state', state, '--run-id', '../x'), 'run id "../x": ');
    refused(run('one', '--state', state, '--trace', '/proc/t.json'), '--trace /proc/t.json: cannot write: ');
    refused(run('one', '--state', state, '--trace', ''), '--trace: the file name is empty');
    expect(existsSync(state)).toBe(false);
    refused(run('one', '--state', ''), '--state: the directory name is empty');
    expect(existsSync(path.join(project, 'state.db'))).toBe(false);
    // An importer writes JSON: a file name that joinflow would read as something else is refused.
    const trace = path.join(root, '../shared/corpora/wfcommons/montage-chameleon-2mass-005d-001.json');
    refused(joinflow(['import', 'wfcommons', trace, '-o', path.join(project, 'm.ts')], { cwd: project }), "the workflow is written as JSON or YAML, by the file's extension, and joinflow reads a workflow file by it: name it .json, .yaml or .yml");
    expect(existsSync(path.join(project, 'm.ts'))).toBe(false);
    // A key written twice (JSON.parse would keep the last one silently).
    const twice = path.join(project, 'twice.json');
    writeFileSync(twice, '{"name": "t", "schemaVersion": "1.4", "workflow": {"tasks": [\n  {"name": "a", "id": "a", "runtime": 1, "runtime": 1000}]}}');
    refused(joinflow(['import', 'wfcommons', twice, '-o', path.join(project, 't.json')], { cwd: project }), `${twice}: cannot read a JSON trace: line 2, column 42: key "runtime" appears twice in one object`);
    refused(run('one', '--memory', '--input', '{"a": 1, "a": 2}'), '--input is not valid JSON: line 1, column 10: key "a" appears twice in one object');
    // --name: the flag's mistake, for every importer alike.
    for (const format of ['wfcommons', 'cwl', 'asl']) {
      refused(joinflow(['import', format, trace, '--name', 'x y', '-o', path.join(project, 'n.json')], { cwd: project }), 'joinflow import: --name "x y": must be 1-64 characters of ASCII letters, digits, "_", "." or "-", not starting with "." or "-"');
    }
    // AWS flags: checked before anything is sent.
    refused(joinflow(['start', 'one', '--endpoint', 'not-a-url'], { cwd: project }), '--endpoint "not-a-url": not an http:// or https:// URL');
    refused(joinflow(['start', 'one', '--stage', 'bad stage'], { cwd: project }), '--stage "bad stage": a stage name has only letters, digits and dashes');
    refused(joinflow(['start', 'one', '--table', 't'], { cwd: project }), "--table: start sends the Run Requested event to the stage's bus and reads no table (name the bus with --bus, or the stage with --stage)");
    // Environment variable names that would set another variable.
    writeFileSync(path.join(project, 'workflows', 'env.yaml'), 'name: env\nsteps:\n  a: { executor: { type: process, command: sh, args: [-c, "echo 1"], env: { "B=C": x } } }\n');
    refused(run('env', '--memory'), 'steps.a.executor.env.B=C: invalid name: an environment variable name must not be empty nor contain "=" or a NUL character');
    // A NUL (or a line break) in a key is shown quoted, not written raw to the terminal.
    writeFileSync(path.join(project, 'workflows', 'env.yaml'), 'name: env\nsteps:\n  a: { executor: { type: process, command: sh, args: [-c, "echo 1"], env: { "B\\0C": x } } }\n');
    refused(run('env', '--memory'), 'steps.a.executor.env."B\\u0000C": invalid name: an environment variable name must not be empty nor contain "=" or a NUL character');
  });

  it('exits 2 naming the problem for bad definitions, bad input and bad flags', () => {
    const dir = tmp();
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: bad\nsteps:\n  a: { needs: [b], executor: { type: simulate, durationMs: 1 } }\n  b: { needs: [a], executor: { type: simulate, durationMs: 1 } }\n');
    let r = joinflow(['run', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad.yaml: invalid workflow definition');
    expect(r.stderr).toMatch(/cycle: (a -> b -> a|b -> a -> b)/);
    r = joinflow(['run', 'diamond', '--input', '{oops']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--input is not valid JSON');
    r = joinflow(['run', 'diamond', '--concurrency', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--concurrency: "many" is not a whole number');
    r = joinflow(['run', 'diamond', '--concurrency', 'function=2,process=1,function=3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--concurrency: function is given twice ("function=2,process=1,function=3"): give each kind once');
    // A compiled plan (triggers/*.json) is not a definition: its source is named, not 6 schema problems.
    r = joinflow(['run', 'triggers/diamond.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('joinflow run: triggers/diamond.json: a plan joinflow compile wrote from workflows/diamond.ts, not a workflow definition: give the workflow file (workflows/diamond.ts) instead');
    // plan and compile refuse it too, without pointing at another command.
    r = joinflow(['plan', 'triggers/diamond.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('joinflow plan: triggers/diamond.json: a plan joinflow compile wrote from workflows/diamond.ts, not a workflow definition: give the workflow file (workflows/diamond.ts) instead');
    r = joinflow(['run', 'nosuchflow']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('workflow "nosuchflow" not found: no file nosuchflow, workflows/nosuchflow{.ts,');
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'name: x\nsteps: {a: {executor: {type: simulate, durationMs: 1}, b: [1, 2\n');
    r = joinflow(['run', broken]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ - line 3, column 1: Flow sequence .* end with a \]\n/);
    const map = path.join(dir, 'map.yaml');
    writeFileSync(map, 'tasks:\n  mAdd: { type: process, command: "tool }\n');
    r = joinflow(['import', 'wfcommons', '../shared/corpora/wfcommons/montage-chameleon-2mass-005d-001.json', '--mapping', map]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${map}:3:1: cannot read the mapping (YAML or JSON): Missing closing "quote\n`);
    // An empty mapping file (YAML null) is named as such, not "expected object, received null".
    writeFileSync(map, '# nothing yet\n');
    r = joinflow(['import', 'wfcommons', '../shared/corpora/wfcommons/montage-chameleon-2mass-005d-001.json', '--mapping', map]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${map}: the mapping is empty: give it tasks: {<task id, name, category or program>: executor} and/or default: executor\n`);
    r = joinflow(['run', 'workflows/nope.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('workflow file workflows/nope.yaml not found');
    r = joinflow(['stauts', 'r1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^joinflow: unknown command "stauts" \(did you mean "status"\?\)\n\nUsage: joinflow <command>/);
    expect(joinflow(['frobnicate']).stderr).toMatch(/^joinflow: unknown command "frobnicate"\n\n/);
    r = joinflow(['run', 'diamond', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("joinflow run: unknown option --bogus\nRun 'joinflow run --help' for usage.\n");
    // A negative number after an option reads as an option to parseArgs: said in one line.
    r = joinflow(['events', 'tail', '--limit', '-1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('joinflow events: --limit needs a value, but what follows it starts with a dash (write --limit=VALUE for a value that does)\n');
    r = joinflow(['events', 'tail', '--limit=-1']);
    expect(r.stderr).toContain('--limit must be a whole number > 0 (got "-1")');
    // A run id names the run's directories: one that cannot is refused before anything runs.
    const state = tmp();
    r = joinflow(['run', 'workflows/word-count/workflow.json', '--input', '@workflows/word-count/job.json', '--run-id', '..', '--state', state]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`run id "..": letters, digits, "_", ".", ":" or "-" only, and not "." or ".."`);
    expect(existsSync(path.join(state, 'logs'))).toBe(false);
  });

  it('a run id that starts with a dash: the unknown-option error says to put it after --, and the command it shows finds the run', () => {
    const state = tmp();
    let r = joinflow(['run', 'diamond', '--input', '{"x": 1}', '--run-id=-abc', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    r = joinflow(['status', '-abc', '--state', state]);
    expect(r.code).toBe(2);
    const shown = /^joinflow status: unknown option -abc \(a run id that starts with a dash goes after --: 'joinflow (status --state \S+ -- -abc)'\)\n/.exec(r.stderr);
    expect(shown, r.stderr).not.toBeNull();
    r = joinflow(shown![1]!.split(' '));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('-abc');
    expect(r.stdout).toContain('succeeded');
    // Not when an operand follows -- already (two operands), nor for a mistyped option, nor for commands that take no run id.
    expect(joinflow(['status', '-x', '--state', state, '--', '-y']).stderr).toBe("joinflow status: unknown option -x\nRun 'joinflow status --help' for usage.\n");
    expect(joinflow(['status', '--abc', '--state', state]).stderr).toBe("joinflow status: unknown option --abc\nRun 'joinflow status --help' for usage.\n");
    expect(joinflow(['list', '-x', '--state', state]).stderr).toBe("joinflow list: unknown option -x\nRun 'joinflow list --help' for usage.\n");
    // After --, -h and --help are run ids, not a call for help.
    for (const id of ['-h', '--help']) {
      expect(joinflow(['run', 'diamond', '--input', '{"x": 1}', `--run-id=${id}`, '--state', state]).code).toBe(0);
      r = joinflow(['status', '--state', state, '--', id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`run ${id} (diamond): succeeded`);
    }
  });

  it('--trace of a durable run keeps initMs, the time a function step spent starting its worker, as --memory does', () => {
    const dir = tmp();
    for (const mode of [['--state', path.join(dir, 'state')], ['--memory']]) {
      const trace = path.join(dir, `trace${mode.length}.json`);
      const r = joinflow(['run', 'diamond', '--input', '{"x": 1}', '--trace', trace, ...mode]);
      expect(r.code, r.stderr).toBe(0);
      const records = JSON.parse(readFileSync(trace, 'utf8')) as Array<{ step: string; start: number; end: number; initMs?: number }>;
      // Init is part of the attempt: never longer than it.
      for (const x of records) expect(x.initMs ?? 0).toBeLessThanOrEqual(x.end - x.start);
      // The first steps start the workers: their init is in the progress lines and in the trace.
      const inits = [...r.stderr.matchAll(/ok\s+(\S+) \(attempt 1, \d+ ms, (\d+) ms of it init\)/g)].map((m) => [m[1], Number(m[2])]);
      expect(inits.length, r.stderr).toBeGreaterThan(0);
      expect(records.filter((x) => x.initMs).map((x) => [x.step, x.initMs])).toEqual(expect.arrayContaining(inits));
    }
  });

  it('refuses, before running, output files it could not write and flags that contradict each other', () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    let r = joinflow(['run', 'diamond', '--trace', path.join(dir, 'no-such-dir', 'trace.json'), '--state', state]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--trace ${path.join(dir, 'no-such-dir', 'trace.json')}: directory ${path.join(dir, 'no-such-dir')} does not exist`);
    expect(existsSync(state)).toBe(false);
    r = joinflow(['run', 'diamond', '--trace', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--trace ${dir}: is a directory, not a file`);
    r = joinflow(['run', 'diamond', '--memory', '--state', state]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--state and --memory cannot be combined');
    r = joinflow(['timeline', 'some-run', '-o', path.join(dir, 'missing', 'run.svg')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`does not exist`);
    r = joinflow(['import', 'wfcommons', '../shared/corpora/wfcommons/montage-chameleon-2mass-005d-001.json', '-o', path.join(dir, 'missing', 'm.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`-o ${path.join(dir, 'missing', 'm.json')}: directory`);
    expect(r.stderr).not.toContain('    at ');
  });

  it('dev on a port in use is a usage error naming the port, not a stack trace', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = joinflow(['dev', '--port', String(port), '--memory', '--no-watch'], { cwd: tmp() });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--port ${port}: 127.0.0.1:${port} is in use by another program`);
      expect(r.stderr).not.toContain('    at ');
    } finally {
      server.close();
    }
  });

  it('--chaos crash-at=N: crashes before the N-th effect, and says when the run had fewer', () => {
    const hit = joinflow(['run', 'diamond', '--memory', '--input', '{"x": 1}', '--chaos', 'crash-at=3']);
    expect(hit.code).toBe(0);
    expect(hit.stderr).toContain('processor crashed before effect 3');
    expect(hit.stderr).not.toContain('never reached');
    const miss = joinflow(['run', 'diamond', '--memory', '--input', '{"x": 1}', '--chaos', 'crash-at=1000']);
    expect(miss.code).toBe(0);
    expect(miss.stderr).toMatch(/--chaos crash-at=1000 was never reached: the run applied \d+ effects/);
  });

  it('--concurrency: 0 (however written) is no limit, like "unlimited"; anything else must be a whole number', () => {
    const r = joinflow(['run', 'diamond', '--memory', '--input', '{"x": 1}', '--concurrency', 'function=00,process=0', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', output: { nodeC: { sum: 12 } } });
    for (const bad of ['1.5', '-1', '1e2', ' 2']) {
      const b = joinflow(['run', 'diamond', '--memory', `--concurrency=${bad}`]);
      expect(b.code).toBe(2);
      expect(b.stderr).toContain(`--concurrency: "${bad}" is not a whole number`);
    }
  });

  it('runs JavaScript handlers without tsx in the worker until one needs it (a .ts import)', () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'h'));
    // Whether tsx is registered in the worker: its CommonJS hook adds the .ts extension.
    writeFileSync(path.join(dir, 'h', 'js.mjs'), "import Module from 'node:module';\nexport const main = () => ({ tsx: '.ts' in Module._extensions });\n");
    writeFileSync(path.join(dir, 'h', 'util.ts'), 'export const twice = (n: number): number => n * 2;\n');
    writeFileSync(path.join(dir, 'h', 'uses-ts.mjs'), "import Module from 'node:module';\nimport { twice } from './util.ts';\nexport const main = (e) => ({ n: twice(21), before: e.results.a.tsx, tsx: '.ts' in Module._extensions });\n");
    writeFileSync(path.join(dir, 'w.yaml'), 'name: w\nsteps:\n  a: { executor: { type: function, module: ./h/js.mjs, export: main } }\n  b: { needs: [a], executor: { type: function, module: ./h/uses-ts.mjs, export: main } }\n');
    // One worker runs both steps, in order.
    const r = joinflow(['run', 'w.yaml', '--memory', '--concurrency', 'function=1', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    // The compiled CLI's worker starts without tsx; from src/ (tsx, a stale build) it needs tsx for itself.
    const compiled = compiledCli(root) !== undefined;
    expect(JSON.parse(r.stdout).output).toEqual({ b: { n: 42, before: !compiled, tsx: true } });
  });

  it('reports a missing handler export with file, step and field', () => {
    const dir = handlerProject('export const other = () => 1;\n', '  s: { executor: { type: function, module: ./h/x.mjs, export: main } }\n');
    const r = joinflow(['run', 'w.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('w.yaml: invalid workflow definition (1 problem)');
    expect(r.stderr).toContain('steps.s.executor.export: "h/x.mjs" has no function export "main" (it exports: other)');
  });

  // The definition check imports handler modules: in a thread of its own, not in the CLI's.
  it("keeps handlers' console output off --json's stdout, and exits although a module keeps a timer", () => {
    const dir = handlerProject(
      'console.log("module loaded");\nsetInterval(() => {}, 1000);\nexport const handler = async () => { console.log("handler ran"); return 1; };\n',
      '  s: { executor: { type: function, module: ./h/x.mjs } }\n',
    );
    const r = spawnSync(process.execPath, [path.join(root, 'bin/joinflow.js'), 'run', 'w.yaml', '--json', '--memory'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(r.signal, 'still running after 30 s').toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', output: { s: 1 } });
    expect(r.stderr).toContain('module loaded');
    expect(r.stderr).toContain('handler ran');
  });

  // As on Lambda, whose timeout leaves out a cold start's Init: the worker starting and the module loading.
  it('counts a function step\'s timeoutMs from its handler\'s start, not from its worker\'s', () => {
    const dir = handlerProject(
      'export const handler = async (_e, context) => context.getRemainingTimeInMillis();\n',
      '  a: { timeoutMs: 20, executor: { type: function, module: ./h/x.mjs } }\n  b: { timeoutMs: 20, executor: { type: function, module: ./h/x.mjs } }\n',
    );
    const r = joinflow(['run', 'w.yaml', '--memory', '--json', '--trace', 'trace.json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { output: Record<string, number> };
    // The time left when the handler began: its whole timeout, less the call's own few ms at most.
    for (const left of Object.values(out.output)) expect(left).toBeGreaterThan(10);
    // The workers did start cold: at least one attempt reports init time.
    const trace = JSON.parse(readFileSync(path.join(dir, 'trace.json'), 'utf8')) as Array<{ initMs?: number }>;
    expect(trace.some((t) => (t.initMs ?? 0) > 0)).toBe(true);
  });

  it('names a handler module that calls process.exit() when imported', () => {
    const dir = handlerProject('process.exit(0);\nexport const handler = async () => 1;\n', '  s: { executor: { type: function, module: ./h/x.mjs } }\n');
    for (const args of [['run', 'w.yaml', '--memory'], ['compile', 'w.yaml', '-o', 'out']]) {
      const r = joinflow(args, { cwd: dir });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('steps.s.executor.module: cannot load handler module h/x.mjs: it ended its thread (process.exit(0)) while being imported');
    }
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
  });

  // A builder workflow with a function in params: build() threw a DataCloneError, whose numeric
  // code then crashed the CLI's error handling (TypeError: error.code?.startsWith, exit 1).
  it('names a value JSON cannot write in a builder workflow by its path, exit 2', () => {
    const dir = tmp();
    const builder = JSON.stringify(path.join(root, 'src/index.ts'));
    writeFileSync(path.join(dir, 'w.mts'), `import { simulate, workflow } from ${builder};\nexport default workflow('w').step('a', simulate(0, { f: () => 1 }));\n`);
    const r = joinflow(['run', 'w.mts', '--memory'], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('joinflow run: w.mts: invalid workflow definition (1 problem):\n  - steps.a.executor.output.f: a function is not a JSON value');
  });
});

describe('joinflow compile', () => {
  it('writes deterministic plans and --check detects staleness', () => {
    const dir = tmp();
    let r = joinflow(['compile', '--check'], { cwd: root });
    expect(r.code).toBe(0);
    const out = path.join(dir, 'triggers');
    r = joinflow(['compile', '-o', out], { cwd: root });
    expect(r.code).toBe(0);
    const first = readFileSync(path.join(out, 'diamond.json'), 'utf8');
    r = joinflow(['compile', '-o', out], { cwd: root });
    expect(r.stderr).toContain('unchanged');
    expect(readFileSync(path.join(out, 'diamond.json'), 'utf8')).toBe(first);
    expect(JSON.parse(first).triggers.find((t: { id: string }) => t.id === 'nodeC').condition).toEqual({ type: 'join', need: 2, key: 'step' });
    writeFileSync(path.join(out, 'diamond.json'), first.replace('"need": 2', '"need": 3'));
    writeFileSync(path.join(out, 'gone.json'), '{}\n');
    r = joinflow(['compile', '--check', '-o', out], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('diamond.json is stale');
    expect(r.stderr).toContain('gone.json has no workflow');
  });

  it('writes all plans or none: a directory where a plan goes is named, and no other plan is written', () => {
    const dir = tmp();
    for (const n of ['g1', 'g2']) writeFileSync(path.join(dir, `${n}.yaml`), `name: ${n}\nsteps:\n  x: { executor: { type: simulate, durationMs: 1 } }\n`);
    mkdirSync(path.join(dir, 'out', 'g2.json'), { recursive: true });
    const r = joinflow(['compile', 'g1.yaml', 'g2.yaml', '-o', 'out'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('joinflow compile: out/g2.json is a directory: remove it, or write the plans elsewhere with -o DIR');
    expect(readdirSync(path.join(dir, 'out'))).toEqual(['g2.json']);
    rmSync(path.join(dir, 'out', 'g2.json'), { recursive: true });
    expect(joinflow(['compile', 'g1.yaml', 'g2.yaml', '-o', 'out'], { cwd: dir }).code).toBe(0);
    expect(readdirSync(path.join(dir, 'out')).sort()).toEqual(['g1.json', 'g2.json']);
    // A file where the output directory goes is named as such.
    writeFileSync(path.join(dir, 'plans'), 'mine\n');
    const file = joinflow(['compile', 'g1.yaml', '-o', 'plans'], { cwd: dir });
    expect(file.code).toBe(2);
    expect(file.stderr).toContain('joinflow compile: -o plans: not a directory (a file of that name is in the way); nothing was changed');
    expect(readFileSync(path.join(dir, 'plans'), 'utf8')).toBe('mine\n');
  });

  it('lists every broken file and writes nothing', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'a.yaml'), 'name: a\nsteps:\n  x: { executor: { type: simulate } }\n');
    writeFileSync(path.join(dir, 'b.json'), '{"name": "b", "steps": {"x": {"executor": {"type": "simulate", "durationMs": 1}}, "x": {}}}');
    const r = joinflow(['compile', 'a.yaml', 'b.json', '-o', 'out'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('a.yaml: invalid workflow definition (1 problem)');
    expect(r.stderr).toContain('steps.x.executor.durationMs');
    // Both named as given, relative to the current directory (a syntax error too, not as an absolute path).
    expect(r.stderr).toMatch(/^joinflow compile: b\.json: invalid workflow definition .*\n.*line 1, column \d+: Map keys must be unique/m);
    expect(() => readFileSync(path.join(dir, 'out', 'a.json'))).toThrow();
  });
});

describe('joinflow test-pattern', () => {
  it('prints match / no match like TestEventPattern, and names the problem of a bad pattern', () => {
    const event = JSON.stringify({ source: 'joinflow', 'detail-type': 'Run Succeeded', detail: { workflow: 'diamond', ip: '10.0.0.7', n: 5 } });
    let r = joinflow(['test-pattern', '--pattern', '{"detail": {"ip": [{"cidr": "10.0.0.0/24"}], "n": [{"numeric": [">", 1, "<=", 5]}]}}', '--event', event]);
    expect([r.code, r.stdout]).toEqual([0, 'match\n']);
    r = joinflow(['test-pattern', '--pattern', '{"detail": {"workflow": [{"anything-but": "diamond"}]}}', '--event', event]);
    expect([r.code, r.stdout]).toEqual([1, 'no match\n']);
    r = joinflow(['test-pattern', '--pattern', '{"detail": {"ip": [{"cidr": "10.0.0.0/99"}]}}', '--event', event]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('detail.ip[0].cidr');
  });
});

describe('joinflow import wfcommons and --help', () => {
  it('imports a trace and prints its shape', () => {
    const out = path.join(tmp(), 'montage.json');
    const r = joinflow(['import', 'wfcommons', path.join(root, '../shared/corpora/wfcommons/montage-chameleon-2mass-005d-001.json'), '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('montage: 58 tasks, 114 edges, depth 8, critical path 21.385 s (WfFormat 1.5)\n');
    const wf = JSON.parse(readFileSync(out, 'utf8'));
    expect(Object.keys(wf.steps)).toHaveLength(58);
    // Simulated workflows report their (scaled) critical path next to the measured duration.
    const run = joinflow(['run', out, '--time-scale', '0.001', '--json', '--memory']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.criticalPathMs).toBeCloseTo(21.385, 6);
    expect(result.durationMs).toBeGreaterThanOrEqual(21);
    expect(result.steps).toEqual({ total: 58, succeeded: 58, failed: 0, cancelled: 0, retried: 0 });
  });

  it('prints help for each command', () => {
    for (const cmd of ['run', 'compile', 'import', 'test-pattern', 'resume', 'cancel', 'dlq', 'gc', 'start', 'status', 'worker']) {
      const r = joinflow([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: joinflow ${cmd}`));
    }
    const r = joinflow(['--help']);
    expect(r.stdout).toContain('run <workflow>');
  });

  it("says in the command list that cancel, list and status also work on a deployed stage (it said 'of the embedded engine' of cancel and list)", () => {
    const lines = joinflow(['--help']).stdout.split('\n');
    for (const cmd of ['cancel', 'list', 'status']) {
      expect(joinflow([cmd, '--help']).stdout, cmd).toContain(`joinflow ${cmd}${cmd === 'list' ? '' : ' <runId>'} --stage S`);
      expect(lines.find((l) => l.startsWith(`  ${cmd} `)), cmd).toMatch(/\(local state; --stage: a deployed stage\)$/);
    }
  });
});
