'use strict';
/**
 * Where a batch step's job can run, checked at package time: AWS Batch accepts a job whose
 * resources no compute resource can hold, and leaves it RUNNABLE for good (blocking its queue).
 * CPU jobs run on Fargate (fixed vCPU / memory pairs); GPU jobs on the EC2 instance types of
 * custom.joinflow.gpuInstanceTypes.
 */

/** Where a Fargate job may run: vCPU -> allowed memory (MiB). Batch rejects anything else. */
const FARGATE = [
  [0.25, [512, 1024, 2048]],
  [0.5, range(1024, 4096, 1024)],
  [1, range(2048, 8192, 1024)],
  [2, range(4096, 16384, 1024)],
  [4, range(8192, 30720, 1024)],
  [8, range(16384, 61440, 4096)],
  [16, range(32768, 122880, 8192)],
];

function range(from, to, step) {
  const out = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/**
 * The GPU instance types joinflow knows: GPUs, vCPUs and installed memory (MiB). The same facts as
 * GPU_INSTANCES in src/cost/prices.ts (test/aws/package-limits.test.ts keeps the two equal).
 * Types not listed here are not checked.
 */
const GPU_INSTANCES = {
  'g4dn.xlarge': { gpus: 1, vcpus: 4, memoryMb: 16_384 },
  'g4dn.2xlarge': { gpus: 1, vcpus: 8, memoryMb: 32_768 },
  'g4dn.4xlarge': { gpus: 1, vcpus: 16, memoryMb: 65_536 },
  'g5.xlarge': { gpus: 1, vcpus: 4, memoryMb: 16_384 },
  'g4dn.12xlarge': { gpus: 4, vcpus: 48, memoryMb: 196_608 },
};

/**
 * Share of an instance's installed memory a job can count on. The ECS agent registers less memory
 * than is installed (the kernel and the platform keep some), and AWS Batch recommends leaving 5%
 * for the agent and system processes; a job asking for more may never be placed.
 */
const USABLE_MEMORY = 0.95;

/** Fargate (vCPU, memory) check: returns a problem or undefined. */
function fargateProblem(vcpus, memoryMb) {
  const row = FARGATE.find(([v]) => v === vcpus);
  if (!row) return `Fargate runs ${FARGATE.map(([v]) => v).join(', ')} vCPUs, not ${vcpus}`;
  if (!row[1].includes(memoryMb)) {
    const m = row[1];
    return `Fargate with ${vcpus} vCPU takes ${m[0]}-${m[m.length - 1]} MiB in steps of ${m[1] - m[0]} (not ${memoryMb})`;
  }
  return undefined;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const describe = (r) => `${plural(r.gpus, 'GPU')}, ${plural(r.vcpus, 'vCPU')} and ${r.memoryMb} MiB`;
const bigger = (a, b) => a.gpus - b.gpus || a.vcpus - b.vcpus || a.memoryMb - b.memoryMb;
const holds = (spec, r, memoryShare = 1) => spec.gpus >= r.gpus && spec.vcpus >= r.vcpus && Math.floor(spec.memoryMb * memoryShare) >= r.memoryMb;

/** The allowed types joinflow knows, and those it does not. */
function gpuTypes(instanceTypes) {
  const known = instanceTypes.filter((t) => GPU_INSTANCES[t]).map((type) => ({ type, ...GPU_INSTANCES[type] }));
  return { known, unknown: instanceTypes.filter((t) => !GPU_INSTANCES[t]) };
}

/**
 * Whether a GPU job asking for `r` ({gpus, vcpus, memoryMb}) fits one of `instanceTypes`:
 * `{problem}` when no allowed type holds it (all of them known), `{warning}` when it may not fit
 * (only its memory is close to an instance's, or only unknown types could hold it), else `{}`.
 */
function gpuFit(id, r, instanceTypes) {
  const { known, unknown } = gpuTypes(instanceTypes);
  if (known.length === 0) return {}; // nothing to compare with (buildModel says so once)
  const fitting = known.filter((spec) => holds(spec, r));
  if (fitting.length > 0) {
    if (fitting.some((spec) => holds(spec, r, USABLE_MEMORY)) || unknown.length > 0) return {};
    const best = fitting.sort((a, b) => b.memoryMb - a.memoryMb)[0];
    return {
      warning:
        `joinflow: step ${id} asks for ${r.memoryMb} MiB; ${best.type} has ${best.memoryMb} MiB installed, but the ECS agent registers less ` +
        `(AWS Batch advises leaving 5% for the system), so the job may stay RUNNABLE: ask for at most ${Math.floor(best.memoryMb * USABLE_MEMORY)} MiB, ` +
        'or allow a larger type in custom.joinflow.gpuInstanceTypes',
    };
  }
  const largest = known.reduce((a, b) => (bigger(b, a) > 0 ? b : a));
  const over = [
    r.gpus > largest.gpus ? 'GPUs' : undefined,
    r.vcpus > largest.vcpus ? 'vCPUs' : undefined,
    r.memoryMb > largest.memoryMb ? 'memory' : undefined,
  ].filter(Boolean);
  const suggestion = Object.entries(GPU_INSTANCES)
    .map(([type, spec]) => ({ type, ...spec }))
    .filter((spec) => holds(spec, r, USABLE_MEMORY))
    .sort(bigger)[0];
  const remedy =
    'allow a type that holds it in custom.joinflow.gpuInstanceTypes' +
    (suggestion ? ` (e.g. ${suggestion.type}: ${describe(suggestion)})` : '') +
    ', or ask for less (gpus, vcpus, memoryMb)';
  const asks = `step ${id} asks for ${describe(r)}`;
  if (unknown.length > 0) {
    return {
      warning: `joinflow: ${asks}, which no allowed GPU instance type joinflow knows can hold; it cannot check ${unknown.join(', ')}: if none of those holds it either, AWS Batch leaves its jobs RUNNABLE for good`,
    };
  }
  return {
    problem:
      `${asks}, but no allowed GPU instance type holds it: the largest allowed is ${largest.type} (${describe(largest)}; ` +
      `not enough ${over.join(', ') || 'room'}), and AWS Batch would leave its jobs RUNNABLE for good, blocking the GPU queue. To run it, ${remedy}`,
  };
}

module.exports = { FARGATE, GPU_INSTANCES, USABLE_MEMORY, fargateProblem, gpuFit, gpuTypes };
