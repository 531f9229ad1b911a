// Hybrid placement: every step is `auto`, and the compiler puts it on Lambda or AWS Batch by its
// resources (see `joinflow plan hybrid`). thumbnail fits Lambda; detect asks for a GPU (Batch,
// GPU queue); index runs ~30 minutes, over Lambda's 15 (Batch, Fargate); summarize fits Lambda
// once its memory is raised to buy 2 vCPUs, and falls back to Batch if it ever times out there.
// The image is a placeholder: on AWS it must run the same handlers (event in $JOINFLOW_EVENT,
// output JSON to $JOINFLOW_OUTPUT_URI). Locally every step runs its handler, detect its local script.
import { auto, workflow } from 'joinflow';

const IMAGE = 'example/hybrid-steps:1';
// In the (placeholder) image, `run-step <name>` runs that handler of handlers/hybrid.ts.
const run = (name: string) => ({ command: ['run-step', name] });

export default workflow('hybrid', 'auto steps placed on Lambda or Batch by their resources')
  .step('thumbnail', auto('./handlers/hybrid.ts', 'thumbnail', IMAGE, run('thumbnail')), {
    resources: { memoryMb: 512, expectedSeconds: 2 },
  })
  .step('detect', auto('./handlers/hybrid.ts', 'detect', IMAGE, { ...run('detect'), local: { command: 'node', args: ['scripts/detect.mjs'] } }), {
    resources: { gpus: 1, vcpus: 4, memoryMb: 15_000, expectedSeconds: 120 },
  })
  .step('index', auto('./handlers/hybrid.ts', 'index', IMAGE, run('index')), {
    resources: { memoryMb: 4096, vcpus: 2, expectedSeconds: 1800 },
  })
  .step('summarize', auto('./handlers/hybrid.ts', 'summarize', IMAGE, run('summarize')), {
    needs: ['thumbnail', 'detect', 'index'],
    resources: { vcpus: 2, expectedSeconds: 30 },
    timeoutMs: 120_000,
    fallback: 'batch',
  })
  .output('summarize');
