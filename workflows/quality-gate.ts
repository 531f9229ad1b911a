// A choice: `measure` computes a series' signal-to-noise ratio; a clean series is published as it
// is, a noisy one is denoised first. The branch not taken is skipped step by step, and `report`
// runs after whichever branch ran (a skipped need gives it no result). Try:
//   npx joinflow run quality-gate                                   (the built-in noisy series: denoised)
//   npx joinflow run quality-gate --input '{"readings": [10, 10.1, 10, 10.2, 10.1, 10]}'   (clean: published)
import { fn, workflow } from 'joinflow';

const clean = { results: { measure: { snr: [{ numeric: ['>=', 10] }] } } };
const noisy = { results: { measure: { snr: [{ numeric: ['<', 10] }] } } };

export default workflow('quality-gate', 'publish a clean series as it is, denoise a noisy one first')
  .step('measure', fn('./handlers/quality-gate.ts', 'measure'))
  .step('publish', fn('./handlers/quality-gate.ts', 'publish'), { needs: ['measure'], when: clean })
  .step('denoise', fn('./handlers/quality-gate.ts', 'denoise'), { needs: ['measure'], when: noisy })
  .step('republish', fn('./handlers/quality-gate.ts', 'republish'), { needs: ['denoise'] })
  .step('report', fn('./handlers/quality-gate.ts', 'report'), { needs: ['publish', 'republish'] });
