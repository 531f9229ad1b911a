/**
 * `joinflow worker`: long-polls an SQS task queue, runs each container task (handler module in
 * the worker-thread pool, or command as a child process), keeps the message invisible while it
 * runs, reports Step Started / Completed / Failed on the bus and only then deletes the message.
 *
 * Delivery is at-least-once: a worker that dies between running a task and deleting its message
 * lets SQS hand it out again, and the step runs again. The join logic counts each attempt's
 * result once, so a duplicate Step Completed is harmless; handlers should be idempotent.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { JoinflowError } from '../../model/errors.ts';
import { DetailType, JOINFLOW_SOURCE, stepRef, type EventEnvelope, type StepError } from '../../model/events.ts';
import type { EventBus, Executor, StepOutcome, Task } from '../../ports.ts';
import { createStagingExecutor, type DataStage } from '../local/data-staging.ts';
import { createLocalContainerExecutor } from '../local/delegating-executors.ts';
import type { TimedOut } from '../local/lanes.ts';
import { timeoutMessage } from '../local/step-events.ts';
import { PUT_EVENTS_FAILED } from './eventbridge-bus.ts';
import { createDeadLetters } from './dead-letter-queue.ts';
import { createRunWatch, RUN_ENDED } from './worker-run-watch.ts';
import { startAttemptTimer } from './worker-timing.ts';
import { parseTask } from './worker-task.ts';

/** Where the worker reports; `info` gets exactly one line per finished task. */
export type WorkerLogger = {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
};

/** Options of {@link createWorker}. */
export type WorkerOptions = {
  sqs: SQSClient;
  queueUrl: string;
  bus: EventBus;
  /** The executors that do the work: a container task becomes a function or a process task. */
  executors: { function: Executor; process: Executor };
  /** Where the data files of steps with `files` come from and go to (the run's S3 prefix). */
  data?: DataStage;
  /** Visibility timeout of a received message; renewed every third of it while its task runs. */
  visibilityTimeoutSec?: number;
  /** Long-poll wait of each ReceiveMessage (0-20). */
  waitTimeSec?: number;
  /** Most tasks running at once. */
  concurrency?: number;
  /** How long stop() lets running tasks finish before aborting them (default 30 s). */
  graceMs?: number;
  logger?: WorkerLogger;
  now?: () => number;
  /**
   * The status of a run (from the stage's table). A task of a run that has ended is not run (its
   * message is deleted), and a running task whose run ends is stopped, its result dropped.
   * Unset, or failing: every task runs to its end (said once).
   */
  runStatus?: (runId: string) => Promise<string | undefined>;
  /** How often a running task's run is checked (default 30 s). */
  runCheckMs?: number;
  /**
   * The waits before putting a result again when the bus fails to take it (PutEvents throttled
   * or rejected), while the message is kept invisible; default 1, 2, 4 and 8 s. After the last,
   * the message is left to come back and the task runs again.
   */
  publishBackoffMs?: readonly number[];
};

/** A running worker. */
export type Worker = {
  /** Polls and runs tasks until stop(); resolves once stopped and idle. */
  run(): Promise<void>;
  /**
   * Stops receiving and waits for running tasks; those still running after `graceMs` are aborted
   * and their messages left on the queue for redelivery. Resolves when idle.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
};

/** SQS errors that retrying cannot fix: the worker gives up instead of polling forever. */
const FATAL_RECEIVE_ERRORS = new Set([
  'QueueDoesNotExist',
  'AWS.SimpleQueueService.NonExistentQueue',
  'AccessDenied',
  'AccessDeniedException',
  'InvalidAddress',
  'InvalidSecurity',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
]);

const TIMEOUT = 'timeout';
const SHUTDOWN = 'shutdown';

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function label(task: Task): string {
  return `${task.workflow}/${task.runId} ${task.step}${task.item === undefined ? '' : `[${task.item}]`} attempt ${task.attempt}`;
}


const defaultLogger: WorkerLogger = {
  info: () => {},
  warn: (m) => console.warn(`joinflow worker: ${m}`),
  error: (m) => console.error(`joinflow worker: ${m}`),
};

/** Creates a worker for one SQS task queue. */
export function createWorker(options: WorkerOptions): Worker {
  const { sqs, queueUrl, bus } = options;
  const visibilityTimeoutSec = options.visibilityTimeoutSec ?? 60;
  const waitTimeSec = options.waitTimeSec ?? 20;
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
  const defaultGraceMs = options.graceMs ?? 30_000;
  const publishBackoffMs = options.publishBackoffMs ?? [1000, 2000, 4000, 8000];
  const log = options.logger ?? defaultLogger;
  const now = options.now ?? Date.now;
  const processes = options.data ? createStagingExecutor(options.executors.process, options.data) : options.executors.process;
  const containers = createLocalContainerExecutor(options.executors.function, processes);

  /** Running tasks by receipt handle. */
  const active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const poll = new AbortController();
  let stopping = false;
  let runPromise: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  const runs = createRunWatch({ runStatus: options.runStatus, checkMs: options.runCheckMs, warn: (m) => log.warn(m), describe });
  const deadLetters = createDeadLetters({ sqs, queueUrl });

  function event(type: string, detail: Record<string, unknown>): EventEnvelope {
    return { id: randomUUID(), source: JOINFLOW_SOURCE, 'detail-type': type, time: new Date(now()).toISOString(), detail };
  }

  function setVisibility(receipt: string, seconds: number): Promise<unknown> {
    return sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receipt, VisibilityTimeout: seconds }));
  }

  /** Keeps the message invisible while its task runs, renewing every third of the timeout (one failed renewal is survived). */
  function keepInvisible(receipt: string, what: string): () => void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      setVisibility(receipt, visibilityTimeoutSec)
        .catch((e: unknown) => log.warn(`cannot extend the visibility of ${what} (${describe(e)}): another worker may run it too`))
        .finally(() => {
          busy = false;
        });
    }, Math.max(100, (visibilityTimeoutSec * 1000) / 3));
    return () => clearInterval(timer);
  }

  function outcomeEvent(task: Task, outcome: StepOutcome, timedOut: TimedOut | undefined): EventEnvelope {
    if (outcome.status === 'succeeded') return event(DetailType.StepCompleted, stepRef(task, { output: outcome.output ?? null }));
    // Said as the embedded engine says it: a handler's init before its timeout began, if any.
    const error: StepError = timedOut
      ? { type: 'StepTimeout', message: timeoutMessage(task, timedOut) }
      : outcome.status === 'failed'
        ? outcome.error
        : { type: 'Aborted', message: `step "${task.step}" was aborted (attempt ${task.attempt})` };
    // A timeout is worth retrying like any transient failure; the engine decides the same way.
    const retriable = timedOut !== undefined || (outcome.status === 'failed' && outcome.retriable);
    return event(DetailType.StepFailed, stepRef(task, { error, retrying: retriable && task.attempt < task.maxAttempts }));
  }

  /**
   * A result the bus refuses for what it is (a JoinflowError such as an oversized output), not
   * for a transport failure, would fail identically on every redelivery: report it as a final
   * Step Failed instead, so the run fails visibly rather than the message looping to the DLQ.
   * PutEvents rejected or throttled (PUT_EVENTS_FAILED) is the bus's failure, not the result's.
   */
  async function publishResult(task: Task, result: EventEnvelope): Promise<void> {
    try {
      await bus.publish([result]);
    } catch (error) {
      if (!(error instanceof JoinflowError) || error.code === PUT_EVENTS_FAILED || result['detail-type'] !== DetailType.StepCompleted) throw error;
      const refused: StepError = { type: 'ResultNotPublishable', message: `the output of step "${task.step}" cannot be published: ${error.message}` };
      await bus.publish([event(DetailType.StepFailed, stepRef(task, { error: refused, retrying: false }))]);
    }
  }

  /** Deletes a message; false, said with what the message's return would do (`then`), when it cannot. */
  async function deleteMessage(receipt: string, what: string, then = 'the task may run again'): Promise<boolean> {
    try {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receipt }));
      return true;
    } catch (error) {
      log.warn(`${what}: cannot delete its message (${describe(error)}); it comes back after its visibility timeout, and ${then}`);
      return false;
    }
  }

  async function runTask(task: Task, receipt: string, controller: AbortController): Promise<void> {
    const what = label(task);
    // A task of a run that has ended (cancelled, failed, succeeded without it) is of no use to it.
    const ended = await runs.ended(task);
    if (ended !== undefined) {
      await deleteMessage(receipt, what, 'is dropped again, its run having ended');
      log.info(`${what}: not run, its run has ended (${ended})`);
      return;
    }
    const stopRenewing = keepInvisible(receipt, what);
    const stopWatching = runs.watch(task, controller);
    // A handler's timeout leaves out its init, as on the embedded engine (worker-timing.ts).
    const timing = startAttemptTimer(containers, task, now, () => controller.abort(TIMEOUT));
    const started = timing.start;
    try {
      // Step Started is informational; losing it must not lose the task.
      await bus.publish([event(DetailType.StepStarted, stepRef(task, { startedAt: started }))])
        .catch((e: unknown) => log.warn(`cannot publish Step Started of ${what}: ${describe(e)}`));
      let outcome: StepOutcome;
      try {
        outcome = task.files && !options.data
          ? { status: 'failed', error: { type: 'NoDataStage', message: `step "${task.step}" declares data files, but this worker has no bucket to stage them through: set $JOINFLOW_BUCKET` }, retriable: false }
          : await containers.execute(task, controller.signal, timing.began);
      } catch (error) {
        outcome = { status: 'failed', error: { type: 'WorkerError', message: describe(error) }, retriable: true };
      }
      timing.clear();
      const endedAt = now();
      const reason: unknown = controller.signal.reason;
      if (outcome.status === 'aborted' && typeof reason === 'string' && reason.startsWith(RUN_ENDED)) {
        // Its run ended meanwhile: the result would be ignored, so none is published.
        await deleteMessage(receipt, what, 'is dropped again, its run having ended');
        log.info(`${what}: stopped after ${now() - started} ms, its run has ended (${reason.slice(RUN_ENDED.length + 2)})`);
        return;
      }
      const timedOut = outcome.status === 'aborted' && reason === TIMEOUT ? timing.timedOut(endedAt) : undefined;
      if (outcome.status === 'aborted' && timedOut === undefined) {
        // Abandoned at shutdown: no result, so the message must come back; visibility 0 hands it
        // to another worker now rather than after the timeout.
        await setVisibility(receipt, 0).catch(() => {});
        log.warn(`${what}: aborted at shutdown; its message is left on the queue for redelivery`);
        return;
      }
      const result = outcomeEvent(task, outcome, timedOut);
      for (let retry = 0; ; retry++) {
        try {
          await publishResult(task, result);
          break;
        } catch (error) {
          // A throttled bus usually takes it a moment later: cheaper than running the task again
          // (and than a receive count that sends the message to the queue's DLQ).
          const wait = publishBackoffMs[retry];
          if (wait !== undefined) {
            await sleep(wait);
            continue;
          }
          // Without a published result the message must not go: it reappears after the visibility
          // timeout and the step runs again (at-least-once).
          log.error(`${what}: cannot publish its result (${describe(error)}); the message is kept for redelivery`);
          return;
        }
      }
      await deleteMessage(receipt, what);
      const status = outcome.status === 'succeeded' ? 'succeeded' : timedOut ? 'timed out' : `failed (${outcome.status === 'failed' ? outcome.error.type : 'aborted'})`;
      // As `joinflow run` prints an attempt: its init (a worker thread's start, its module's load) apart.
      const initMs = timedOut ? (timedOut.handlerStarted === false ? timedOut.tookMs : timedOut.initMs) : timing.initMs(outcome, endedAt);
      log.info(`${what}: ${status} in ${now() - started} ms${initMs ? `, ${initMs} ms of it init` : ''}`);
    } finally {
      timing.clear();
      stopRenewing();
      stopWatching();
    }
  }

  function start(message: Message): void {
    const receipt = message.ReceiptHandle;
    if (receipt === undefined) return log.warn(`message ${message.MessageId} has no receipt handle; skipped`);
    const parsed = parseTask(message.Body);
    const controller = new AbortController();
    if ('reason' in parsed) {
      // It can never run: to the queue's DLQ at once, with the reason (dead-letter-queue.ts).
      track(receipt, controller, dropMalformed(message, receipt, parsed.reason));
      return;
    }
    track(receipt, controller, runTask(parsed.task, receipt, controller).catch((e: unknown) => log.error(`${label(parsed.task)}: ${describe(e)}`)));
  }

  /** Counts `work` as running until it ends (stop() waits for it; concurrency counts it). */
  function track(receipt: string, controller: AbortController, work: Promise<void>): void {
    const done = work.finally(() => {
      active.delete(receipt);
      wake?.();
    });
    active.set(receipt, { controller, done });
  }

  /** Sends a malformed message to the DLQ, then deletes it; left to the redrive policy if it cannot go. */
  async function dropMalformed(message: Message, receipt: string, reason: string): Promise<void> {
    const receives = message.Attributes?.ApproximateReceiveCount;
    const what = `malformed task message ${message.MessageId} (receive ${receives ?? '?'}): ${reason}`;
    const out = await deadLetters.send({ messageId: message.MessageId ?? '?', body: message.Body ?? '', receiveCount: receives }, reason);
    if (!out.sent) return log.error(`${what}; left for the queue's redrive policy, as it could not be sent to the dead-letter queue: ${out.why}`);
    const deleted = await deleteMessage(receipt, what, 'may be dead-lettered again (a second copy in the dead-letter queue)');
    log.error(`${what}; sent to the dead-letter queue ${out.queueUrl} with the reason (attribute joinflow-reason)${deleted ? ' and deleted' : ', but not deleted'}`);
  }

  async function loop(): Promise<void> {
    let backoffMs = 0;
    while (!stopping) {
      const free = concurrency - active.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        continue;
      }
      let messages: Message[];
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(10, free),
            WaitTimeSeconds: waitTimeSec,
            VisibilityTimeout: visibilityTimeoutSec,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
          // Aborting the long poll lets stop() return at once; a response lost to the abort only
          // delays its messages by one visibility timeout.
          { abortSignal: poll.signal },
        );
        messages = out.Messages ?? [];
        backoffMs = 0;
      } catch (error) {
        if (stopping) break;
        const name = (error as Error).name;
        if (FATAL_RECEIVE_ERRORS.has(name)) {
          throw new JoinflowError('WORKER_RECEIVE_FAILED', `cannot receive from ${queueUrl}: ${describe(error)}; check the queue URL, region and credentials`, { cause: error });
        }
        backoffMs = Math.min(backoffMs === 0 ? 500 : backoffMs * 2, 30_000);
        log.error(`receive from ${queueUrl} failed (${describe(error)}); retrying in ${backoffMs} ms`);
        await sleep(backoffMs, undefined, { signal: poll.signal }).catch(() => {});
        continue;
      }
      for (const message of messages) {
        // Received just as stop() began: hand it straight back rather than start new work.
        if (stopping && message.ReceiptHandle) void setVisibility(message.ReceiptHandle, 0).catch(() => {});
        else start(message);
      }
    }
  }

  async function idle(): Promise<void> {
    await runPromise?.catch(() => {});
    await Promise.all([...active.values()].map((a) => a.done));
  }

  return {
    run(): Promise<void> {
      runPromise ??= (async () => {
        try {
          await loop();
        } finally {
          await Promise.all([...active.values()].map((a) => a.done));
        }
      })();
      return runPromise;
    },

    async stop(stopOptions: { graceMs?: number } = {}): Promise<void> {
      if (!stopping) {
        stopping = true;
        poll.abort();
        wake?.();
      }
      const grace = setTimeout(() => {
        for (const a of active.values()) a.controller.abort(SHUTDOWN);
      }, stopOptions.graceMs ?? defaultGraceMs);
      try {
        await idle();
      } finally {
        clearTimeout(grace);
      }
    },
  };
}
