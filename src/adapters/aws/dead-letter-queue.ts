/**
 * SQS messages that can never be processed (a body that is not JSON, not a task, a task object
 * gone from the bucket) go to their queue's dead-letter queue at once, with the reason as message
 * attributes, instead of being received again until the redrive policy's maxReceiveCount: that
 * costs a visibility timeout per receive (half an hour on the timer queue) and moves the message
 * without saying why. Used by the timer Lambda and by `joinflow worker`.
 */
import { GetQueueAttributesCommand, GetQueueUrlCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { visible } from '../../model/errors.ts';

/** The message attributes a dead-lettered message carries (SQS allows 10; names without "AWS."). */
export const DeadLetterAttribute = {
  reason: 'joinflow-reason',
  messageId: 'joinflow-message-id',
  sourceQueue: 'joinflow-source-queue',
  receiveCount: 'joinflow-receive-count',
} as const;

/** A reason longer than this is cut: attributes count towards the message's size limit. */
export const MAX_REASON_CHARS = 2000;

/** A message as received: what is sent on to the dead-letter queue. */
export type ReceivedMessage = { messageId: string; body: string; receiveCount?: string | undefined };

/** Sends unprocessable messages of one queue to its dead-letter queue. */
export type DeadLetters = {
  /**
   * Sends a copy of the message (same body) to the dead-letter queue with `reason`; the caller
   * then deletes the original. Never throws: `sent: false` says why it could not (the message
   * is then left to the queue's redrive policy).
   */
  send(message: ReceivedMessage, reason: string): Promise<{ sent: true; queueUrl: string } | { sent: false; why: string }>;
};

/**
 * Dead letters for the queue at `queueUrl`. `dlqUrl` names the dead-letter queue; without it, the
 * queue's own redrive policy is read (once it succeeds) to find it, so that a worker started with
 * only its task queue's URL sends where SQS itself would.
 */
export function createDeadLetters(options: { sqs: SQSClient; queueUrl: string; dlqUrl?: string | undefined }): DeadLetters {
  const { sqs, queueUrl } = options;
  let found: Promise<string> | undefined = options.dlqUrl === undefined ? undefined : Promise.resolve(options.dlqUrl);

  return {
    async send(message, reason) {
      let dlqUrl: string;
      try {
        found ??= redriveTarget(sqs, queueUrl);
        dlqUrl = await found;
      } catch (error) {
        found = undefined;
        return { sent: false, why: `cannot find the dead-letter queue of ${queueUrl}: ${describe(error)}` };
      }
      const said = visible(reason);
      const cut = said.length > MAX_REASON_CHARS ? `${said.slice(0, MAX_REASON_CHARS)}... (${said.length - MAX_REASON_CHARS} more characters)` : said;
      const text = (value: string) => ({ DataType: 'String', StringValue: value });
      try {
        await sqs.send(new SendMessageCommand({
          QueueUrl: dlqUrl,
          MessageBody: message.body,
          MessageAttributes: {
            [DeadLetterAttribute.reason]: text(cut),
            [DeadLetterAttribute.messageId]: text(message.messageId),
            [DeadLetterAttribute.sourceQueue]: text(queueUrl),
            ...(message.receiveCount === undefined || !/^\d+$/.test(message.receiveCount) ? {} : { [DeadLetterAttribute.receiveCount]: { DataType: 'Number', StringValue: message.receiveCount } }),
          },
        }));
      } catch (error) {
        return { sent: false, why: `cannot send it to ${dlqUrl}: ${describe(error)}` };
      }
      return { sent: true, queueUrl: dlqUrl };
    },
  };
}

/** The URL of the dead-letter queue named by the queue's redrive policy. */
async function redriveTarget(sqs: SQSClient, queueUrl: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }));
  const policy = out.Attributes?.['RedrivePolicy'];
  if (policy === undefined) throw new Error('the queue has no redrive policy (set one, with a dead-letter queue)');
  const arn = (JSON.parse(policy) as { deadLetterTargetArn?: unknown }).deadLetterTargetArn;
  // arn:<partition>:sqs:<region>:<account>:<name>
  const parts = typeof arn === 'string' ? arn.split(':') : [];
  if (parts.length !== 6 || parts[2] !== 'sqs') throw new Error(`its redrive policy's deadLetterTargetArn ${JSON.stringify(arn)} is not an SQS queue ARN`);
  const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: parts[5], QueueOwnerAWSAccountId: parts[4] }))).QueueUrl;
  if (url === undefined) throw new Error(`GetQueueUrl of ${arn} returned no URL`);
  return url;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
