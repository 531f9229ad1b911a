/** Help text of `joinflow status` (see help.ts). */

/** Help of `joinflow status` (the embedded engine's runs, and a stage's). */
export const STATUS_LOCAL_HELP = `Usage: joinflow status <runId> [--state DIR] [--json]
       joinflow status <runId> --stage S [AWS options] [--json]

Prints a run: its status, times, the error or the output, and its steps.

By default the run comes from the embedded engine's state directory (--state DIR, default
.joinflow): one line per step (and forEach item) with the state of its latest attempt
(dispatched, started, succeeded, failed, cancelled; with 0 attempts: skipped, for a step a
choice or a catch did not run; waiting, 'delay, due at <time>', for a step whose delayMs has not
passed; succeeded, 'forEach over 0 items', for a forEach over an empty array), the number of
attempts that started, the time from the first one's start to the last one's end, and the error
of a failed one. A retry that has not started is named after them: 'retry 2 due at <time>' (its
backoff; the state is the failed attempt's), 'retry 2 waiting to start' (dispatched, waiting for
a free slot), 'retry 2 never started (the run was cancelled)'. --json prints {run, steps:
[{step, item?, state, attempts, startedAt?, finishedAt?, durationMs?, error?, unstarted?:
{attempt, state: scheduled|dispatched|cancelled, dueAt?, interrupted?}, delay?: {dueAt, interrupted?}, items?:
0}]} (run without its input). A running run whose engine is gone is marked interrupted (JSON:
run.interrupted: true); its timers wait for 'joinflow resume', so a step waiting for its delayMs
reads 'delay, was due at <time>; runs once ...' once that time has passed, 'delay, due at <time>,
if ...' before (JSON: delay.interrupted: true), and a retry due after its backoff the same
way ('retry 2 was due at <time>; ...'; JSON: unstarted.interrupted: true). A run that has ended while its engine still stops the steps it ran has
no finishedAt yet and is marked stopping (JSON: run.stopping: true); interrupted too when that
engine died first: 'joinflow resume' then stops what they left running and records the end.

With --stage, --table or --endpoint (or --region, --bus) the run comes from a deployed
stage's DynamoDB table instead: each step's state (dispatched, waiting, completed, failed, lost,
skipped, caught, stopped: its Batch job was stopped when the run ended), forEach items done
('forEach over 0 items', JSON items: 0, for a forEach over an empty array), and the ids of the
Batch jobs still running (JSON: steps[].jobs). A step of a running run whose start waits for its
delayMs is waiting, 'delay, due at <time>' (JSON delay: {dueAt}); one whose retry waits for its
backoff is waiting, 'retry 2 due at <time>' (JSON unstarted: {attempt, state: scheduled,
dueAt}); of a forEach step, whose other items may run, the soonest item's retry, 'retry 2 of
item 3 due at <time>' (unstarted.item; JSON retriesWaiting counts them when several wait). Of
a run that ended first, such a start or retry never starts: 'retry 3 never started (the run was
cancelled)' (JSON unstarted: {attempt, state: cancelled, item?}). A start or retry still not
started 5 minutes after its due time is named on a last line, 'overdue: ...' (its timer message
failing, or in the stage's timer DLQ).
Exit codes: 0 found, 1 no such run, 2 bad usage or the table could not be read (the message
says why: no credentials, no such table, no endpoint).
`;
