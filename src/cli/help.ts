/** Help texts; each subcommand's --help prints its entry. Keep in step with the README. */

/** Help per subcommand. */
export const HELP: Record<string, string> = {
  run: `Usage: joinflow run <workflow> [options]

Runs a workflow to the end on the embedded engine.
<workflow> is a file (.ts, .js, .yaml, .yml, .json) or a name looked up in workflows/.

Options:
  --input JSON|@file     run input (JSON text, or @path to a JSON file); default null
  --json                 print one JSON object on stdout:
                         {runId, workflow, status, output, durationMs,
                          steps: {total, succeeded, failed, retried}, events[, criticalPathMs]}
  --trace FILE           write one record per step execution:
                         [{step, item?, attempt, status, start, end}] (epoch ms)
  --concurrency N|SPEC   max running tasks per executor kind: N for every kind, or
                         function=4,process=2,simulate=unlimited (default: CPUs for
                         function and process, unlimited for simulate)
  --time-scale F         multiply simulate durations by F (default 1)
  --state DIR            state directory for logs (default .joinflow)
  --cost                 count the AWS requests this run makes (one processor invocation
                         per matched rule, DynamoDB request units, Lambda, SQS, Batch) and
                         print their price next to Step Functions Standard's for the same
                         steps; with --json the object gets a "cost" field

Exit codes: 0 succeeded, 1 run failed, 2 bad usage or bad definition.
`,
  compile: `Usage: joinflow compile [workflow files...] [-o DIR] [--check]

Compiles workflows into trigger plans, one JSON per workflow (default: every workflow in
workflows/ into triggers/). Plans are deterministic; commit them.

Options:
  -o, --out DIR   output directory (default triggers)
  --check         write nothing; exit 1 if any plan in DIR is missing, stale or orphaned

Exit codes: 0 ok, 1 stale (--check), 2 bad definition (every problem is listed).
`,
  import: `Usage: joinflow import wfcommons <trace.json> [-o FILE] [--name NAME]

Converts a WfCommons trace (WfFormat 1.4 or 1.5) into a workflow of simulate steps, one per
task, with the task's recorded runtime; step ids are the trace's task ids. Prints tasks,
edges, depth and critical path on stderr.

Options:
  -o, --out FILE   write the workflow JSON here (default: stdout)
  --name NAME      workflow name (default: from the trace)
`,
};

/** The top-level usage text. */
export function usage(): string {
  return `Usage: joinflow <command> [options]

Commands:
  run <workflow>             run a workflow to the end on the embedded engine
  compile [files...]         compile workflows into triggers/<workflow>.json (--check: staleness)
  import wfcommons <trace>   convert a WfCommons trace into a workflow

Run 'joinflow <command> --help' for a command's options.
`;
}
