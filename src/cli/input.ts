/** `--input JSON|@file` parsing shared by the commands that start runs. */
import { readFileSync } from 'node:fs';
import { UsageError } from '../model/errors.ts';

/** The run input: JSON text, or `@path` to a JSON file; null when absent. */
export function parseInput(raw: string | undefined): unknown {
  if (raw === undefined) return null;
  let text = raw;
  if (raw.startsWith('@')) {
    try {
      text = readFileSync(raw.slice(1), 'utf8');
    } catch (error) {
      throw new UsageError(`--input ${raw}: cannot read file: ${(error as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--input${raw.startsWith('@') ? ` ${raw}` : ''} is not valid JSON: ${(error as Error).message}`);
  }
}
