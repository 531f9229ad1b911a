/** The multinomial naive Bayes of the classify-documents example (workflows/classify-documents/naive-bayes.ts). */
import { describe, expect, it } from 'vitest';
import { createClassifier, evaluate, tokenize, train, type NaiveBayesModel } from '../../workflows/classify-documents/naive-bayes.ts';

describe('tokenize', () => {
  it('lower-cases, splits on non-alphanumerics, drops stop words and one-letter tokens', () => {
    expect(tokenize('The Spin-Orbit coupling of a Heavy metal, in 2D!')).toEqual(['spin', 'orbit', 'coupling', 'heavy', 'metal', '2d']);
  });

  it('folds plurals but leaves words ending in ss/us/is/os alone', () => {
    expect(tokenize('qubits galaxies species process analysis cosmos genus')).toEqual(['qubit', 'galaxy', 'specy', 'process', 'analysis', 'cosmos', 'genus']);
  });

  it('strips accents', () => {
    expect(tokenize('Schrödinger Hölder')).toEqual(['schrodinger', 'holder']);
  });

  it('gives nothing for stop words only', () => {
    expect(tokenize('of the and a')).toEqual([]);
  });
});

describe('train', () => {
  const examples = [
    { text: 'quark gluon', label: 'physics' },
    { text: 'quark quark lepton', label: 'physics' },
    { text: 'ring field', label: 'math' },
  ];

  it('counts examples and tokens per label, keys sorted', () => {
    const model = train(examples);
    expect(model).toEqual({
      kind: 'multinomial-naive-bayes',
      version: 1,
      alpha: 1,
      labels: ['math', 'physics'],
      examples: { math: 1, physics: 2 },
      tokens: { math: { field: 1, ring: 1 }, physics: { gluon: 1, lepton: 1, quark: 3 } },
    });
    expect(Object.keys(model.tokens['physics']!)).toEqual(['gluon', 'lepton', 'quark']);
  });

  it('is deterministic whatever the order of the examples', () => {
    expect(JSON.stringify(train([...examples].reverse()))).toBe(JSON.stringify(train(examples)));
  });

  it('refuses no examples and a non-positive alpha', () => {
    expect(() => train([])).toThrow(/no training examples/);
    expect(() => train(examples, { alpha: 0 })).toThrow(/alpha must be a positive number/);
  });
});

describe('createClassifier', () => {
  // Vocabulary {field, ring, gluon, lepton, quark}: |V| = 5. Laplace (alpha 1):
  //   physics: 5 tokens -> P(quark) = (3+1)/(5+5) = 0.4, P(ring) = 1/10; prior 2/3
  //   math:    2 tokens -> P(quark) = 1/(2+5) = 1/7,     P(ring) = 2/7;  prior 1/3
  const model = train([
    { text: 'quark gluon', label: 'physics' },
    { text: 'quark quark lepton', label: 'physics' },
    { text: 'ring field', label: 'math' },
  ]);
  const classifier = createClassifier(model);

  it('computes the posterior with add-one smoothing', () => {
    const physics = (2 / 3) * 0.4 * (1 / 10);
    const math = (1 / 3) * (1 / 7) * (2 / 7);
    const p = classifier.predict('quark ring');
    expect(p.label).toBe('physics');
    expect(p.probabilities['physics']).toBeCloseTo(physics / (physics + math), 12);
    expect(p.probabilities['math']).toBeCloseTo(math / (physics + math), 12);
    expect(p.probability).toBe(p.probabilities['physics']);
  });

  it('ignores tokens outside the vocabulary and falls back to the prior', () => {
    expect(classifier.predict('ring')).toEqual(classifier.predict('ring unknownword'));
    const prior = classifier.predict('nothing known here');
    expect(prior.label).toBe('physics');
    expect(prior.probabilities['physics']).toBeCloseTo(2 / 3, 12);
  });

  it('breaks ties towards the first label in sorted order', () => {
    const tie = createClassifier(train([{ text: 'alpha', label: 'b' }, { text: 'beta', label: 'a' }]));
    expect(tie.predict('gamma').label).toBe('a');
  });

  it('stays finite for long inputs (log space)', () => {
    const p = classifier.predict('quark '.repeat(5000));
    expect(p.label).toBe('physics');
    expect(Number.isFinite(p.probability)).toBe(true);
    expect(p.probability).toBeCloseTo(1, 12);
  });

  it('rejects JSON that is not a model', () => {
    expect(() => createClassifier({} as NaiveBayesModel)).toThrow(/not a naive Bayes model/);
    expect(() => createClassifier({ ...model, labels: [...model.labels, 'biology'] })).toThrow(/label "biology" has no training examples/);
  });
});

describe('evaluate', () => {
  it('counts hits and the confusion matrix', () => {
    const classifier = createClassifier(train([{ text: 'quark', label: 'physics' }, { text: 'ring', label: 'math' }]));
    const result = evaluate(classifier, [
      { text: 'quark', label: 'physics' },
      { text: 'ring', label: 'math' },
      { text: 'quark ring quark', label: 'math' },
    ]);
    expect(result).toEqual({ correct: 2, total: 3, accuracy: 2 / 3, confusion: { physics: { physics: 1 }, math: { math: 1, physics: 1 } } });
  });
});
