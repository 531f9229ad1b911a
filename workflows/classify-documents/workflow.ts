// A document of scientific phrases is classified in two stages: the main classifier labels each
// phrase with a field, then the four sub-field classifiers run in parallel, each on the phrases of
// its field, and `store` joins all four and writes one row per phrase to the results table (SQLite
// locally, DynamoDB on AWS). The models are trained by train.ts; see the README, "Example: classify a document".
import { fn, workflow } from 'joinflow';

const subfields = './handlers/subfields.ts';

export default workflow('classify-documents', 'label each phrase of a document with a field, then a sub-field; store the rows')
  .step('classify', fn('./handlers/classify.ts'), { description: 'main classifier: physics, math, biology or computer science' })
  .step('physics', fn(subfields, 'physics'), { needs: ['classify'] })
  .step('math', fn(subfields, 'math'), { needs: ['classify'] })
  .step('biology', fn(subfields, 'biology'), { needs: ['classify'] })
  .step('computer-science', fn(subfields, 'computerScience'), { needs: ['classify'] })
  .step('store', fn('./handlers/store.ts'), {
    // `results` holds the outputs of the steps named here: classify too, for the phrase texts.
    needs: ['classify', 'physics', 'math', 'biology', 'computer-science'],
    description: 'one row per phrase to the results table',
    // A busy SQLite file or DynamoDB throttling is worth another try; the write is idempotent.
    retry: { maxAttempts: 3, backoffMs: 200 },
  })
  .output('store');
