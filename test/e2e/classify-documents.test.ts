/**
 * classify-documents end to end on the embedded engine: `joinflow run` on the shipped sample
 * document stores one row per phrase (phrase -> field -> sub-field) in SQLite; a bad document
 * fails for good; the watched folder starts runs through `joinflow dev`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-classify-e2e-');
const example = path.join(root, 'workflows/classify-documents');
const sampleDoc = path.join(example, 'sample-doc.json');

/** The sample document's phrases with the labels a person gives them (written with the document). */
const EXPECTED = [
  ['measuring the entanglement of superconducting qubits', 'physics', 'quantum'],
  ['a black hole merger detected by gravitational wave observatories', 'physics', 'astrophysics'],
  ['a superconducting phase transition in a layered crystal', 'physics', 'condensed-matter'],
  ['prime ideals in a polynomial ring', 'math', 'algebra'],
  ['convergence of the Fourier integral of a smooth function', 'math', 'analysis'],
  ['the variance of a random walk after n steps', 'math', 'probability'],
  ['a mutation in a gene inherited on the X chromosome', 'biology', 'genetics'],
  ['wolves as keystone predators in a forest ecosystem', 'biology', 'ecology'],
  ['synaptic plasticity in hippocampal neurons', 'biology', 'neuroscience'],
  ['training a neural network with stochastic gradient descent', 'computer-science', 'machine-learning'],
  ['a replicated log for fault tolerant distributed databases', 'computer-science', 'systems'],
  ['an NP hard problem with a polynomial time approximation', 'computer-science', 'theory'],
];

type Row = { document: string; idx: number; phrase: string; field: string; subfield: string; field_probability: number; run_id: string };

function readRows(file: string): Row[] {
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM classified_phrases ORDER BY document, idx').all() as Row[];
  } catch (error) {
    // The table appears with the first store; until then there is nothing to read.
    if (/no such table/.test((error as Error).message)) return [];
    throw error;
  } finally {
    db.close();
  }
}

describe('joinflow run classify-documents', () => {
  it('stores every phrase of the sample document with its field and sub-field (SQLite under .joinflow/ by default)', () => {
    const cwd = tmp();
    const r = joinflow(['run', path.join(example, 'workflow.ts'), '--input', `@${sampleDoc}`, '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ workflow: 'classify-documents', status: 'succeeded', steps: { total: 6, succeeded: 6, failed: 0 } });
    const db = path.join(cwd, '.joinflow', 'classify-results.db');
    expect(out.output).toMatchObject({ document: 'sample-doc', table: `sqlite:${db}`, stored: 12 });
    expect(out.output.counts).toEqual({
      physics: { quantum: 1, astrophysics: 1, 'condensed-matter': 1 },
      math: { algebra: 1, analysis: 1, probability: 1 },
      biology: { genetics: 1, ecology: 1, neuroscience: 1 },
      'computer-science': { 'machine-learning': 1, systems: 1, theory: 1 },
    });
    const rows = readRows(db);
    expect(rows.map((row) => [row.phrase, row.field, row.subfield])).toEqual(EXPECTED);
    expect(rows.map((row) => row.idx)).toEqual([...EXPECTED.keys()]);
    expect(new Set(rows.map((row) => `${row.document} ${row.run_id}`))).toEqual(new Set([`sample-doc ${out.runId}`]));
    expect(rows.every((row) => row.field_probability > 0.25 && row.field_probability <= 1)).toBe(true);
  });

  it('takes a text document, runs sub-field steps with nothing to do, and replaces the rows of a re-submitted document', () => {
    const dir = tmp();
    const db = path.join(dir, 'results.db');
    const env = { CLASSIFY_RESULTS_DB: db };
    const run = (text: string) =>
      spawnSync(process.execPath, [path.join(root, 'bin/joinflow.js'), 'run', 'classify-documents', '--input', JSON.stringify({ id: 'notes', text }), '--json', '--state', path.join(dir, 'state')], {
        cwd: root,
        env: { ...process.env, ...env },
        encoding: 'utf8',
        timeout: 120_000,
      });
    let r = run('Dark energy drives cosmic acceleration. Pulsars spin down; galaxies merge.\nNeutron stars collide');
    expect(r.status, r.stderr).toBe(0);
    expect(readRows(db).map((row) => [row.idx, row.field])).toEqual([[0, 'physics'], [1, 'physics'], [2, 'physics'], [3, 'physics']]);
    r = run('Eigenvalues of a symmetric matrix');
    expect(r.status, r.stderr).toBe(0);
    expect(readRows(db).map((row) => [row.document, row.idx, row.phrase, row.field, row.subfield])).toEqual([['notes', 0, 'Eigenvalues of a symmetric matrix', 'math', 'algebra']]);
  });

  it('fails a run whose input is not a document with a NonRetriableStepError naming the problem', () => {
    const cwd = tmp();
    const r = joinflow(['run', path.join(example, 'workflow.ts'), '--input', '{"title": "no phrases"}', '--json'], { cwd });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.steps).toMatchObject({ failed: 1, succeeded: 0 });
    expect(r.stderr).toMatch(/error in step "classify": NonRetriableStepError: the run input is not a document \(a document needs "phrases"/);
    expect(readRows(path.join(cwd, '.joinflow', 'classify-results.db'))).toEqual([]);
  });
});

describe('watched folder (watch.ts -> joinflow dev)', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  });

  /** Starts a process, collecting its output; resolves once `ready` matches its stderr or stdout. */
  function start(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray; out: () => string }> {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let text = '';
    return new Promise((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        text += chunk.toString();
        const match = ready.exec(text);
        if (match) resolve({ child, match, out: () => text });
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}) before it was ready:\n${text}`)));
    });
  }

  async function rowsOf(db: string, documents: number): Promise<Row[]> {
    // Runs finish asynchronously inside joinflow dev; wait for them (bounded), not for a time.
    for (let i = 0; i < 600; i++) {
      const rows = readRows(db);
      if (new Set(rows.map((r) => r.document)).size >= documents) return rows;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`no rows of ${documents} documents in ${db} after 60 s`);
  }

  function exited(child: ChildProcess): Promise<number | null> {
    return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  it('creates a folder to watch that is not there; --once wants it, and a file is not a folder (exit 2, one line)', async () => {
    const dir = tmp();
    const watch = path.join(example, 'watch.ts');
    const endpoint = 'http://127.0.0.1:9';
    const once = spawnSync(process.execPath, ['--import', 'tsx', watch, path.join(dir, 'nope'), '--endpoint', endpoint, '--once'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect([once.status, once.stderr]).toEqual([2, `${path.join(dir, 'nope')}: no such folder\n`]);
    writeFileSync(path.join(dir, 'file'), 'x');
    const file = spawnSync(process.execPath, ['--import', 'tsx', watch, path.join(dir, 'file'), '--endpoint', endpoint], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect([file.status, file.stderr]).toEqual([2, `${path.join(dir, 'file')}: not a folder\n`]);
    const inbox = path.join(dir, 'inbox');
    const watcher = await start(['--import', 'tsx', watch, inbox, '--endpoint', endpoint], {}, /watching /);
    expect(watcher.out()).toContain(`created ${inbox}`);
    expect(existsSync(inbox)).toBe(true);
    watcher.child.kill('SIGTERM');
    expect(await exited(watcher.child)).toBe(0);
  });

  it('names a misspelt option and shows its usage (exit 2), not a stack trace', () => {
    const watch = path.join(example, 'watch.ts');
    const r = spawnSync(process.execPath, ['--import', 'tsx', watch, tmp(), '--endpoint', 'http://127.0.0.1:9', '--intervall', '500'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^watch\.ts: Unknown option '--intervall'/);
    expect(lines[1]).toBe('usage: watch.ts <folder> --endpoint http://127.0.0.1:<port of joinflow dev> [--once] [--interval MS] [--token T] [--bus NAME]');
  });

  it('submits each document file once and stores its rows; a broken file is skipped and reported', async () => {
    const dir = tmp();
    const inbox = path.join(dir, 'inbox');
    const db = path.join(dir, 'results.db');
    mkdirSync(inbox);
    writeFileSync(path.join(inbox, 'sample.json'), readFileSync(sampleDoc));
    writeFileSync(path.join(inbox, 'seminar.txt'), 'Neurons in the visual cortex respond to edges.\nA Markov chain mixes quickly');
    writeFileSync(path.join(inbox, 'broken.json'), '{"phrases": [');
    writeFileSync(path.join(inbox, 'ignored.png'), 'x');
    const dev = await start(['bin/joinflow.js', 'dev', '--state', path.join(dir, 'state')], { CLASSIFY_RESULTS_DB: db }, /PutEvents on (http:\/\/\S+)/);
    const endpoint = dev.match[1]!;
    const watch = path.join(example, 'watch.ts');
    const once = spawnSync(process.execPath, ['--import', 'tsx', watch, inbox, '--endpoint', endpoint, '--once'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(once.status).toBe(1);
    const submitted = once.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; runId: string });
    expect(submitted.map((s) => s.file)).toEqual(['sample.json', 'seminar.txt']);
    expect(once.stderr).toMatch(/skipped broken\.json is not valid JSON/);

    const rows = await rowsOf(db, 2);
    expect(rows.filter((r) => r.document === 'sample-doc').map((r) => [r.phrase, r.field, r.subfield])).toEqual(EXPECTED);
    expect(rows.filter((r) => r.document === 'seminar').map((r) => [r.phrase, r.field, r.subfield])).toEqual([
      ['Neurons in the visual cortex respond to edges', 'biology', 'neuroscience'],
      ['A Markov chain mixes quickly', 'math', 'probability'],
    ]);
    expect(rows.find((r) => r.document === 'seminar')!.run_id).toBe(submitted[1]!.runId);

    // Watching: a file that lands later is picked up once it stops changing. A file joinflow dev
    // refuses for its size is reported once, not again at every scan.
    writeFileSync(path.join(inbox, 'a-huge.txt'), 'a phrase about prime numbers\n'.repeat(12_000));
    const watcher = await start(['--import', 'tsx', watch, inbox, '--endpoint', endpoint, '--interval', '100'], {}, /watching /);
    writeFileSync(path.join(inbox, 'late.json'), JSON.stringify({ phrases: ['the Galois group of a polynomial'] }));
    const late = await rowsOf(db, 3);
    expect(late.filter((r) => r.document === 'late').map((r) => [r.field, r.subfield])).toEqual([['math', 'algebra']]);
    expect(watcher.out()).toMatch(/"file":"late\.json"/);
    writeFileSync(path.join(inbox, 'later.json'), JSON.stringify({ phrases: ['a gene on the X chromosome'] }));
    await rowsOf(db, 4);
    expect(watcher.out().match(/a-huge\.txt: not submitted: PutEvents failed: .*over the limit.* \(sent again when the file changes\)/g)).toHaveLength(1);
    watcher.child.kill('SIGTERM');
    expect(await exited(watcher.child)).toBe(0);
    dev.child.kill('SIGTERM');
    expect(await exited(dev.child)).toBe(0);
  });
});
