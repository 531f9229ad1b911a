// split returns n items; square runs once per item (the fan-out width is known only at run time);
// sum joins all n results.
import { fn, workflow } from 'joinflow';

export default workflow('fanout', 'split into n items, square each in parallel, sum the squares')
  .step('split', fn('./handlers/fanout.ts', 'split'))
  .step('square', fn('./handlers/fanout.ts', 'square'), { needs: ['split'], forEach: 'split' })
  .step('sum', fn('./handlers/fanout.ts', 'sum'), { needs: ['square'] })
  .output('sum');
