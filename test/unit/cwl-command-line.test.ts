import { describe, expect, it } from 'vitest';
import { buildCommandLine, floatText } from '../../src/importers/cwl/command-line.ts';
import type { CommandBinding, CwlType, ToolSpec } from '../../src/importers/cwl/spec.ts';

const t = (base: CwlType['base'], depth = 0, extra: Partial<CwlType> = {}): CwlType => ({ base, depth, optional: false, ...extra });
const b = (position: number, extra: Partial<CommandBinding> = {}): CommandBinding => ({ position, separate: true, ...extra });
const file = (path: string) => ({ class: 'File', path, basename: path.split('/').at(-1), size: 1 });

function tool(partial: Partial<ToolSpec>): ToolSpec {
  return { baseCommand: ['tool'], arguments: [], inputs: [], outputs: [], successCodes: [0], env: {}, ...partial };
}

describe('buildCommandLine', () => {
  it('sorts bound inputs by position, then by name; unbound inputs stay off the command line', () => {
    const spec = tool({
      inputs: [
        { id: 'zeta', type: t('string'), binding: b(1) },
        { id: 'alpha', type: t('string'), binding: b(1) },
        { id: 'first', type: t('int'), binding: b(-1) },
        { id: 'last', type: t('File'), binding: b(10) },
        { id: 'hidden', type: t('string') },
      ],
    });
    const argv = buildCommandLine(spec, { zeta: 'z', alpha: 'a', first: 7, last: file('/data/in.txt'), hidden: 'no' });
    expect(argv).toEqual(['tool', '7', 'a', 'z', '/data/in.txt']);
  });

  it('puts literal arguments before inputs at the same position, in their own order', () => {
    const spec = tool({
      baseCommand: ['bwa', 'mem'],
      arguments: [
        { position: 1, prefix: '-t', separate: true, value: '2' },
        { position: 0, separate: true, value: '-v' },
        { position: 1, separate: true, value: '-M' },
      ],
      inputs: [{ id: 'k', type: t('int'), binding: b(1, { prefix: '-k' }) }, { id: 'ref', type: t('File'), binding: b(2) }],
    });
    expect(buildCommandLine(spec, { k: 15, ref: file('/r.fa') })).toEqual(['bwa', 'mem', '-v', '-t', '2', '-M', '-k', '15', '/r.fa']);
  });

  it('joins prefix and value with separate: false, for inputs and arguments', () => {
    const spec = tool({
      arguments: [{ position: 0, prefix: '--mode=', separate: false, value: 'fast' }],
      inputs: [{ id: 'key', type: t('string'), binding: b(1, { prefix: '--key=', separate: false }) }, { id: 'n', type: t('int'), binding: b(2, { prefix: '-n' }) }],
    });
    expect(buildCommandLine(spec, { key: '1,1nr', n: 3 })).toEqual(['tool', '--mode=fast', '--key=1,1nr', '-n', '3']);
  });

  it('adds a boolean prefix only when true, and nothing for null or missing optional inputs', () => {
    const spec = tool({
      inputs: [
        { id: 'verbose', type: t('boolean'), binding: b(1, { prefix: '-v' }) },
        { id: 'quiet', type: t('boolean'), binding: b(1, { prefix: '-q' }) },
        { id: 'bare', type: t('boolean'), binding: b(1) },
        { id: 'opt', type: t('string', 0, { optional: true }), binding: b(2, { prefix: '--opt' }) },
        { id: 'gone', type: t('int', 0, { optional: true }), binding: b(2, { prefix: '--gone' }) },
      ],
    });
    expect(buildCommandLine(spec, { verbose: true, quiet: false, bare: true, opt: null })).toEqual(['tool', '-v']);
  });

  it('spreads arrays after one prefix, joins them with itemSeparator, and binds each item with the items binding', () => {
    const spec = tool({
      inputs: [
        { id: 'a_files', type: t('File', 1), binding: b(1, { prefix: '-i' }) },
        { id: 'b_sizes', type: t('int', 1), binding: b(1, { prefix: '-I', itemSeparator: ',' }) },
        { id: 'c_tags', type: t('string', 1, { itemBinding: b(0, { prefix: '-B=', separate: false }) }), binding: b(1) },
        { id: 'd_plain', type: t('string', 1), binding: b(2) },
      ],
    });
    const argv = buildCommandLine(spec, { a_files: [file('/x'), file('/y')], b_sizes: [1000, 250], c_tags: ['p', 'q'], d_plain: ['m', 'n'] });
    expect(argv).toEqual(['tool', '-i', '/x', '/y', '-I', '1000,250', '-B=p', '-B=q', 'm', 'n']);
  });

  it('keys each item of an array whose parameter has no binding of its own by its index, as CWL and cwltool do', () => {
    // The argv cwltool 3.1 builds for this tool (printf '%s|' as baseCommand): without a
    // position of the parameter, item n sorts at position n, among the other bindings.
    const spec = tool({
      arguments: [
        { value: 'A0', position: 0, separate: true },
        { value: 'A1', position: 1, separate: true },
        { value: 'Am', position: -1, separate: true },
      ],
      inputs: [
        { id: 'xs', type: t('string', 1, { itemBinding: b(2) }) },
        { id: 'ys', type: t('int', 1, { itemBinding: b(0, { prefix: '-y', separate: false }) }) },
        { id: 'zs', type: t('string', 1, { itemBinding: b(-2, { prefix: '-z' }) }) },
        { id: 'out', type: t('string'), binding: b(1) },
        { id: 'b', type: t('string'), binding: b(0) },
        { id: 'none', type: t('string', 1, { optional: true, itemBinding: b(0, { prefix: '-n' }) }) },
      ],
    });
    const argv = buildCommandLine(spec, { xs: ['x0', 'x1', 'x2', 'x3'], ys: [10, 11, 12], zs: ['z0', 'z1'], out: 'OUT', b: 'B', none: null });
    expect(argv.slice(1).join('|')).toBe('Am|-z|z0|A0|-y10|x0|B|-z|z1|-y11|A1|x1|OUT|-y12|x2|x3');
  });

  it('adds nothing for an empty array, not even its prefix', () => {
    const spec = tool({ inputs: [{ id: 'xs', type: t('string', 1), binding: b(1, { prefix: '-x' }) }, { id: 'ys', type: t('string', 1), binding: b(1, { prefix: '-y', itemSeparator: ',' }) }] });
    expect(buildCommandLine(spec, { xs: [], ys: [] })).toEqual(['tool']);
  });

  it('passes values through as separate arguments: no shell, no word splitting', () => {
    const spec = tool({ inputs: [{ id: 's', type: t('string'), binding: b(1, { prefix: '-m' }) }, { id: 'f', type: t('float'), binding: b(2) }] });
    expect(buildCommandLine(spec, { s: 'two words; rm -rf $HOME', f: 0.5 })).toEqual(['tool', '-m', 'two words; rm -rf $HOME', '0.5']);
  });

  it('writes float and double inputs as the reference runner does: 2.0, not 2', () => {
    const spec = tool({
      inputs: [
        { id: 'a_scale', type: t('double'), binding: b(1, { prefix: '--scale' }) },
        { id: 'b_ratio', type: t('float'), binding: b(2, { prefix: '-r', separate: false }) },
        { id: 'c_weights', type: t('double', 1), binding: b(3, { prefix: '-w', itemSeparator: ',' }) },
        { id: 'd_steps', type: t('float', 1, { itemBinding: b(0, { prefix: '-s' }) }), binding: b(4) },
        { id: 'e_count', type: t('int'), binding: b(5) },
        { id: 'f_label', type: t('string'), binding: b(6) },
      ],
    });
    const argv = buildCommandLine(spec, { a_scale: 2, b_ratio: 0.5, c_weights: [1, 0.25, 1e-5], d_steps: [3, 1e16], e_count: 2, f_label: '2' });
    expect(argv).toEqual(['tool', '--scale', '2.0', '-r0.5', '-w', '1.0,0.25,1e-05', '-s', '3.0', '-s', '1e+16', '2', '2']);
  });
});

describe('floatText', () => {
  // Each expected text is what Python 3's str(float) gives for the same number (cwltool's text).
  it.each([
    [2, '2.0'], [-3, '-3.0'], [0, '0.0'], [-0, '-0.0'], [100, '100.0'], [0.5, '0.5'], [0.1, '0.1'],
    [123456789.125, '123456789.125'], [9999999999999998, '9999999999999998.0'],
    [1e-4, '0.0001'], [0.0001234, '0.0001234'], [-0.00012, '-0.00012'],
    [1e-5, '1e-05'], [1.5e-5, '1.5e-05'], [1e-7, '1e-07'], [5e-324, '5e-324'],
    [1e16, '1e+16'], [1.5e16, '1.5e+16'], [1e21, '1e+21'], [1.7976931348623157e308, '1.7976931348623157e+308'],
  ])('%s is %s', (x, text) => {
    expect(floatText(x)).toBe(text);
  });
});
