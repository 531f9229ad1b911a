/**
 * The labelled phrase set and the trained models of classify-documents: the split, that the
 * committed models/*.json are what training produces today, and the held-out accuracy of each of
 * the five classifiers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePhrases, splitPhrases } from '../../workflows/classify-documents/dataset.ts';
import { createClassifier, evaluate, tokenize, type NaiveBayesModel } from '../../workflows/classify-documents/naive-bayes.ts';
import { TAXONOMY } from '../../workflows/classify-documents/taxonomy.ts';
import { build, MODELS_DIR, PHRASES_FILE } from '../../workflows/classify-documents/train.ts';
import { trainAll, type Metrics } from '../../workflows/classify-documents/training.ts';

const phrases = parsePhrases(readFileSync(PHRASES_FILE, 'utf8'));
const committed = (file: string) => readFileSync(path.join(MODELS_DIR, file), 'utf8');

describe('phrase set', () => {
  it('has 36 phrases in every sub-field of the taxonomy', () => {
    const counts: Record<string, number> = {};
    for (const p of phrases) counts[`${p.field}/${p.subfield}`] = (counts[`${p.field}/${p.subfield}`] ?? 0) + 1;
    const expected = Object.fromEntries(Object.entries(TAXONOMY).flatMap(([f, subs]) => subs.map((s) => [`${f}/${s}`, 36])));
    expect(counts).toEqual(expected);
  });

  it('holds out every 4th phrase of each sub-field: 9 per sub-field, 108 in all, disjoint from training', () => {
    const { train, test } = splitPhrases(phrases);
    expect([train.length, test.length]).toEqual([324, 108]);
    for (const [field, subs] of Object.entries(TAXONOMY)) {
      for (const sub of subs) expect(test.filter((p) => p.field === field && p.subfield === sub)).toHaveLength(9);
    }
    const trainTexts = new Set(train.map((p) => p.text.toLowerCase()));
    expect(test.filter((p) => trainTexts.has(p.text.toLowerCase()))).toEqual([]);
  });

  it('rejects unknown labels, phrases before a header and duplicates, naming the line', () => {
    expect(() => parsePhrases('[physics/optics]\nlenses', 'x.txt')).toThrow('x.txt:1: "optics" is not a sub-field of physics');
    expect(() => parsePhrases('[chemistry/organic]\nx', 'x.txt')).toThrow('x.txt:1: unknown field "chemistry"');
    expect(() => parsePhrases('# c\nloose phrase', 'x.txt')).toThrow('x.txt:2: a phrase before any [field/subfield] header');
    expect(() => parsePhrases('[math/algebra]\nrings\n\n[math/analysis]\nRings', 'x.txt')).toThrow('x.txt:5: the same phrase as line 2');
  });
});

describe('trained models', () => {
  it('are current: retraining gives the committed models/*.json byte for byte', () => {
    const { files } = build();
    expect(Object.keys(files).sort()).toEqual(['biology.json', 'computer-science.json', 'field.json', 'math.json', 'metrics.json', 'physics.json']);
    for (const [file, text] of Object.entries(files)) expect(committed(file), `${file} is stale: run npm run build:models`).toBe(text);
  });

  it('classify the held-out phrases well above chance (accuracies as measured when the models were trained)', () => {
    const metrics = JSON.parse(committed('metrics.json')) as Metrics;
    const { test } = splitPhrases(phrases);
    // Recomputed from the committed model files, not taken from metrics.json.
    const field = evaluate(createClassifier(JSON.parse(committed('field.json')) as NaiveBayesModel), test.map((p) => ({ text: p.text, label: p.field })));
    expect(field.total).toBe(108);
    expect(field.correct).toBe(metrics.classifiers.field.correct);
    // 4 fields: chance is 25 %. Measured 83/108 = 76.9 %.
    expect(field.accuracy).toBeGreaterThanOrEqual(0.75);
    for (const name of Object.keys(TAXONOMY) as Array<keyof typeof TAXONOMY>) {
      const sub = evaluate(
        createClassifier(JSON.parse(committed(`${name}.json`)) as NaiveBayesModel),
        test.filter((p) => p.field === name).map((p) => ({ text: p.text, label: p.subfield })),
      );
      expect(sub.total).toBe(27);
      expect(sub.correct, name).toBe(metrics.classifiers[name].correct);
      // 3 sub-fields: chance is 33 %. Measured 70.4 % (math) to 81.5 % (biology).
      expect(sub.accuracy, name).toBeGreaterThanOrEqual(0.7);
    }
    // Both stages as the workflow routes a phrase; 12 labels, chance 8 %. Measured 63/108 = 58.3 %.
    const load = (name: string) => createClassifier(JSON.parse(committed(`${name}.json`)) as NaiveBayesModel);
    const main = load('field');
    const both = test.filter((p) => {
      const field = main.predict(p.text).label;
      return field === p.field && load(field).predict(p.text).label === p.subfield;
    }).length;
    expect(both).toBe(metrics.twoStage.correct);
    expect(both / test.length).toBeGreaterThanOrEqual(0.55);
  });

  it('make the mistakes the README gives as examples', () => {
    const { test } = splitPhrases(phrases);
    const load = (name: string) => createClassifier(JSON.parse(committed(`${name}.json`)) as NaiveBayesModel);
    const main = load('field');
    const cs = test.filter((p) => p.field === 'computer-science').map((p) => main.predict(p.text).label);
    expect([cs.length, cs.filter((l) => l === 'computer-science').length, cs.filter((l) => l === 'math').length]).toEqual([27, 13, 9]);
    const systems = test.filter((p) => p.subfield === 'systems');
    expect([systems.length, systems.filter((p) => load('computer-science').predict(p.text).label === 'systems').length]).toEqual([9, 3]);
    // "hippocampus" is in no model, "cells" counts alike for genetics and neuroscience: "place" decides.
    const label = (text: string) => {
      const field = main.predict(text).label;
      return `${field}/${load(field).predict(text).label}`;
    };
    expect(label('Place cells fire in the hippocampus')).toBe('biology/genetics');
    expect(label('Cells fire in the hippocampus')).toBe('biology/neuroscience');
    const biology = JSON.parse(committed('biology.json')) as NaiveBayesModel;
    expect(['genetics', 'neuroscience'].map((s) => [biology.tokens[s]?.['cell'], biology.tokens[s]?.['place'] ?? 0, biology.tokens[s]?.['hippocampus'] ?? 0])).toEqual([[2, 1, 0], [2, 0, 0]]);
  });

  it('are trained on the training split only', () => {
    const { models, metrics } = trainAll(phrases);
    const examples = Object.values(models.field.examples).reduce((a, b) => a + b, 0);
    expect(examples).toBe(324);
    expect(metrics.classifiers.physics.trainExamples).toBe(81);
    const { train, test } = splitPhrases(phrases);
    // Words that occur only in held-out phrases would be in the counts if those had been trained on.
    const trainWords = new Set(train.flatMap((p) => tokenize(p.text)));
    const testOnly = new Set(test.flatMap((p) => tokenize(p.text)).filter((w) => !trainWords.has(w)));
    expect(testOnly.size).toBeGreaterThan(50);
    for (const model of Object.values(models)) {
      const vocabulary = new Set(Object.values(model.tokens).flatMap((t) => Object.keys(t)));
      expect([...testOnly].filter((w) => vocabulary.has(w))).toEqual([]);
    }
  });
});
