// nodeA and nodeB run in parallel; nodeC joins both. The join counter, not a listener's memory,
// decides when nodeC may run, so this works with any number of stateless processors.
import { fn, workflow } from 'joinflow';

export default workflow('diamond', 'nodeA and nodeB run in parallel; nodeC needs both')
  .step('nodeA', fn('./handlers/diamond.ts', 'nodeA'))
  .step('nodeB', fn('./handlers/diamond.ts', 'nodeB'))
  .step('nodeC', fn('./handlers/diamond.ts', 'nodeC'), { needs: ['nodeA', 'nodeB'] });
