/**
 * The Batch jobs of a run, kept in its partition of the table, so that a run that ends stops what
 * it no longer needs: a failed or cancelled run's other jobs, the needs a `wait: any | {quorum}`
 * step left behind. A GPU job may run for hours; a Lambda invocation cannot be stopped and ends
 * within 15 minutes.
 *
 * - `JOB#<step>#<item>#<attempt>` (item empty for a step without items): `jobIds`, the jobs
 *   submitted for that attempt and not known to have ended (a redelivered dispatch may submit
 *   twice), each added after SubmitJob returns (`noted` counts them), and removed when the Batch
 *   bridge sees it SUCCEEDED or FAILED;
 * - `submits`, `jobName`, `jobQueue`, `firstSubmitAt`: written before each SubmitJob. A job whose
 *   id was never noted (the write failed, or the invocation died in between) shows as `submits`
 *   above `noted`, and is looked for by its name in its queue when the run ends (ListJobs, then
 *   DescribeJobs for its `joinflow:run` tag: names repeat from run to run);
 * - `stoppedAt`: when TerminateJob was accepted for one of them as the run ended.
 *
 * Every write is a single-item write; the items carry the run's TTL like its other working items
 * (retention.ts): the job of a run that waits long on its plan's delays is still stopped at its end.
 */
import { DescribeJobsCommand, ListJobsCommand, TerminateJobCommand, type BatchClient } from '@aws-sdk/client-batch';
import { QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { itemKey, n, num, runStatusOf, tableAccess, type Item } from './dynamodb-keys.ts';
import { createRetention, type Retention } from './retention.ts';

/** What identifies a job's attempt (and its run's workflow, which says how long its item is kept). */
export type JobRef = { runId: string; step: string; item?: number | undefined; attempt: number; workflow?: string };

/**
 * An attempt's jobs as the table has them: `jobIds` are those not known to have ended;
 * `unnoted`, when some SubmitJob for it may have made a job whose id was never written: its name,
 * its queue, and when the attempt was first submitted.
 */
export type RunJob = JobRef & { jobIds: string[]; submittedAt?: number; stoppedAt?: number; unnoted?: { name: string; queue: string; since: number } };

export const JOB_PREFIX = 'JOB#';

/** The sort key of a job's item. */
export function jobKey(ref: Pick<JobRef, 'step' | 'item' | 'attempt'>): string {
  return `${JOB_PREFIX}${ref.step}#${ref.item ?? ''}#${ref.attempt}`;
}

/** TerminateJob's reason is at most 1,024 characters. */
const MAX_REASON = 1024;
/** TerminateJob calls in flight at once when a run ends. */
const PARALLEL_STOPS = 8;

/** The run's Batch jobs in one table; `retention` gives their items' expiry (that of the stage's store). */
export function createJobBook(client: DynamoDBClient, table: string, retention: Retention = createRetention()) {
  const db = tableAccess(client, table);
  return {
    /**
     * A job is about to be submitted for an attempt, by this name to this queue. Written before
     * SubmitJob: if it fails, nothing is submitted, and a job whose id is never noted can be found.
     * False, writing nothing, when a job of this attempt was submitted and noted already (a
     * duplicate or taken-over dispatch): it is not submitted twice.
     */
    async submitting(ref: JobRef, job: { name: string; queue: string }, now: number): Promise<boolean> {
      return (await db.updateIf(ref.runId, jobKey(ref), {
        names: ['submits', 'jobName', 'jobQueue', 'firstSubmitAt', 'step', 'attempt', 'expiresAt', 'noted', ...(ref.item === undefined ? [] : ['item'])],
        ConditionExpression: 'attribute_not_exists(#noted)',
        UpdateExpression: `ADD #submits :one SET #jobName = :name, #jobQueue = :queue, #firstSubmitAt = if_not_exists(#firstSubmitAt, :now), #step = :step, #attempt = :attempt, #expiresAt = if_not_exists(#expiresAt, :exp)${ref.item === undefined ? '' : ', #item = :item'}`,
        ExpressionAttributeValues: {
          ':one': n(1),
          ':name': { S: job.name },
          ':queue': { S: job.queue },
          ':step': { S: ref.step },
          ':attempt': n(ref.attempt),
          ':now': n(now),
          ':exp': n(retention.working(ref.workflow)),
          ...(ref.item === undefined ? {} : { ':item': n(ref.item) }),
        },
      })) !== false;
    },

    /** A job submitted for an attempt. */
    async submitted(ref: JobRef, jobId: string, now: number): Promise<void> {
      await db.update(ref.runId, jobKey(ref), {
        names: ['jobIds', 'noted', 'step', 'attempt', 'submittedAt', 'expiresAt', ...(ref.item === undefined ? [] : ['item'])],
        UpdateExpression: `ADD #jobIds :id, #noted :one SET #step = :step, #attempt = :attempt, #submittedAt = :now, #expiresAt = if_not_exists(#expiresAt, :exp)${ref.item === undefined ? '' : ', #item = :item'}`,
        ExpressionAttributeValues: {
          ':id': { SS: [jobId] },
          ':one': n(1),
          ':step': { S: ref.step },
          ':attempt': n(ref.attempt),
          ':now': n(now),
          ':exp': n(retention.working(ref.workflow)),
          ...(ref.item === undefined ? {} : { ':item': n(ref.item) }),
        },
      });
    },

    /** The job ended on its own (SUCCEEDED or FAILED). An attempt this book never heard of stays unknown. */
    async ended(ref: JobRef, jobId: string): Promise<void> {
      await db.updateIf(ref.runId, jobKey(ref), {
        names: ['jobIds'],
        UpdateExpression: 'DELETE #jobIds :id',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':id': { SS: [jobId] } },
      });
    },

    /** TerminateJob was accepted for `jobId`. */
    async stopped(ref: JobRef, jobId: string, now: number): Promise<void> {
      await db.updateIf(ref.runId, jobKey(ref), {
        names: ['jobIds', 'stoppedAt'],
        UpdateExpression: 'DELETE #jobIds :id SET #stoppedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':id': { SS: [jobId] }, ':now': n(now) },
      });
    },

    /** The run's status, or undefined when there is no such run. */
    runStatus: (runId: string) => runStatusOf(client, table, runId),

    /** Every job of the run, in key order. */
    async jobs(runId: string): Promise<RunJob[]> {
      const out: RunJob[] = [];
      let start: Item | undefined;
      do {
        const page = await client.send(new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': itemKey(runId, '').pk, ':prefix': { S: JOB_PREFIX } },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }));
        for (const item of (page.Items ?? []) as Item[]) out.push(jobFromItem(runId, item));
        start = page.LastEvaluatedKey as Item | undefined;
      } while (start);
      return out;
    },
  };
}

export type JobBook = ReturnType<typeof createJobBook>;

/** A job item read back. */
export function jobFromItem(runId: string, item: Item): RunJob {
  const itemNo = num(item, 'item');
  const submittedAt = num(item, 'submittedAt');
  const stoppedAt = num(item, 'stoppedAt');
  const name = item['jobName']?.S;
  const queue = item['jobQueue']?.S;
  const unnoted = (num(item, 'submits') ?? 0) > (num(item, 'noted') ?? 0) && name !== undefined && queue !== undefined;
  return {
    runId,
    step: item['step']?.S ?? '',
    attempt: num(item, 'attempt') ?? 0,
    jobIds: [...(item['jobIds']?.SS ?? [])].sort(),
    ...(itemNo === undefined ? {} : { item: itemNo }),
    ...(submittedAt === undefined ? {} : { submittedAt }),
    ...(stoppedAt === undefined ? {} : { stoppedAt }),
    ...(unnoted ? { unnoted: { name, queue, since: num(item, 'firstSubmitAt') ?? 0 } } : {}),
  };
}

/**
 * What stopping a run's jobs did, each job id with its attempt. `left`: jobs not tried because
 * the deadline came first (a Lambda must end before its timeout). `unsought`: attempts whose
 * unnoted job could not be looked for (ListJobs or DescribeJobs failed).
 */
export type StopReport = {
  stopped: Array<{ job: RunJob; jobId: string }>;
  failed: Array<{ job: RunJob; jobId: string; error: string }>;
  left: number;
  unsought: Array<{ job: RunJob; error: string }>;
};

/** Batch's clock and the processor's may differ: a job is looked for from this long before its attempt's first submission. */
const CLOCK_SLACK_MS = 5 * 60_000;
/** ListJobs pages read when looking for one attempt's unnoted job (newest first, 100 a page). */
const MAX_LIST_PAGES = 10;
const ENDED = new Set(['SUCCEEDED', 'FAILED']);

/**
 * The jobs of the run's attempt that Batch has and its table never noted: by name in its queue,
 * since its first submission, not ended, tagged with the run. Those already listed are left out.
 */
async function unnotedJobs(batch: BatchClient, job: RunJob): Promise<string[]> {
  const { name, queue, since } = job.unnoted!;
  const candidates: string[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const listed = await batch.send(new ListJobsCommand({ jobQueue: queue, filters: [{ name: 'JOB_NAME', values: [name] }], maxResults: 100, ...(nextToken ? { nextToken } : {}) }));
    let older = false;
    for (const summary of listed.jobSummaryList ?? []) {
      // Newest first: a job created before the attempt's first submission is another run's, as are all after it.
      if ((summary.createdAt ?? 0) < since - CLOCK_SLACK_MS) older = true;
      else if (summary.jobId && !ENDED.has(summary.status ?? '') && !job.jobIds.includes(summary.jobId)) candidates.push(summary.jobId);
    }
    nextToken = listed.nextToken;
    if (older || !nextToken) break;
  }
  const mine: string[] = [];
  for (let i = 0; i < candidates.length; i += 100) {
    const described = await batch.send(new DescribeJobsCommand({ jobs: candidates.slice(i, i + 100) }));
    for (const d of described.jobs ?? []) if (d.jobId && d.tags?.['joinflow:run'] === job.runId && !ENDED.has(d.status ?? '')) mine.push(d.jobId);
  }
  return mine.sort();
}

/**
 * Stops the jobs of a run that have not ended: TerminateJob cancels a job still waiting in its
 * queue and stops a running one (which then ends FAILED; the processor ignores the step events
 * of an ended run). Failures are reported, not thrown: the run has ended either way, and the
 * caller says which jobs are left running. No new call starts after `deadline` (epoch ms).
 * `known`: a job its submitter could not note in the table, stopped with the others.
 */
export async function stopRunJobs(
  book: JobBook,
  batch: BatchClient,
  runId: string,
  reason: string,
  options: { now?: () => number; deadline?: number; known?: { ref: JobRef; jobId: string } } = {},
): Promise<StopReport> {
  const now = options.now ?? Date.now;
  const jobs = await book.jobs(runId);
  const live = jobs.flatMap((job) => job.jobIds.map((jobId) => ({ job, jobId })));
  // A job its submitter knows but could not note (Batch may not list it yet).
  const known = options.known;
  if (known !== undefined && !live.some((l) => l.jobId === known.jobId)) {
    const { runId: of, step, item, attempt } = known.ref;
    live.push({ job: { runId: of, step, attempt, jobIds: [], ...(item === undefined ? {} : { item }) }, jobId: known.jobId });
  }
  const report: StopReport = { stopped: [], failed: [], left: 0, unsought: [] };
  for (const job of jobs) {
    if (job.unnoted === undefined || (options.deadline !== undefined && now() >= options.deadline)) continue;
    try {
      for (const jobId of await unnotedJobs(batch, job)) if (!live.some((l) => l.jobId === jobId)) live.push({ job, jobId });
    } catch (error) {
      report.unsought.push({ job, error: errorText(error) });
    }
  }
  const text = reason.slice(0, MAX_REASON);
  for (let i = 0; i < live.length; i += PARALLEL_STOPS) {
    if (options.deadline !== undefined && now() >= options.deadline) {
      report.left = live.length - i;
      break;
    }
    await Promise.all(
      live.slice(i, i + PARALLEL_STOPS).map(async ({ job, jobId }) => {
        try {
          await batch.send(new TerminateJobCommand({ jobId, reason: text }));
        } catch (error) {
          report.failed.push({ job, jobId, error: errorText(error) });
          return;
        }
        report.stopped.push({ job, jobId });
        // The job is stopped whether or not this note is written: a failed write only loses `stopped` in status.
        await book.stopped(job, jobId, now()).catch(() => undefined);
      }),
    );
  }
  return report;
}

function errorText(error: unknown): string {
  const e = error as { name?: string; message?: string };
  return `${e.name ?? 'Error'}: ${(e.message ?? String(error)).split('\n', 1)[0]}`;
}
