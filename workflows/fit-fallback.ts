// Catching a failure: `fit` fits a line, and fails for data it cannot fit; `constant` catches
// that failure (it runs only then, with `fit`'s needs' results and the error) and the run goes
// on. `report` runs after whichever of the two ran. Try:
//   npx joinflow run fit-fallback                                          (a line)
//   npx joinflow run fit-fallback --input '{"points": [[2, 1], [2, 3], [2, 4]]}'   (all x equal: the constant)
import { fn, workflow } from 'joinflow';

export default workflow('fit-fallback', 'fit a line, or fall back to a constant when the data cannot give one')
  .step('load', fn('./handlers/fit-fallback.ts', 'load'))
  .step('fit', fn('./handlers/fit-fallback.ts', 'fit'), { needs: ['load'], catch: 'constant' })
  .step('constant', fn('./handlers/fit-fallback.ts', 'constant'))
  .step('report', fn('./handlers/fit-fallback.ts', 'report'), { needs: ['fit', 'constant'] });
