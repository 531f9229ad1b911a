import type { StepContext } from 'joinflow/handler';

/**
 * The run id of a step invocation: the embedded engine puts it in the context; on AWS the handler
 * is the Lambda handler itself, and joinflow's metadata rides along in the event (`joinflow.runId`).
 */
export function runIdOf(event: unknown, context: Partial<StepContext> | undefined): string {
  const fromEvent = (event as { joinflow?: { runId?: unknown } } | null)?.joinflow?.runId;
  const id = context?.runId ?? fromEvent;
  if (typeof id !== 'string' || id === '') throw new Error('no run id in the step context or event (is this handler running outside joinflow?)');
  return id;
}
