/** A container task as the worker receives it: an SQS message body, checked before it runs. */
import { z } from 'zod';
import { runIdProblem } from '../../model/events.ts';
import { ContainerExecutorSchema, StepFilesSchema } from '../../model/workflow.ts';
import type { Task } from '../../ports.ts';
import { bodyIssues, jsonBody } from './message-body.ts';

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
  const read = jsonBody(body);
  if ('reason' in read) return read;
  const parsed = TaskSchema.safeParse(read.json);
  if (!parsed.success) {
    return { reason: bodyIssues(parsed.error) };
  }
  return { task: parsed.data as Task };
}

