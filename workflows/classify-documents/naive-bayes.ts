/**
 * Multinomial naive Bayes with Laplace (add-alpha) smoothing: tokenizer, training, prediction and
 * evaluation. Pure: data in, data out. A trained model is plain JSON of integer counts, so the
 * same data always gives byte-identical model files (the committed models are checked that way).
 */

/** Words too common to say anything about a field. */
const STOP_WORDS = new Set(
  (
    'a an and are as at be by can each for from has have in into is it its of on or our that the their then ' +
    'there these this those to under was we were which while with within without how what when where who why ' +
    'two one over than through using use used via per between both after before all any more most such only'
  ).split(' '),
);

/**
 * Lower-cased word tokens without stop words; a light suffix strip folds plurals ("qubits" ->
 * "qubit", "galaxies" -> "galaxy") because the phrase set is too small to learn both forms.
 */
export function tokenize(text: string): string[] {
  const words = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  const out: string[] = [];
  for (const word of words) {
    if (word.length < 2 || STOP_WORDS.has(word)) continue;
    out.push(stem(word));
  }
  return out;
}

function stem(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 3 && word.endsWith('s') && !/(?:ss|us|is|os)$/.test(word)) return word.slice(0, -1);
  return word;
}

/** One labelled text. */
export type Example = { text: string; label: string };

/** A trained model as stored: counts only, keys sorted. */
export type NaiveBayesModel = {
  kind: 'multinomial-naive-bayes';
  version: 1;
  /** Laplace smoothing: added to every token count. */
  alpha: number;
  /** Sorted; ties in prediction go to the first. */
  labels: string[];
  /** Training examples per label (the prior). */
  examples: Record<string, number>;
  /** Token occurrences per label. */
  tokens: Record<string, Record<string, number>>;
};

/** Options of {@link train}. */
export type TrainOptions = { alpha?: number };

/** Counts tokens per label. Throws when there is nothing to learn from. */
export function train(examples: readonly Example[], options: TrainOptions = {}): NaiveBayesModel {
  const alpha = options.alpha ?? 1;
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new RangeError(`naive Bayes: alpha must be a positive number (got ${alpha})`);
  if (examples.length === 0) throw new RangeError('naive Bayes: no training examples');
  const perLabel = new Map<string, number>();
  const tokenCounts = new Map<string, Map<string, number>>();
  for (const { text, label } of examples) {
    perLabel.set(label, (perLabel.get(label) ?? 0) + 1);
    let counts = tokenCounts.get(label);
    if (counts === undefined) tokenCounts.set(label, (counts = new Map()));
    for (const token of tokenize(text)) counts.set(token, (counts.get(token) ?? 0) + 1);
  }
  const labels = [...perLabel.keys()].sort();
  return {
    kind: 'multinomial-naive-bayes',
    version: 1,
    alpha,
    labels,
    examples: Object.fromEntries(labels.map((l) => [l, perLabel.get(l)!])),
    tokens: Object.fromEntries(labels.map((l) => [l, sortedRecord(tokenCounts.get(l)!)])),
  };
}

function sortedRecord(counts: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A prediction: the best label and the posterior probability of every label. */
export type Prediction = { label: string; probability: number; probabilities: Record<string, number> };

/** A model ready to predict: log-probabilities computed once. */
export type Classifier = {
  readonly labels: readonly string[];
  predict(text: string): Prediction;
};

/**
 * Prepares a model for prediction. P(token | label) = (count + alpha) / (total + alpha * |V|),
 * V the vocabulary of all labels; tokens outside V are ignored (they carry no evidence).
 */
export function createClassifier(model: NaiveBayesModel): Classifier {
  checkModel(model);
  const vocabulary = new Set<string>();
  for (const label of model.labels) for (const token of Object.keys(model.tokens[label]!)) vocabulary.add(token);
  const v = vocabulary.size;
  const totalExamples = model.labels.reduce((n, l) => n + model.examples[l]!, 0);
  const prepared = model.labels.map((label) => {
    const counts = model.tokens[label]!;
    const total = Object.values(counts).reduce((n, c) => n + c, 0);
    const denominator = Math.log(total + model.alpha * v);
    return {
      label,
      prior: Math.log(model.examples[label]! / totalExamples),
      unseen: Math.log(model.alpha) - denominator,
      logLikelihood: new Map(Object.entries(counts).map(([t, c]) => [t, Math.log(c + model.alpha) - denominator])),
    };
  });
  return {
    labels: model.labels,
    predict(text) {
      const tokens = tokenize(text).filter((t) => vocabulary.has(t));
      const scores = prepared.map((p) => tokens.reduce((s, t) => s + (p.logLikelihood.get(t) ?? p.unseen), p.prior));
      // Softmax in log space: subtracting the maximum keeps exp() from underflowing to 0.
      const max = Math.max(...scores);
      const weights = scores.map((s) => Math.exp(s - max));
      const sum = weights.reduce((a, b) => a + b, 0);
      let best = 0;
      for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
      const probabilities = Object.fromEntries(prepared.map((p, i) => [p.label, weights[i]! / sum]));
      return { label: prepared[best]!.label, probability: weights[best]! / sum, probabilities };
    },
  };
}

/** Rejects JSON that is not a model this code wrote (a hand-edited or truncated file). */
function checkModel(model: NaiveBayesModel): void {
  const bad = (why: string) => new TypeError(`not a naive Bayes model: ${why}`);
  if (model?.kind !== 'multinomial-naive-bayes' || model.version !== 1) throw bad('kind/version missing or unknown');
  if (!Array.isArray(model.labels) || model.labels.length === 0) throw bad('no labels');
  if (!(model.alpha > 0)) throw bad(`alpha must be > 0 (got ${model.alpha})`);
  for (const label of model.labels) {
    if (!(model.examples?.[label]! > 0)) throw bad(`label "${label}" has no training examples`);
    if (typeof model.tokens?.[label] !== 'object') throw bad(`label "${label}" has no token counts`);
  }
}

/** Accuracy of a classifier on labelled examples, with the confusion counts (actual -> predicted -> n). */
export type Evaluation = {
  correct: number;
  total: number;
  accuracy: number;
  confusion: Record<string, Record<string, number>>;
};

/** Predicts every example and counts the hits. */
export function evaluate(classifier: Classifier, examples: readonly Example[]): Evaluation {
  const confusion: Record<string, Record<string, number>> = {};
  let correct = 0;
  for (const { text, label } of examples) {
    const predicted = classifier.predict(text).label;
    if (predicted === label) correct++;
    const row = (confusion[label] ??= {});
    row[predicted] = (row[predicted] ?? 0) + 1;
  }
  return { correct, total: examples.length, accuracy: examples.length === 0 ? 0 : correct / examples.length, confusion };
}
