/** Shared fixtures of the CWL importer's unit tests: an importer over in-memory files, positions, specs. */
import { importCwl, type CwlImportOptions } from '../../src/importers/cwl.ts';
import type { RunnerSpec } from '../../src/importers/cwl/spec.ts';
import type { ExecutorInput } from '../../src/model/workflow.ts';

export const RUNNER = { command: 'node', args: ['bin/joinflow.js', 'cwl-tool'] };

/** Imports `files[main]` with the other files readable by name; `outDir` is /out. */
export function imp(files: Record<string, string>, main = 'wf.cwl', options: Partial<CwlImportOptions> = {}) {
  const readFile = (f: string): string => {
    const text = files[f];
    if (text === undefined) throw new Error(`ENOENT: no such file ${f}`);
    return text;
  };
  return importCwl(main, files[main]!, { readFile, outDir: '/out', runner: RUNNER, ...options });
}


/** `line:col` (1-based) of the n-th occurrence of `marker` in `text`. */
export function pos(text: string, marker: string, nth = 1): string {
  let at = -1;
  for (let i = 0; i < nth; i++) {
    at = text.indexOf(marker, at + 1);
    if (at < 0) throw new Error(`marker ${marker} not found`);
  }
  const before = text.slice(0, at);
  return `${before.split('\n').length}:${at - before.lastIndexOf('\n')}`;
}

export const spec = (e: ExecutorInput | undefined): RunnerSpec => {
  const args = e?.type === 'process' ? e.args! : e?.type === 'batch' ? e.local!.args! : [];
  return JSON.parse(args.at(-1)!) as RunnerSpec;
};

export const ECHO = `cwlVersion: v1.2
class: CommandLineTool
baseCommand: echo
inputs:
  msg: { type: string, inputBinding: { position: 1 } }
outputs:
  out: stdout
stdout: out.txt
`;

/** A valid two-step workflow to break one construct at a time. */
export const BASE = `cwlVersion: v1.2
class: Workflow
inputs:
  msg: string
outputs:
  result:
    type: File
    outputSource: say/out
steps:
  say:
    run: echo.cwl
    in:
      msg: msg
    out: [out]
`;

/** {@link BASE} with ScatterFeatureRequirement, which a step that scatters needs. */
export const SCATTER_BASE = BASE.replace('inputs:\n', 'requirements: { ScatterFeatureRequirement: {} }\ninputs:\n');
