/** Help text of `joinflow worker` (see help.ts). Keep in step with the README. */

/** Help of `joinflow worker`. */
export const WORKER_HELP = `Usage: joinflow worker --queue URL [options]

Runs container steps: long-polls the SQS task queue, runs each task's handler module (in a
worker thread) or command (as a child process), keeps the message invisible while it runs,
publishes Step Started / Completed / Failed to the EventBridge bus, then deletes the message.
A handler is timed as a function step's: its timeoutMs counts from the handler's start, and the
load of its module before it (the task's init, up to 10 s beyond timeoutMs) is left out; the
task's log line says it ("succeeded in 1234 ms, 1100 ms of it init"), and so does a StepTimeout.
Delivery is at-least-once: a task may run again after a crash, so handlers should be idempotent.
SIGTERM or SIGINT stops receiving and waits up to 25 s for running tasks; tasks still running
then are aborted and left on the queue for another worker (a second signal aborts at once).
A task whose run has ended (cancelled, failed, or succeeded without it) is not run, and a running
task is stopped within 30 s of its run's end, with no result: the worker reads the run's status
from the stage's table (GetItem; if it cannot, it says so once and runs every task to its end).

Options:
  --queue URL          SQS queue URL to poll (required)
  --stage S            the stage whose bus and table (joinflow-<S>) the worker uses (default
                       $JOINFLOW_STAGE, else dev); --bus and --table name them otherwise
  --bus NAME           EventBridge bus for step events (default joinflow-<stage> with --stage,
                       else $JOINFLOW_BUS, else joinflow-<stage>)
  --table NAME         the stage's DynamoDB table, for run status (default as --bus; '' runs
                       every task regardless of its run; a run not in it counts as running)
  --endpoint URL       send SQS, EventBridge and DynamoDB calls to an emulator (default $AWS_ENDPOINT_URL)
  --region R           AWS region (default $AWS_REGION or $AWS_DEFAULT_REGION, else us-east-1)
  --concurrency N      tasks run at once (default 1)
  --visibility SEC     visibility timeout, renewed every SEC/3 while a task runs (default 60)

Relative handler modules and working directories resolve against the current directory.
Process logs go to <tmpdir>/joinflow-worker/<runId>/. Set $JOINFLOW_BUCKET to claim-check
outputs too big for an event into S3, and to stage the data files of steps with "files": inputs
are downloaded from s3://<bucket>/data/<runId>/ into <tmpdir>/joinflow-worker/<runId>/data
(JOINFLOW_DATA_DIR) before the command, declared outputs uploaded there after it.
`;
