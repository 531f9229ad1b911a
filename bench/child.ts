/** Runs one benchmark scenario in this process and prints its measurement as one JSON line. */
import { scenarios } from './scenarios.ts';

const name = process.argv[2] ?? '';
const scenario = scenarios[name];
if (!scenario) throw new Error(`unknown scenario "${name}" (have: ${Object.keys(scenarios).join(', ')})`);
const m = await scenario.run();
process.stdout.write(`${JSON.stringify(m)}\n`);
