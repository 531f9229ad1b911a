/**
 * CWL (v1.0-v1.2, the subset scientific DAGs use) to joinflow workflows: every CommandLineTool
 * step becomes a step that runs `joinflow cwl-tool`, scatter becomes forEach. Anything outside
 * the subset is refused with its file, line and column. Pure: files are read through `readFile`.
 */
import path from 'node:path';
import { WorkflowDefinitionError } from '../model/errors.ts';
import { WORKFLOW_NAME_PATTERN, WORKFLOW_NAME_RULE, type WorkflowInput } from '../model/workflow.ts';
import { buildWorkflow, type CwlImportStats } from './cwl/build-workflow.ts';
import { readCwlWorkflow } from './cwl/read-workflow.ts';
import { createProblems } from './cwl/source.ts';
import { sanitizeWorkflowName } from './wfcommons.ts';

export type { CwlImportStats } from './cwl/build-workflow.ts';

/** Options of {@link importCwl}. */
export type CwlImportOptions = {
  /** Reads a file (the workflow's `run:` tools); throws when it cannot. */
  readFile: (file: string) => string;
  /**
   * Directory the workflow will be written to: File defaults are made relative to it. Not given
   * (the workflow goes to stdout, to be saved anywhere): they are written as absolute paths.
   */
  outDir?: string;
  /** The local command that runs the tool runner, e.g. node + [.../bin/joinflow.js, cwl-tool]. */
  runner: { command: string; args: string[] };
  /** Workflow name; defaults to the file's base name. */
  name?: string;
  /** `process` (default): local steps; `batch`: AWS Batch steps that run locally too. */
  executor?: 'process' | 'batch';
  /** Batch image of steps without DockerRequirement. */
  image?: string;
};

/** Converts the CWL document `file` (with text `text`). Throws WorkflowDefinitionError with every problem. */
export function importCwl(file: string, text: string, options: CwlImportOptions): { workflow: WorkflowInput; stats: CwlImportStats; notes: string[] } {
  const problems = createProblems();
  const notes: string[] = [];
  const fail = (): never => {
    throw new WorkflowDefinitionError(problems.list, file);
  };
  const wf = readCwlWorkflow(file, text, { readFile: options.readFile, ...(options.outDir === undefined ? {} : { outDir: options.outDir }) }, problems, notes);
  if (!wf) return fail();
  let name = options.name;
  // A file name with nothing usable in it (`....cwl`) gives a name that says where the workflow came from.
  if (name === undefined) name = sanitizeWorkflowName(path.basename(file).replace(/\.(cwl|ya?ml|json)$/i, ''), 'cwl-workflow');
  else if (!WORKFLOW_NAME_PATTERN.test(name)) problems.add('--name', `"${name}" must be ${WORKFLOW_NAME_RULE}`);
  const { workflow, stats } = buildWorkflow(wf, {
    name,
    runner: options.runner,
    executor: options.executor ?? 'process',
    ...(options.image === undefined ? {} : { image: options.image }),
  }, problems, notes);
  if (problems.list.length > 0) return fail();
  return { workflow, stats, notes };
}
