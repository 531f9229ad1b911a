/** A container task as the worker receives it: an SQS message body, checked before it runs. */
import { z } from 'zod';
import { runIdProblem } from '../../model/events.ts';
import { ContainerExecutorSchema, StepFilesSchema } from '../../model/workflow.ts';
import type { Task } from '../../ports.ts';

/** A container task as it arrives in a message body; zod because the body is foreign input. */
const TaskSchema = z.object({
  workflow: z.string().min(1),
  // It names the directory the task's data files are downloaded into (<root>/<runId>/data).
  runId: z.string().superRefine((id, ctx) => {
    const problem = runIdProblem(id);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(id)} cannot be a run id: ${problem}` });
  }),
  step: z.string().min(1),
  item: z.number().int().nonnegative().optional(),
  attempt: z.number().int().min(1),
  maxAttempts: z.number().int().min(1),
  executor: ContainerExecutorSchema.refine((e) => e.module !== undefined || e.command !== undefined, {
    message: 'a container task needs a handler "module" or a "command"',
  }),
  event: z.object({
    input: z.unknown(),
    results: z.record(z.string(), z.unknown()).default({}),
    item: z.unknown().optional(),
    index: z.number().int().nonnegative().optional(),
  }),
  timeoutMs: z.number().int().positive().optional(),
  files: StepFilesSchema.optional(),
});

/** Why the body is not a task, or the task. */
export function parseTask(body: string | undefined): { task: Task } | { reason: string } {
  if (body === undefined || body === '') return { reason: 'empty body' };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return { reason: `body is not JSON (${(error as Error).message})` };
  }
  const parsed = TaskSchema.safeParse(json);
  if (!parsed.success) {
    return { reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') };
  }
  return { task: parsed.data as Task };
}

