// Objects in a video: split it into chunks, detect objects in each chunk in parallel (a GPU Batch
// job on AWS; here a CPU process running a connected-component blob detector), merge the
// detections into per-object tracks. Events carry file locations, never pixels: the chunks,
// detections and tracks live in the run's data directory (locally <state>/runs/<runId>/data/video,
// on AWS the stage bucket's outputs/<runId>/video/). See the README, "Example: objects in a video".
import { workflow } from 'joinflow';

// The container image of the three jobs on AWS: build it from ./Dockerfile, push it to your
// registry (ECR), put its URI here and run `joinflow compile`. A YOLO-style detector goes in
// DETECTOR_IMAGE / DETECTOR_COMMAND instead (the contract is in lib/contract.ts and the README).
const IMAGE = 'joinflow-video-objects:latest';
const DETECTOR_IMAGE = IMAGE;
const DETECTOR_COMMAND = ['node', '--import', 'tsx', 'workflows/video-objects/scripts/detect.ts'];

/** A Batch job running one of ./scripts in IMAGE; on the embedded engine the same script runs as a process. */
function job(script: string, resources: { vcpus: number; memoryMb: number; gpus: number }, image = IMAGE, command?: string[]) {
  const args = ['--import', 'tsx', `workflows/video-objects/scripts/${script}`];
  return {
    type: 'batch' as const,
    image,
    command: command ?? ['node', ...args],
    ...resources,
    // The scripts take paths relative to the project root, as in the image's working directory.
    local: { command: 'node', args, cwd: '../..' },
  };
}

export default workflow('video-objects', 'split a video into chunks, detect objects per chunk (GPU batch), merge detections into tracks')
  .step('split', job('split.ts', { vcpus: 1, memoryMb: 2048, gpus: 0 }), { timeoutMs: 600_000 })
  .step('detect', job('detect.ts', { vcpus: 4, memoryMb: 14_000, gpus: 1 }, DETECTOR_IMAGE, DETECTOR_COMMAND), {
    needs: ['split'],
    // At most 2 chunks at once: 2 jobs of 4 vCPUs fit an account's GPU-instance quota of 8 vCPUs
    // (Service Quotas, "Running On-Demand G and VT instances"); set it to what your quota allows.
    forEach: { step: 'split', path: 'chunks', maxConcurrency: 2 },
    // A GPU job can lose its instance; a chunk is cheap to redo (its detections file is overwritten).
    retry: { maxAttempts: 3, backoffMs: 1000 },
    timeoutMs: 900_000,
  })
  .step('merge', job('merge.ts', { vcpus: 1, memoryMb: 2048, gpus: 0 }), { needs: ['split', 'detect'], timeoutMs: 600_000 })
  .output('merge');
