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

/** A reason longer than this (in UTF-8 bytes) is cut: it is for reading, and the log line has it whole. */
export const MAX_REASON_BYTES = 2000;

/**
 * What SQS takes in one message unless a queue says more (MaximumMessageSize, which the stack's
 * queues leave at its default): the body and every attribute's name, data type and value count.
 */
export const SQS_MESSAGE_BYTES = 262_144;

/** The least of a reason worth sending: with less room, the copy goes with this much anyway, for a DLQ that takes larger messages. */
const MIN_REASON_BYTES = 120;

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

type Attributes = Record<string, { DataType: string; StringValue: string }>;

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
      const text = (value: string) => ({ DataType: 'String', StringValue: value });
      const others: Attributes = {
        [DeadLetterAttribute.messageId]: text(message.messageId),
        [DeadLetterAttribute.sourceQueue]: text(queueUrl),
        ...(message.receiveCount === undefined || !/^\d+$/.test(message.receiveCount) ? {} : { [DeadLetterAttribute.receiveCount]: { DataType: 'Number', StringValue: message.receiveCount } }),
      };
      // The copy must fit where the original did: a body near the limit leaves less room for the reason.
      const room = SQS_MESSAGE_BYTES - Buffer.byteLength(message.body) - attributeBytes(others) - attributeBytes({ [DeadLetterAttribute.reason]: text('') });
      const said = shorten(visible(reason), Math.min(MAX_REASON_BYTES, Math.max(room, MIN_REASON_BYTES)), message.messageId);
      const attributes = { [DeadLetterAttribute.reason]: text(said), ...others };
      try {
        await sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: message.body, MessageAttributes: attributes }));
      } catch (error) {
        const bytes = Buffer.byteLength(message.body) + attributeBytes(attributes);
        // Past the default limit only when the source queue allows larger messages than its DLQ.
        const size = bytes > SQS_MESSAGE_BYTES ? ` (its body is ${Buffer.byteLength(message.body)} bytes, ${bytes} with the reason and the other attributes, over the ${SQS_MESSAGE_BYTES} bytes an SQS queue takes unless its MaximumMessageSize is raised)` : '';
        return { sent: false, why: `cannot send it to ${dlqUrl}${size}: ${describe(error)}` };
      }
      return { sent: true, queueUrl: dlqUrl };
    },
  };
}

/** The bytes SQS counts for message attributes: each name, data type and value, in UTF-8. */
export function attributeBytes(attributes: Attributes): number {
  return Object.entries(attributes).reduce((n, [name, a]) => n + Buffer.byteLength(name) + Buffer.byteLength(a.DataType) + Buffer.byteLength(a.StringValue), 0);
}

/** `reason` in at most `max` UTF-8 bytes: cut at a character, saying how much is left out and where it is whole. */
function shorten(reason: string, max: number, messageId: string): string {
  return cutText(reason, max, (left) => `... (${left} more bytes: the log line naming message ${messageId} has it whole)`);
}

/** `text` in at most `max` UTF-8 bytes: cut at a character, ending with `tail(bytes left out)`. */
export function cutText(text: string, max: number, tail: (left: number) => string): string {
  const bytes = Buffer.byteLength(text);
  if (bytes <= max) return text;
  let keep = Math.max(0, max - Buffer.byteLength(tail(bytes)));
  // Not inside a character: back off to the start of one (a UTF-8 continuation byte is 10xxxxxx).
  const buffer = Buffer.from(text);
  while (keep > 0 && ((buffer[keep] ?? 0) & 0xc0) === 0x80) keep--;
  return `${buffer.subarray(0, keep).toString()}${tail(bytes - keep)}`;
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
