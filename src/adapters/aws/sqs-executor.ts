/**
 * Container steps on AWS: the task goes onto an SQS queue as one message and `joinflow worker`
 * (src/adapters/aws/worker.ts), in any container on any machine, picks it up and reports back
 * with Step Completed / Step Failed on the bus. Dispatch is fire-and-forget by design.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { JoinflowError } from '../../model/errors.ts';
import type { Task } from '../../ports.ts';
import { UndispatchableError } from './dispatch.ts';

/** A container task too large for SQS: it can never be sent, so its step fails (code TASK_TOO_LARGE). */
export class TaskTooLargeError extends UndispatchableError {
  readonly code = 'TASK_TOO_LARGE';
}

/** Bodies above this are refused: SQS caps a message (body + attributes) at 256 KiB. */
export const MAX_TASK_BYTES = 200 * 1024;

/** Options of {@link createSqsDispatcher}. */
export type SqsDispatcherOptions = {
  client: SQSClient;
  /** The queue URL of a container executor's `queue` name (e.g. from the deployment's outputs). */
  queueUrl: (queue: string) => string;
};

/** Sends container tasks to their SQS queues. */
export type SqsDispatcher = {
  /** Sends one message for `task`; resolves once SQS has accepted it. */
  dispatch(task: Task): Promise<void>;
};

/** Creates the dispatcher of `container` tasks to SQS. */
export function createSqsDispatcher(options: SqsDispatcherOptions): SqsDispatcher {
  return {
    async dispatch(task: Task): Promise<void> {
      const spec = task.executor;
      if (spec.type !== 'container') {
        throw new JoinflowError('NOT_A_CONTAINER_TASK', `step "${task.step}" of run ${task.runId} has a '${spec.type}' executor; only 'container' tasks go to SQS`);
      }
      const body = JSON.stringify(task);
      const bytes = Buffer.byteLength(body, 'utf8');
      if (bytes > MAX_TASK_BYTES) {
        // Claim-check offload to S3 is the eventual answer (DESIGN.md, big payloads); until then
        // the step fails for good (UndispatchableError: Step Failed, the run fails) rather than
        // let SQS reject the message and the processor's retries end in the DLQ with the run hung.
        throw new TaskTooLargeError(
          `task for step "${task.step}" of run ${task.runId} is ${bytes} bytes, over the ${MAX_TASK_BYTES}-byte SQS limit joinflow allows: ` +
            'pass large inputs by reference (e.g. an S3 key) instead of inline',
        );
      }
      const queueUrl = options.queueUrl(spec.queue);
      try {
        await options.client.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: body,
            // Standard queues: no group or deduplication id. Attributes let operators and DLQ
            // tooling see whose task a message is without parsing the body.
            MessageAttributes: {
              runId: { DataType: 'String', StringValue: task.runId },
              step: { DataType: 'String', StringValue: task.step },
              attempt: { DataType: 'String', StringValue: String(task.attempt) },
            },
          }),
        );
      } catch (error) {
        const name = (error as Error).name ?? 'Error';
        throw new JoinflowError('TASK_DISPATCH_FAILED', `cannot send the task of step "${task.step}" (run ${task.runId}) to ${queueUrl}: ${name}: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}
