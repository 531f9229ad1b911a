import type { StepHandler } from 'joinflow/handler';

type Input = { x?: number } | null;

/** x + 1 */
export const nodeA: StepHandler<Input> = async (event) => ({ a: (event.input?.x ?? 0) + 1 });

/** x * 10 */
export const nodeB: StepHandler<Input> = async (event) => ({ b: (event.input?.x ?? 0) * 10 });

/** Joins both branches. */
export const nodeC: StepHandler<Input> = async (event) => {
  const { nodeA: a, nodeB: b } = event.results as { nodeA: { a: number }; nodeB: { b: number } };
  return { sum: a.a + b.b };
};
