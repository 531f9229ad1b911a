// Handlers of workflows/hedged.ts. A step that waits for some of its needs receives the results
// of those that had completed when it started, and no key for the others.
import { NonRetriableStepError, type StepHandler } from 'joinflow/handler';

/** `fail`: replicas that fail at once; `delays`: ms a replica takes, instead of its own. */
type Input = { fail?: string[]; delays?: Record<string, number> } | null;
type Estimates = Record<string, { estimate: number }>;

// Each replica knows its own name: on Lambda, the context is Lambda's, without the step.
function replica(name: string, estimate: number, ms: number): StepHandler<Input> {
  return async (e) => {
    if (e.input?.fail?.includes(name)) throw new NonRetriableStepError(`${name} was told to fail`);
    await new Promise((resolve) => setTimeout(resolve, e.input?.delays?.[name] ?? ms));
    return { estimate };
  };
}

export const replicaA = replica('replica-a', 41.8, 40);
export const replicaB = replica('replica-b', 42.1, 10);
/** The straggler (3 s): usually still running when the run ends, and then stopped. */
export const replicaC = replica('replica-c', 42.0, 3_000);

/** The first answer, and which replica gave it. */
export const first: StepHandler<Input> = async (e) => {
  const [replica, answer] = Object.entries(e.results as Estimates)[0]!;
  return { replica, estimate: answer.estimate };
};

/** The mean of the answers it got (two or more), and how far apart they were. */
export const agreed: StepHandler<Input> = async (e) => {
  const answers = Object.entries(e.results as Estimates);
  const values = answers.map(([, a]) => a.estimate);
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const round = (v: number) => Math.round(v * 100) / 100;
  return { replicas: answers.map(([r]) => r).sort(), estimate: round(mean), spread: round(Math.max(...values) - Math.min(...values)) };
};
