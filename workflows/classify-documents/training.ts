/**
 * Trains the five classifiers (the main field classifier and one sub-field classifier per field)
 * on the training split and measures each on the held-out split. Pure: phrases in, model files'
 * text out; train.ts does the file I/O.
 */
import { HOLD_OUT_EVERY, splitPhrases, type LabelledPhrase } from './dataset.ts';
import { createClassifier, evaluate, train, type Evaluation, type NaiveBayesModel } from './naive-bayes.ts';
import { FIELDS, type Field } from './taxonomy.ts';

/** Which classifier: `field` (the main one) or a field's sub-field classifier. */
export type ClassifierName = 'field' | Field;

/** Held-out measurement of one classifier. */
export type ClassifierMetrics = { labels: string[]; trainExamples: number } & Evaluation;

/** What training reports: split sizes and the accuracy of every classifier on the test split. */
export type Metrics = {
  holdOut: string;
  phrases: number;
  train: number;
  test: number;
  classifiers: Record<ClassifierName, ClassifierMetrics>;
  /** Both stages as the workflow runs them: a held-out phrase counts when its field and its sub-field are right. */
  twoStage: { correct: number; total: number; accuracy: number };
};

/** The five models and their measurements. */
export type Trained = { models: Record<ClassifierName, NaiveBayesModel>; metrics: Metrics };

/** Laplace smoothing of every model (add-one). */
export const ALPHA = 1;

/** Trains and evaluates all five classifiers. */
export function trainAll(phrases: readonly LabelledPhrase[]): Trained {
  const { train: trainSet, test } = splitPhrases(phrases);
  const models = {} as Record<ClassifierName, NaiveBayesModel>;
  const classifiers = {} as Record<ClassifierName, ClassifierMetrics>;
  const fit = (name: ClassifierName, label: (p: LabelledPhrase) => string, keep: (p: LabelledPhrase) => boolean) => {
    const examples = (set: LabelledPhrase[]) => set.filter(keep).map((p) => ({ text: p.text, label: label(p) }));
    const trainExamples = examples(trainSet);
    const model = train(trainExamples, { alpha: ALPHA });
    models[name] = model;
    classifiers[name] = { labels: model.labels, trainExamples: trainExamples.length, ...evaluate(createClassifier(model), examples(test)) };
  };
  fit('field', (p) => p.field, () => true);
  for (const field of FIELDS) fit(field, (p) => p.subfield, (p) => p.field === field);
  return {
    models,
    metrics: { holdOut: `every ${HOLD_OUT_EVERY}th phrase of each sub-field`, phrases: phrases.length, train: trainSet.length, test: test.length, classifiers, twoStage: twoStage(models, test) },
  };
}

/** Routes each phrase as the workflow does: the main model's field picks the sub-field model. */
function twoStage(models: Record<ClassifierName, NaiveBayesModel>, test: readonly LabelledPhrase[]): Metrics['twoStage'] {
  const main = createClassifier(models.field);
  const subs = Object.fromEntries(FIELDS.map((f) => [f, createClassifier(models[f])])) as Record<Field, ReturnType<typeof createClassifier>>;
  let correct = 0;
  for (const p of test) {
    const field = main.predict(p.text).label as Field;
    if (field === p.field && subs[field].predict(p.text).label === p.subfield) correct++;
  }
  return { correct, total: test.length, accuracy: test.length === 0 ? 0 : correct / test.length };
}

/** The files train.ts writes under models/, path -> content (deterministic text). */
export function modelFiles(trained: Trained): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, model] of Object.entries(trained.models)) files[`${name}.json`] = `${JSON.stringify(model)}\n`;
  files['metrics.json'] = `${JSON.stringify(trained.metrics, null, 2)}\n`;
  return files;
}

/** A table of held-out accuracies, one line per classifier. */
export function formatMetrics(metrics: Metrics): string {
  const lines = [`${metrics.phrases} phrases: ${metrics.train} to train, ${metrics.test} held out (${metrics.holdOut})`];
  for (const [name, m] of Object.entries(metrics.classifiers)) {
    const what = name === 'field' ? 'field (main)' : `${name} sub-fields`;
    lines.push(`  ${what.padEnd(28)} ${(m.accuracy * 100).toFixed(1).padStart(5)}%  (${m.correct}/${m.total} held-out correct; ${m.labels.length} labels, trained on ${m.trainExamples})`);
  }
  const t = metrics.twoStage;
  lines.push(`  ${'field and sub-field'.padEnd(28)} ${(t.accuracy * 100).toFixed(1).padStart(5)}%  (${t.correct}/${t.total} held-out phrases with both labels right, as the workflow routes them)`);
  return lines.join('\n');
}
