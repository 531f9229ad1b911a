/** Help texts; each subcommand's --help prints its entry. Keep in step with the README. */
import { CHAOS_HELP } from './chaos-option.ts';
import { CWL_TOOL_HELP, IMPORT_HELP } from './help-import.ts';
import { STATUS_LOCAL_HELP } from './help-status.ts';
import { WORKER_HELP } from './help-worker.ts';

const AWS_FLAGS = `  --stage S        deployed stage (default $JOINFLOW_STAGE, else dev); the bus and table
                   are joinflow-<stage> unless --bus / --table say otherwise
  --region R       AWS region (default $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1)
  --endpoint URL   send every call to an emulator (default $AWS_ENDPOINT_URL)
  --bus B          the stage's event bus (default $JOINFLOW_BUS, else joinflow-<stage>)
  --table T        the stage's runs table (default $JOINFLOW_TABLE, else joinflow-<stage>)
`;
/** `start` reads no table: it refuses --table. */
const START_AWS_FLAGS = `  --stage S        deployed stage (default $JOINFLOW_STAGE, else dev); the bus is
                   joinflow-<stage> unless --bus says otherwise
  --region R       AWS region (default $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1)
  --endpoint URL   send every call to an emulator (default $AWS_ENDPOINT_URL)
  --bus B          the stage's event bus (default $JOINFLOW_BUS, else joinflow-<stage>)
`;

/** Help of `joinflow dev`. */
export const DEV_HELP = `Usage: joinflow dev [--port N] [--host H] [--token T] [--state DIR | --memory] [--no-watch]

Compiles every workflow in workflows/ and serves EventBridge's PutEvents API (AWS JSON 1.1,
X-Amz-Target: AWSEvents.PutEvents) in front of the embedded engine, until SIGINT or SIGTERM.
Point an EventBridge client at it (endpoint http://127.0.0.1:PORT, any region and credentials);
a "Run Requested" event with source "joinflow" and detail {"workflow", "runId"?, "input"?}
starts a run; one of another source starts none (said on stderr, once per source). Requests whose entries total over 256 KB (UTF-8 bytes of their fields, as
EventBridge counts them, not of the escaped body) or with more than 10 entries are refused as
EventBridge does.
Subscriptions (joinflow.config.yaml and workflows' own) receive matching events.
When a file in workflows/ or the config changes, the workflows are compiled again: one that no
longer compiles is reported and the running version stays; a changed workflow applies to new runs
once its running runs have ended.

  --port N      port to listen on (default 0: a free port, printed on start)
  --host H      address to bind (default 127.0.0.1); any other than 127.0.0.1, ::1 or
                localhost needs --token
  --token T     require "Authorization: Bearer T" (or "x-joinflow-token: T") on every request
  --state DIR   durable state directory (default .joinflow)
  --memory      keep state in memory only
  --no-watch    do not reload workflows/ and the config when they change
`;

/** Help text. */
export const LIST_HELP = `Usage: joinflow list [--status S] [--workflow W] [--state DIR] [--json]
       joinflow list --stage S [AWS options] [--status S] [--workflow W] [--json]

Lists the runs of the embedded engine's state directory, newest first: run id, workflow,
status, start time and duration. A running run whose engine process is gone shows
"interrupted" as its duration: 'joinflow resume' continues it. A run that has ended while its
engine still stops the steps it ran shows "stopping" (no finishedAt yet; "interrupted" if that
engine died meanwhile: 'joinflow resume' records its end).

With --stage, --table or --endpoint (or --region, --bus) the runs come from a deployed stage's
DynamoDB table (its byWorkflowStatus index, eventually consistent) instead.

Options:
  --status S     only runs with this status: running, succeeded, failed, cancelled
  --workflow W   only runs of this workflow
  --state DIR    state directory (default .joinflow)
  --json         print a JSON array of run records
                 [{runId, workflow, status, startedAt, finishedAt?, output?, error?,
                 interrupted?, stopping?}]
Exit codes: 0 listed (also when none match), 2 bad usage, no state directory, or the table
could not be read.
`;

/** Help text. */
export const LOGS_HELP = `Usage: joinflow logs <runId> [--step S] [--state DIR]

Prints the captured stdout and stderr of a run's process steps, from the state directory
(--state DIR, default .joinflow; files runs/<runId>/logs/<step>[.<item>].<attempt>.out|.err),
in dispatch order, each under a header like "== step.attempt stderr ==". Files are streamed as
they are, whatever their size; it stops quietly when the reader goes away (| head). A --memory
run keeps no state, only its logs: they are printed by file name.

Options:
  --step S       only the logs of step S (all its items and attempts)
  --state DIR    state directory (default .joinflow)
Exit codes: 0 printed, 1 no such run or no logs (for that step), 2 bad usage (a --step the
run's workflow does not have, too), or a state dir that is missing or unusable (not a
directory, not writable: the message says why).
`;

/** Help of `joinflow timeline`. */
export const TIMELINE_HELP = `Usage: joinflow timeline <runId|trace.json> [-o FILE] [--json] [--state DIR] [--workflow WF] [options]

Draws a Gantt chart of a run: one bar per step execution (each attempt and each forEach item
its own row), in start order, coloured by executor kind, with the critical path outlined in red;
prints makespan, critical path and overhead (makespan - critical path) on stdout.

The critical path is the chain of executions that decided when the run ended: it ends with the
execution that finished last and walks back to the one each waited for. A retry waited for the
attempt it retries (the back-off is overhead); a first attempt, for the execution of a needed
step (its last attempt of each item) that finished last by the time it started. A needed step
that ran nothing (a forEach over []) passes the wait on. Its length is the time the chain's
executions cover (an overlap counted once), so it is never longer than the makespan.

<runId> is a run of the embedded engine's state dir (--state DIR, default .joinflow). A file
(any path ending in .json, or an existing file) is read as a trace: a joinflow timeline trace
(written by -o FILE.json or --json) or a WfCommons trace (WfFormat 1.4/1.5), whose tasks start
at their executedAt if every task has one; otherwise at their ideal times (when the last parent
ends: no overhead), and the output says so. A 'joinflow run --trace' file lists executions
only: name the workflow that ran with --workflow, for its step graph.

Options:
  -o, --out FILE    write the chart; the extension chooses: .html (self-contained page),
                    .svg (standalone SVG) or .json (a joinflow timeline trace to re-render);
                    never the trace or --workflow file being read (exit 2)
  --json            print the timeline trace (executions, needs, summary) on stdout instead
                    of the text report
  --state DIR       state directory of local runs (default .joinflow)
  --workflow WF     the workflow (file or name) a 'joinflow run --trace' file came from
  --color C         kind (executor kind) or category (a trace task's type, or the step id);
                    default kind, category for a WfCommons trace
  --width PX        chart width in pixels (default 1200)
Exit codes: 0 ok, 1 no such run, 2 bad usage or unreadable/invalid trace file.
`;

/** Help of `joinflow plan`. */
export const PLAN_HELP = `Usage: joinflow plan <workflow> [--json]

Compiles a workflow and prints, per step, where it runs on AWS (lambda, batch-cpu, batch-gpu,
container, or local-only), why, with what resources, and the estimated compute cost of one
execution (on-demand, us-east-1: Lambda GB-seconds and requests, Fargate vCPU- and GB-hours,
the cheapest GPU instance among those serverless.yml's custom.joinflow.gpuInstanceTypes allows,
g4dn.xlarge and g5.xlarge by default; one-minute minimum on Batch), then the total per run.
"executor: auto" steps are placed by their resources: Lambda when they fit (at most 10,240 MB,
6 vCPUs, 900 s, no GPU), else Batch (the GPU queue when gpus > 0). Steps without
resources.expectedSeconds are not priced. A step with "fallback: batch" shows where its
attempts go after a Lambda timeout and what an execution that falls back costs (Lambda until
the timeout, then the Batch job); one expected to run longer than its timeout is flagged (!),
and a fallback step is then priced as falling back.

Options:
  --json   print {workflow, steps: [{step, placement, reason, resources, fallback?: {placement,
           memoryMb, vcpus, timeoutSeconds, usd, always?}, usd, perItem?, note?, warning?}],
           totalUsd, priced, skips?, gpuInstanceTypes?}
Exit codes: 0 printed, 2 bad usage or bad definition.
`;

/** Help per subcommand. */
export const HELP: Record<string, string> = {
  start: `Usage: joinflow start <workflow> [--input JSON|@file] [--run-id ID] [--json] [--token T] [AWS options]

Starts a run on a deployed stage: puts a "Run Requested" event on the stage's EventBridge bus
and prints the run id. A given --run-id is an idempotency key: starting it again does nothing.
A workflow that is not in ./triggers (the plans this project deploys) is refused: the stage
would only dead-letter its event (not with an endpoint of your own, --endpoint, $AWS_ENDPOINT_URL
or $AWS_ENDPOINT_URL_EVENTBRIDGE, such as joinflow dev: the event is sent). An input too big for
one event is refused too: upload it to s3://<bucket>/runs/<workflow>/ instead, which starts a run.

Against a local 'joinflow dev' (--endpoint http://127.0.0.1:PORT): no AWS credentials are needed
(placeholders sign the request when none are configured), and --token T sends the token that
'joinflow dev --token' requires.

AWS options:
${START_AWS_FLAGS}`,
  status: `${STATUS_LOCAL_HELP}
AWS options:
${AWS_FLAGS}`,
  worker: WORKER_HELP,
  dev: DEV_HELP,
  list: `${LIST_HELP}
AWS options:
${AWS_FLAGS}`,
  logs: LOGS_HELP,
  events: `Usage: joinflow events tail [--pattern JSON|@file] [--from-start] [--no-follow] [--limit N] [--state DIR]

Streams the events of the embedded engine's state directory (written by joinflow run, dev or
resume, also while they run) as JSON lines on stdout, filtered by an EventBridge pattern.

Options:
  --pattern JSON|@file   only events matching this EventBridge event pattern
  --from-start           begin with the oldest event still in the log (default when following:
                         new events only)
  --no-follow            print what is in the log, from its oldest event, and exit (default: keep
                         streaming until Ctrl-C)
  --limit N              exit after N matching events
  --state DIR            state directory (default .joinflow)
Exit codes: 0 stopped (Ctrl-C or SIGTERM, --limit reached, the end of the log with --no-follow,
or its reader gone), 2 bad usage (an invalid pattern), or a missing or unusable state dir.
`,
  timeline: TIMELINE_HELP,
  plan: PLAN_HELP,
  run: `Usage: joinflow run <workflow> [options]

Runs a workflow to the end on the embedded engine.
<workflow> is a file (.ts, .mts, .js, .mjs, .yaml, .yml, .json), a directory (its workflow.*
file), or a name looked up as workflows/<name>.* or workflows/<name>/workflow.*.

Options:
  --input JSON|@file     run input (JSON text, or @path to a JSON file, YAML if .yaml/.yml); default null
  --json                 print one JSON object on stdout:
                         {runId, workflow, status, output, durationMs,
                          steps: {total, succeeded, failed, cancelled, skipped?, retried},
                          events[, criticalPathMs]} (skipped: with choices or catch steps)
  --trace FILE           write one record per step execution:
                         [{step, item?, attempt, status, start, end, placement?, initMs?}]
                         (epoch ms; placement for auto steps: lambda, batch-cpu, batch-gpu;
                         initMs: the part spent starting a worker first);
                         chart it: joinflow timeline FILE --workflow <workflow>
  --concurrency N|SPEC   max running tasks per executor kind: N for every kind, or
                         function=4,process=2,simulate=unlimited (0 = unlimited; default:
                         CPUs for function, process, batch and container, unlimited for
                         simulate)
  --time-scale F         multiply simulate durations by F (default 1)
  --state DIR            state directory (default .joinflow): the durable SQLite state
                         (runs, join counters, event log, tasks, timers, dead letters), run
                         logs and large outputs; a killed run continues with joinflow resume
  --memory               keep state in memory instead (nothing survives the process)
  --run-id ID            the run's id (an idempotency key: an existing run is not started again)
  --max-payload SIZE     largest step output kept inline (default 1MB); larger ones are kept
                         as files in the state dir and passed by reference
  --data DIR             the workflow's external input files (those no step writes): a step's
                         declared input (step "files") missing from the run's data directory
                         <state>/runs/<runId>/data is copied from DIR
  --handlers MODULE      take every handler step's handler (function, auto, container
                         handler steps) from MODULE, by the step's export name, instead of
                         its own module: stubs for a test run, or one module for a workflow;
                         a missing export is a definition error naming the step (resume keeps it)
${CHAOS_HELP}  --cost                 count the AWS requests this run makes (one processor invocation
                         per matched rule, DynamoDB request units, Lambda, SQS, Batch) and
                         print their price next to Step Functions Standard's for the same
                         steps; with --json the object gets a "cost" field

Exit codes: 0 succeeded, 1 run failed, 2 bad usage, bad definition or an unusable state dir.
`,
  compile: `Usage: joinflow compile [workflow files...] [-o DIR] [--check]

Compiles workflows into trigger plans, one JSON per workflow (default: every workflow in
workflows/ into triggers/). Plans are deterministic; commit them.

Options:
  -o, --out DIR   output directory (default triggers)
  --check         write nothing; exit 1 if any plan in DIR is missing, stale or orphaned

Exit codes: 0 ok, 1 stale (--check), 2 bad definition (every problem is listed).
`,
  'test-pattern': `Usage: joinflow test-pattern --pattern JSON|@file --event JSON|@file

Tests an EventBridge event pattern against an event, like EventBridge's TestEventPattern:
prints "match" (exit 0) or "no match" (exit 1). Every operator EventBridge documents for event
buses is supported (prefix, suffix, equals-ignore-case, anything-but, numeric, exists, wildcard,
cidr, $or); an invalid pattern is refused with the path of the problem (exit 2), and so is an
event that is not a JSON object.
`,
  resume: `Usage: joinflow resume [runId] [--state DIR] [--json] [--trace FILE]

Continues the unfinished runs of a state dir (or one run) after the engine died: pending
events are redelivered, tasks that were running run again (attempt + 1), timers fire. The run's
own flags (directory, concurrency, time scale, data dir, trace file) and its version of the
workflow are used: runs that differ in them are continued by one engine after another. With --json, prints the same object as
'joinflow run --json' for each resumed run; a run that had already finished is reported as it is.
A run whose engine process is still alive is left to it (refused when named: exit 2).
Subscription deliveries a stopped engine left pending are sent too, also when no run is left
to continue (unless another engine runs on the state dir).
Exit codes: 0 all succeeded, 1 a run failed or was cancelled (or no such run), 2 bad usage or
a missing or unusable state dir.
`,
  cancel: `Usage: joinflow cancel <runId> [--state DIR]
       joinflow cancel <runId> --stage S [AWS options]

Cancels a running run of the embedded engine: nothing new is dispatched, running processes get
SIGTERM and then SIGKILL after a grace period, Run Cancelled is emitted and the state says so.
Works on a run in another 'joinflow run', 'resume' or 'dev' process (signalled) or one whose
engine died (then, on Linux, the processes its steps had left running are found by their
JOINFLOW_RUN_ID and stopped; resume stops them too before running those steps again).

With --stage, --table or --endpoint (or --region, --bus): cancels a run of a deployed stage. Its
record in DynamoDB becomes cancelled and Run Cancelled goes on the stage's bus; nothing new is
dispatched, its Batch jobs that have not ended are stopped (TerminateJob, named on stderr), and
Lambda invocations already running finish unheeded. A run that has already ended gets its
leftover Batch jobs stopped the same way.

Exit codes: 0 cancelled (or the process that runs it asked to), 1 no such run or it is not
running (already ended), 2 bad usage, a missing or unusable state dir, the table or bus could
not be reached, or a Batch job could not be stopped.

AWS options:
${AWS_FLAGS}`,
  dlq: `Usage: joinflow dlq list [--state DIR] [--json]

Lists the events the engine could not process (malformed, unknown workflow or run, over the
size limit, a subscription's delivery that gave up), with the reason: the time, the reason, and
the event as JSON cut at 200 characters. Nothing is dropped silently.

Options:
  --state DIR    state directory (default .joinflow)
  --json         print a JSON array of the dead letters, whole: [{id, at, reason, event}]
                 (at: epoch ms)
Exit codes: 0 listed (also when there are none), 2 bad usage or a missing or unusable state dir.
`,
  gc: `Usage: joinflow gc [--state DIR] [--older-than AGE]

Deletes the state of finished runs (default: all of them; with --older-than 7d, 12h or 30m: those
that ended longer ago), with
their logs, data files and large payloads, and the dead letters of that age (see 'joinflow dlq
list' first), and compacts the database; it says how many of each it removed. Also removes the files of
'run --memory' runs whose process is gone (they have no state), after stopping the processes
their steps left running (on Linux).

Exit codes: 0 collected (a state dir without a database too: only --memory runs' files are
removed there), 2 bad usage or a state dir that does not exist or is unusable.
`,
  import: IMPORT_HELP,
  'cwl-tool': CWL_TOOL_HELP,
};

/** The top-level usage text. */
export function usage(): string {
  return `Usage: joinflow <command> [options]

Commands:
  run <workflow>             run a workflow to the end on the embedded engine
  compile [files...]         compile workflows into triggers/<workflow>.json (--check: staleness)
  plan <workflow>            each step's placement on AWS (Lambda / Batch), reason and cost
  import wfcommons <trace>   convert a WfCommons trace into a workflow
  import cwl <workflow.cwl>  convert a CWL workflow (v1.2 subset) into a workflow of tool steps
  import asl <machine.json>  convert an Amazon States Language state machine into a workflow
  resume [runId]             continue unfinished runs after a crash (durable state)
  cancel <runId>             cancel a running run (local state; --stage: a deployed stage)
  dlq list                   events the engine could not process, with the reason
  gc                         delete finished runs from the state dir
  test-pattern               test an EventBridge pattern against an event
  dev                        serve the EventBridge PutEvents API on localhost (local engine)
  start <workflow>           start a run on a deployed stage (PutEvents "Run Requested")
  list                       runs, newest first (local state; --stage: a deployed stage)
  status <runId>             a run and its steps (local state; --stage: a deployed stage)
  logs <runId>               captured stdout/stderr of a run's process steps
  events tail                stream the engine's events (--pattern P: those matching P)
  timeline <runId|trace>     Gantt chart (HTML/SVG) of a run with its critical path
  worker --queue URL         run container steps from an SQS queue (any container or machine)

Run 'joinflow <command> --help' for a command's options.
`;
}
