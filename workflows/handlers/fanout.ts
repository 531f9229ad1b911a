import type { StepHandler } from 'joinflow/handler';

type Input = { n?: number } | null;

/** The items 0..n-1 (n defaults to 10). */
export const split: StepHandler<Input> = (event) => {
  const n = event.input?.n ?? 10;
  if (!Number.isInteger(n) || n < 0) throw new Error(`input.n must be a whole number >= 0, got ${JSON.stringify(n)}`);
  return Array.from({ length: n }, (_, i) => i);
};

/** One item squared. */
export const square: StepHandler<Input> = (event) => (event.item as number) ** 2;

/** The sum of all squares; `results.square` holds every item's output, in item order. */
export const sum: StepHandler<Input> = (event) => {
  const squares = event.results['square'] as number[];
  return { count: squares.length, sum: squares.reduce((a, b) => a + b, 0) };
};
