/**
 * The four sub-field steps (one export per field): each classifies the phrases the main step gave
 * its field. They run in parallel; a field without phrases returns an empty list.
 */
import type { StepHandler } from 'joinflow/handler';
import { createClassifier, type NaiveBayesModel } from '../naive-bayes.ts';
import { labelSubfields, type FieldLabels, type SubfieldLabels } from '../pipeline.ts';
import type { Field } from '../taxonomy.ts';
import physicsModel from '../models/physics.json' with { type: 'json' };
import mathModel from '../models/math.json' with { type: 'json' };
import biologyModel from '../models/biology.json' with { type: 'json' };
import csModel from '../models/computer-science.json' with { type: 'json' };

function subfieldStep(field: Field, model: NaiveBayesModel): StepHandler<unknown, SubfieldLabels> {
  const classifier = createClassifier(model);
  return (event) => {
    const fields = event.results['classify'] as FieldLabels | undefined;
    if (fields === undefined) throw new Error(`sub-field step "${field}" needs the results of step "classify"`);
    return labelSubfields(field, fields, classifier);
  };
}

/** Quantum, astrophysics or condensed matter. */
export const physics = subfieldStep('physics', physicsModel as NaiveBayesModel);
/** Algebra, analysis or probability. */
export const math = subfieldStep('math', mathModel as NaiveBayesModel);
/** Genetics, ecology or neuroscience. */
export const biology = subfieldStep('biology', biologyModel as NaiveBayesModel);
/** Machine learning, systems or theory. */
export const computerScience = subfieldStep('computer-science', csModel as NaiveBayesModel);
