/** Help texts of `joinflow import` and of the runner of imported CWL steps (see help.ts). */

/** Help of `joinflow import`. */
export const IMPORT_HELP = `Usage: joinflow import wfcommons <trace.json> [-o FILE] [--name NAME]
         [--executor process|container --command TEMPLATE | --mapping FILE] [--files|--no-files]
       joinflow import cwl <workflow.cwl> [-o FILE] [--name NAME] [--executor process|batch]
                           [--image IMAGE]
       joinflow import asl <machine.asl.json> -o WORKFLOW [--tasks MODULE] [--name NAME]

wfcommons: converts a WfCommons trace (WfFormat 1.4 or 1.5) into a workflow, one step per task;
step ids are what the trace's parents and children name tasks by (WfFormat 1.5: task ids; 1.4:
task names). By default every step simulates the task's recorded runtime.
With --command or --mapping, each task's input/output file lists become the step's "files":
process, batch and container command steps get them staged in the run's data directory
(JOINFLOW_DATA_DIR, JOINFLOW_INPUTS, JOINFLOW_OUTPUTS; see joinflow run --data). Prints
tasks, edges, depth and critical path on stderr. The workflow is checked as 'joinflow run'
checks it before it is written: what run would refuse (no tasks, a task id __proto__, a runtime
over 14 days on a command step, a mapped handler module that is missing or lacks the export) is
an error naming the trace or the mapping and the task (exit 2, nothing written). An -o that is
the trace or the mapping file is refused.

cwl: converts a CWL v1.0-v1.2 Workflow (or a lone CommandLineTool) of the supported subset into
a workflow whose steps run each tool with 'joinflow cwl-tool'; a scatter becomes a forEach, the
workflow outputs are the output of a final "outputs" step. Constructs outside the subset, and
what CWL itself forbids (a scatter without ScatterFeatureRequirement in the workflow's or the
step's requirements), are refused, every one listed as <file>:<line>:<col> (exit 2). Notes
(hints ignored, Docker images, a source whose File format a step input does not take) go to
stderr.

asl: converts an Amazon States Language state machine (JSONPath mode: Task, Pass, Choice, Wait,
Succeed, Fail, Parallel, inline Map; Retry, Catch, paths, intrinsic functions) into a workflow,
and writes beside it <WORKFLOW>-asl.ts, the handler all its steps run. A step per state; a
Parallel fans out into its branches' steps, a Map into one step per item; a loop runs in one
step. Task states call the functions that --tasks MODULE exports, by Lambda function name (or,
for other resources, by state name). Anything outside the subset is refused with the path of
the field (exit 2, nothing written); fields read but not imported are warnings on stderr.

Options:
  -o, --out FILE    write the workflow here (default: stdout; asl: required); JSON, or YAML for .yaml/.yml
  --name NAME       workflow name (default: from the trace / the CWL file name; for asl, -o's
                    file name, or its directory's for an -o named workflow.json or .yaml)
  --executor KIND   wfcommons: process or container (with --command) for every task; default
                    simulate (file lists dropped). cwl: process (default) runs on this machine
                    only; batch writes AWS Batch steps (image from DockerRequirement, else
                    --image) whose local command is the same runner
  --tasks MODULE    asl only: the module whose exports implement the Task states
  --image IMAGE     cwl only: Batch image of the steps without DockerRequirement; it must contain
                    node, joinflow (on PATH) and the tools
  wfcommons only:
  --command TEMPLATE     the command of every task, split into words like a shell would (quotes,
                         backslashes) but run without one. Placeholders: {id} {name} {category}
                         {runtime} (seconds) {runtime*F} (times F) {program}, and the lists
                         {inputs} {outputs} {arguments}, one word per item; {{ }} are braces.
                         Alone it implies --executor process.
  --mapping FILE         YAML/JSON: {tasks: {<id|name|category|program>: executor}, default?:
                         executor, files?: bool}, looked up in that order (program: the recorded
                         command's, e.g. Epigenomics' fast2bfq); executor is {type: process|
                         container|batch|function|simulate, ...} with command templates;
                         cwd/module relative to FILE. Tasks no key matches are an error that
                         counts them (unless default); a key that matches no task is an error,
                         or a warning when there is a default, with a "did you mean"
  --files, --no-files    keep / drop the tasks' file lists (default: kept with --command or
                         --mapping, unless the mapping says files: false; dropped otherwise)
`;

/** Help of `joinflow cwl-tool`. */
export const CWL_TOOL_HELP = `Usage: joinflow cwl-tool <spec-json>

Runs one step of a workflow made by 'joinflow import cwl' (you do not call it yourself): reads
the step event on stdin (in a Batch job: $JOINFLOW_EVENT or the S3 object $JOINFLOW_EVENT_URI),
runs the tool without a shell in <dir>/<step>[.<item>].<attempt>, and prints its outputs as
JSON ({"id": {"class": "File", "path", "basename", "size"}}) as the last stdout line (in a Batch
job also to $JOINFLOW_OUTPUT_URI). <dir> is $JOINFLOW_CWL_OUTDIR/<runId> when set, else the
run's data directory $JOINFLOW_DATA_DIR/cwl (joinflow run sets it), else .joinflow/cwl/<runId>;
relative paths resolve against the working directory (the workflow file's directory in a run).
`;
