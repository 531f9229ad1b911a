// Three replicas estimate the same value; one of them is a straggler. `first` starts with the
// first answer (wait: 'any'), `agreed` with any two (wait: {quorum: 2}); the straggler is
// stopped when the run ends. A replica that fails does not fail the run while the others can
// still give `first` and `agreed` what they wait for. Try:
//   npx joinflow run hedged
//   npx joinflow run hedged --input '{"fail": ["replica-b"]}'              (agreed waits for the straggler)
//   npx joinflow run hedged --input '{"fail": ["replica-a", "replica-b"]}'   (agreed cannot get two: the run fails)
import { fn, workflow } from 'joinflow';

const replicas = ['replica-a', 'replica-b', 'replica-c'] as const;

export default workflow('hedged', 'three replicas of one estimate: take the first answer, and the first two that agree')
  .step('replica-a', fn('./handlers/hedged.ts', 'replicaA'))
  .step('replica-b', fn('./handlers/hedged.ts', 'replicaB'))
  .step('replica-c', fn('./handlers/hedged.ts', 'replicaC'))
  .step('first', fn('./handlers/hedged.ts', 'first'), { needs: replicas, wait: 'any' })
  .step('agreed', fn('./handlers/hedged.ts', 'agreed'), { needs: replicas, wait: { quorum: 2 } });
