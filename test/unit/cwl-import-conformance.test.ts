/** What CWL v1.2 demands of a document beyond its shape: feature requirements. */
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../helpers/problems.ts';
import { BASE, ECHO, imp, pos } from '../helpers/cwl-import.ts';

describe('importCwl: a scatter needs ScatterFeatureRequirement (CWL v1.2, WorkflowStep)', () => {
  /** BASE with a workflow input of strings that step "say" scatters over. */
  const scattering = (wfBlock = '', stepBlock = ''): string => BASE
    .replace('class: Workflow\n', `class: Workflow\n${wfBlock}`)
    .replace('  msg: string\n', '  msg: string[]\n')
    .replace('    type: File\n    outputSource', '    type: File[]\n    outputSource')
    .replace('    run: echo.cwl\n', `    run: echo.cwl\n    scatter: msg\n${stepBlock}`);
  const fix = 'add ScatterFeatureRequirement to the workflow\'s requirements (requirements: {ScatterFeatureRequirement: {}}), or to the step\'s';

  it('refuses a scatter that neither the workflow nor the step declares it for, at the step\'s scatter, naming the fix', () => {
    const wf = scattering();
    const problems = problemsOf(() => imp({ 'wf.cwl': wf, 'echo.cwl': ECHO }));
    expect(problems).toEqual([{
      path: `wf.cwl:${pos(wf, 'scatter:')}`,
      message: `step "say": scatter needs ScatterFeatureRequirement, which neither the workflow nor the step declares: ${fix}`,
    }]);
  });

  it('takes it from the workflow\'s requirements (map or list form) or the step\'s', () => {
    for (const wf of [
      scattering('requirements: { ScatterFeatureRequirement: {} }\n'),
      scattering('requirements:\n  - class: ScatterFeatureRequirement\n'),
      scattering('', '    requirements: [{ class: ScatterFeatureRequirement }]\n'),
    ]) {
      const { workflow } = imp({ 'wf.cwl': wf, 'echo.cwl': ECHO });
      expect(workflow.steps['say']!.forEach).toBe('say.scatter');
    }
  });

  it('a hint, or the tool\'s own requirement, does not enable it: the problem names where it is', () => {
    const hinted = scattering('hints: { ScatterFeatureRequirement: {} }\n');
    const [hint] = problemsOf(() => imp({ 'wf.cwl': hinted, 'echo.cwl': ECHO }));
    expect(hint).toEqual({
      path: `wf.cwl:${pos(hinted, 'scatter:')}`,
      message: `step "say": scatter needs ScatterFeatureRequirement, which neither the workflow nor the step declares (it is only a hint at wf.cwl:${pos(hinted, 'ScatterFeatureRequirement')}, and CWL requires it under requirements): ${fix}`,
    });
    const tool = `${ECHO}requirements: { ScatterFeatureRequirement: {} }\n`;
    const [own] = problemsOf(() => imp({ 'wf.cwl': scattering(), 'echo.cwl': tool }));
    expect(own!.message).toBe(`step "say": scatter needs ScatterFeatureRequirement, which neither the workflow nor the step declares (the tool's at echo.cwl:${pos(tool, 'ScatterFeatureRequirement')} does not count: CWL reads it from the workflow or the step): ${fix}`);
  });
});
