/**
 * classify-documents' steps as functions: the document schema, labelling, joining the sub-field
 * outputs into rows, the handlers themselves (with the SQLite table), and the watcher's pure half.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readDocument, splitText, MAX_PHRASES } from '../../workflows/classify-documents/document.ts';
import { createClassifier, train } from '../../workflows/classify-documents/naive-bayes.ts';
import { assembleRows, countLabels, labelFields, labelSubfields, type SubfieldLabels } from '../../workflows/classify-documents/pipeline.ts';
import { handler as classifyHandler } from '../../workflows/classify-documents/handlers/classify.ts';
import * as subfieldHandlers from '../../workflows/classify-documents/handlers/subfields.ts';
import { handler as storeHandler } from '../../workflows/classify-documents/handlers/store.ts';
import { createSqliteResultsTable } from '../../workflows/classify-documents/results/sqlite-results-table.ts';
import { documentInput, readyFiles, refusedForGood, runIdFor, scan, type FileState } from '../../workflows/classify-documents/watch-folder.ts';
import type { StepContext } from '../../src/model/workflow.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-classify-unit-');

describe('readDocument', () => {
  it('takes phrases, trimming and dropping empty ones', () => {
    expect(readDocument({ id: 'd1', phrases: ['  a  b ', '', 'c'] }, 'run-1')).toEqual({ id: 'd1', phrases: ['a b', 'c'] });
  });

  it('splits text at line breaks, sentence ends and semicolons', () => {
    expect(splitText('Quarks bind. Do rings commute? Yes; mostly!\nnext line')).toEqual(['Quarks bind', 'Do rings commute', 'Yes', 'mostly', 'next line']);
    expect(readDocument({ text: 'One. Two' }, 'run-1')).toEqual({ id: 'run-1', phrases: ['One', 'Two'] });
  });

  it('names an uploaded file by its key when the document has no id', () => {
    expect(readDocument({ object: { key: 'runs/classify-documents/notes.v2.txt' }, text: 'x' }, 'run-1').id).toBe('notes.v2');
  });

  it('fails for good (NonRetriableStepError) on input no retry can fix', () => {
    const failure = (input: unknown) => {
      try {
        readDocument(input, 'run-1');
      } catch (error) {
        return error as Error & { code?: string };
      }
      throw new Error('expected an error');
    };
    const missing = failure({ id: 'x' });
    expect(missing.name).toBe('NonRetriableStepError');
    expect(missing.code).toBe('NON_RETRIABLE');
    expect(missing.message).toMatch(/needs "phrases" \(a list of strings\) or "text"/);
    expect(failure(null).message).toMatch(/the run input is not a document/);
    expect(failure({ phrases: [1, 2] }).message).toMatch(/phrases\.0: /);
    expect(failure({ phrases: Array.from({ length: MAX_PHRASES + 1 }, (_, i) => `p${i}`) }).message).toMatch(/501 phrases, over the limit of 500/);
    expect(failure({ phrases: ['x'.repeat(301)] }).message).toMatch(/phrase 0 has 301 characters/);
  });
});

describe('labelling and rows', () => {
  const fieldModel = createClassifier(
    train([
      { text: 'quark gluon', label: 'physics' },
      { text: 'ring ideal', label: 'math' },
      { text: 'gene allele', label: 'biology' },
      { text: 'compiler cache', label: 'computer-science' },
    ]),
  );
  const physicsModel = createClassifier(train([{ text: 'quark', label: 'quantum' }, { text: 'gluon', label: 'astrophysics' }]));
  const doc = { id: 'doc', phrases: ['quark', 'ring', 'gluon gluon'] };

  it('labels fields, then only the field\'s phrases with sub-fields; no phrases of a field gives []', () => {
    const fields = labelFields(doc, fieldModel);
    expect(fields.phrases.map((p) => [p.index, p.field])).toEqual([[0, 'physics'], [1, 'math'], [2, 'physics']]);
    expect(fields.phrases.every((p) => p.probability > 0.25 && p.probability <= 1)).toBe(true);
    expect(labelSubfields('physics', fields, physicsModel).phrases.map((p) => [p.index, p.subfield])).toEqual([[0, 'quantum'], [2, 'astrophysics']]);
    expect(labelSubfields('biology', fields, physicsModel)).toEqual({ field: 'biology', phrases: [] });
  });

  it('joins the outputs into rows in phrase order, and refuses outputs that disagree', () => {
    const fields = labelFields(doc, fieldModel);
    const subs: Record<string, SubfieldLabels> = {
      physics: { field: 'physics', phrases: [{ index: 2, subfield: 'astrophysics', probability: 0.9 }, { index: 0, subfield: 'quantum', probability: 0.8 }] },
      math: { field: 'math', phrases: [{ index: 1, subfield: 'algebra', probability: 0.7 }] },
      biology: { field: 'biology', phrases: [] },
      'computer-science': { field: 'computer-science', phrases: [] },
    };
    const rows = assembleRows(fields, subs, 'run-9');
    expect(rows.map((r) => [r.index, r.phrase, r.field, r.subfield, r.runId])).toEqual([
      [0, 'quark', 'physics', 'quantum', 'run-9'],
      [1, 'ring', 'math', 'algebra', 'run-9'],
      [2, 'gluon gluon', 'physics', 'astrophysics', 'run-9'],
    ]);
    expect(countLabels(rows)).toEqual({ physics: { quantum: 1, astrophysics: 1 }, math: { algebra: 1 } });
    expect(() => assembleRows(fields, { ...subs, math: { field: 'math', phrases: [] } }, 'r')).toThrow('phrase 1 is labelled math but no sub-field step classified it');
    expect(() => assembleRows(fields, { ...subs, biology: { field: 'biology', phrases: [{ index: 1, subfield: 'genetics', probability: 1 }] } }, 'r')).toThrow(/phrase 1 is labelled math but step "biology"/);
    const { biology: _omitted, ...three } = subs;
    expect(() => assembleRows(fields, three, 'r')).toThrow('the results of sub-field step "biology" are missing');
  });
});

describe('handlers (shipped models, SQLite table)', () => {
  const saved = process.env['CLASSIFY_RESULTS_DB'];
  afterEach(() => {
    if (saved === undefined) delete process.env['CLASSIFY_RESULTS_DB'];
    else process.env['CLASSIFY_RESULTS_DB'] = saved;
  });
  const context = (step: string): StepContext => ({ workflow: 'classify-documents', runId: 'unit-run', step, attempt: 1, awsRequestId: 'r', getRemainingTimeInMillis: () => 1000 });

  it('run the whole chain and store one row per phrase; empty sub-fields stay empty', async () => {
    const input = { id: 'unit-doc', phrases: ['gravitational waves from merging neutron stars', 'the halting problem is undecidable'] };
    const classify = await classifyHandler({ input, results: {} }, context('classify'));
    expect(classify.phrases.map((p) => p.field)).toEqual(['physics', 'computer-science']);
    const results: Record<string, unknown> = { classify };
    for (const [step, fn] of [['physics', subfieldHandlers.physics], ['math', subfieldHandlers.math], ['biology', subfieldHandlers.biology], ['computer-science', subfieldHandlers.computerScience]] as const) {
      results[step] = await fn({ input, results: { classify } }, context(step));
    }
    expect(results['math']).toEqual({ field: 'math', phrases: [] });
    expect(results['biology']).toEqual({ field: 'biology', phrases: [] });
    const db = path.join(tmp(), 'results.db');
    process.env['CLASSIFY_RESULTS_DB'] = db;
    // On AWS the run id comes in the event, not the context.
    const out = await storeHandler({ input, results, joinflow: { runId: 'lambda-run' } } as never, {} as StepContext);
    expect(out).toMatchObject({ document: 'unit-doc', table: `sqlite:${db}`, stored: 2 });
    expect(out.rows.map((r) => `${r.field}/${r.subfield}`)).toEqual(['physics/astrophysics', 'computer-science/theory']);
    const table = createSqliteResultsTable(db);
    try {
      const rows = await table.readDocument('unit-doc');
      expect(rows.map((r) => [r.index, r.phrase, r.field, r.subfield, r.runId])).toEqual([
        [0, input.phrases[0], 'physics', 'astrophysics', 'lambda-run'],
        [1, input.phrases[1], 'computer-science', 'theory', 'lambda-run'],
      ]);
    } finally {
      table.close();
    }
  });

  it('refuses at classify a document whose step events would not fit Lambda\'s 256 KB; the store event of one it accepts fits', async () => {
    const words = 'entangled qubits in a superconducting cavity measured by a cryogenic amplifier while the lattice relaxes ';
    const document = (phrases: number, chars: number, id = 'big') => ({ id, phrases: Array.from({ length: phrases }, (_, i) => `${i} ${words.repeat(4)}`.slice(0, chars)) });
    // Within the phrase limits (500 of at most 300 characters), yet store's event would be about 360 KB.
    const tooBig = document(MAX_PHRASES, 300);
    expect(() => classifyHandler({ input: tooBig, results: {} }, context('classify'))).toThrow(/too large for the step events: step "store" would get about \d+ bytes .* over Lambda's 256 KB/);
    // Fewer phrases, but each character is 2 bytes of UTF-8.
    const accented = { id: 'accented', phrases: Array.from({ length: 300 }, () => 'é'.repeat(300)) };
    expect(() => classifyHandler({ input: accented, results: {} }, context('classify'))).toThrow(/too large for the step events/);
    const fits = document(MAX_PHRASES, 120, 'fits');
    const classify = await classifyHandler({ input: fits, results: {} }, context('classify'));
    const results: Record<string, unknown> = { classify };
    for (const [step, fn] of [['physics', subfieldHandlers.physics], ['math', subfieldHandlers.math], ['biology', subfieldHandlers.biology], ['computer-science', subfieldHandlers.computerScience]] as const) {
      results[step] = await fn({ input: fits, results: { classify } }, context(step));
    }
    // The event store's Lambda function is invoked with on AWS (dispatch.ts): the step event and joinflow's metadata.
    const joinflow = { workflow: 'classify-documents', runId: '2f0c3a7e-7d9b-4f4e-9a55-0c1d2e3f4a5b', step: 'store', attempt: 3, maxAttempts: 3 };
    expect(Buffer.byteLength(JSON.stringify({ input: fits, results, joinflow }))).toBeLessThanOrEqual(256 * 1024);
  });

  it('store fails clearly without the classify results or a run id', async () => {
    await expect(Promise.resolve(storeHandler({ input: null, results: {} }, context('store')))).rejects.toThrow('step "store" needs the results of step "classify"');
    expect(() => classifyHandler({ input: { phrases: [] }, results: {} }, {} as StepContext)).toThrow(/no run id/);
  });
});

describe('watch folder', () => {
  const f = (name: string, size = 10, mtimeMs = 1000): FileState => ({ name, size, mtimeMs });

  it('takes document files that two scans saw unchanged, once per version', () => {
    const previous = [f('a.json'), f('b.txt', 5), f('c.json')];
    const current = [f('a.json'), f('b.txt', 9), f('c.json'), f('d.json'), f('e.png')];
    expect(readyFiles(current, previous, new Set()).map((x) => x.name)).toEqual(['a.json', 'c.json']);
    const submitted = new Set([`c.json\u000010\u00001000`]);
    expect(readyFiles(current, previous, submitted).map((x) => x.name)).toEqual(['a.json']);
    expect(readyFiles(current, undefined, submitted).map((x) => x.name)).toEqual(['a.json', 'b.txt', 'd.json']);
  });

  it('scans regular files and links to them (a document linked into the folder), not directories or dangling links', () => {
    const dir = tmp();
    const elsewhere = tmp();
    writeFileSync(path.join(dir, 'a.json'), '{}');
    writeFileSync(path.join(elsewhere, 'doc.txt'), 'A phrase');
    symlinkSync(path.join(elsewhere, 'doc.txt'), path.join(dir, 'linked.txt'));
    symlinkSync(elsewhere, path.join(dir, 'folder-link'));
    symlinkSync(path.join(elsewhere, 'gone.txt'), path.join(dir, 'dangling.txt'));
    mkdirSync(path.join(dir, 'sub'));
    expect(scan(dir).map((x) => [x.name, x.size]).sort()).toEqual([['a.json', 2], ['linked.txt', 8]]);
  });

  it('gives a version a stable run id that joinflow accepts', () => {
    expect(runIdFor(f('a.json'))).toBe(runIdFor(f('a.json')));
    expect(runIdFor(f('a.json'))).not.toBe(runIdFor(f('a.json', 10, 2000)));
    expect(runIdFor(f('a.json'))).toMatch(/^watch-[0-9a-f]{32}$/);
  });

  it('turns JSON and text files into run inputs named after the file', () => {
    expect(documentInput(f('n.txt'), 'A. B')).toEqual({ input: { id: 'n', text: 'A. B' } });
    expect(documentInput(f('d.json'), '{"phrases": ["x"]}')).toEqual({ input: { id: 'd', phrases: ['x'] } });
    expect(documentInput(f('d.json'), '{"id": "own", "phrases": []}')).toEqual({ input: { id: 'own', phrases: [] } });
    expect(documentInput(f('d.json'), '{oops')).toMatchObject({ error: expect.stringMatching(/^d\.json is not valid JSON/) });
    expect(documentInput(f('d.json'), '[1]')).toEqual({ error: 'd.json: a document is a JSON object' });
  });

  it('reads a file that starts with a UTF-8 byte order mark', () => {
    expect(documentInput(f('bom.json'), '\uFEFF{"phrases": ["x"]}')).toEqual({ input: { id: 'bom', phrases: ['x'] } });
    expect(documentInput(f('bom.txt'), '\uFEFFA. B')).toEqual({ input: { id: 'bom', text: 'A. B' } });
  });

  it('sends again an entry that was not answered or throttled, not one refused for what it is', () => {
    expect(refusedForGood({ status: 400 })).toBe(true);
    expect(refusedForGood({ status: 413 })).toBe(true);
    expect(refusedForGood({ errorCode: 'MalformedDetail' })).toBe(true);
    expect(refusedForGood({ errorCode: 'InvalidArgument' })).toBe(true);
    expect(refusedForGood({})).toBe(false);
    expect(refusedForGood({ status: 429 })).toBe(false);
    expect(refusedForGood({ status: 403 })).toBe(false);
    expect(refusedForGood({ status: 503 })).toBe(false);
    expect(refusedForGood({ errorCode: 'ThrottlingException' })).toBe(false);
    expect(refusedForGood({ errorCode: 'InternalFailure' })).toBe(false);
  });
});
