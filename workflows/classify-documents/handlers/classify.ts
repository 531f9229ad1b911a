/** Step `classify`: the main classifier labels each phrase of the document with a field. */
import type { StepHandler } from 'joinflow/handler';
import { readDocument } from '../document.ts';
import { createClassifier, type NaiveBayesModel } from '../naive-bayes.ts';
import { checkEventSize, labelFields, type FieldLabels } from '../pipeline.ts';
import { runIdOf } from './run-id.ts';
// Imported, not read from disk: serverless-esbuild then bundles the model into the Lambda.
import model from '../models/field.json' with { type: 'json' };

const classifier = createClassifier(model as NaiveBayesModel);

/** Validates the document (the run input) and labels its phrases; a document whose step events would be too large fails here. */
export const handler: StepHandler<unknown, FieldLabels> = (event, context) => {
  const document = readDocument(event.input, runIdOf(event, context));
  const labels = labelFields(document, classifier);
  checkEventSize(event.input, labels);
  return labels;
};
