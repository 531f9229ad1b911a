/** `joinflow test-pattern`: tests an EventBridge event pattern against an event, locally. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { UsageError } from '../model/errors.ts';
import type { EventPattern } from '../model/plan.ts';
import { compilePattern, MAX_PATTERN_LENGTH, PatternError } from '../model/pattern.ts';
import { parseJsonStrict } from '../adapters/local/plain-json.ts';

/** Help of `joinflow test-pattern`. */
export const TEST_PATTERN_HELP = `Usage: joinflow test-pattern --pattern JSON|@file --event JSON|@file

Tests an EventBridge event pattern against an event locally, with the same semantics as an
event bus rule (exact values, prefix, suffix, equals-ignore-case, anything-but, numeric, exists,
wildcard, cidr, $or). Prints "match" (exit 0) or "no match" (exit 1). An invalid pattern or
malformed JSON is reported with the offending field's path (exit 2).

Options:
  --pattern JSON|@file   the event pattern, as JSON text or @path to a JSON file (required)
  --event JSON|@file     the event, as JSON text or @path to a JSON file (required)
`;

/** Runs `joinflow test-pattern`; returns the exit code (0 match, 1 no match). */
export async function testPatternCommand(args: string[]): Promise<number> {
  let values: { pattern?: string | undefined; event?: string | undefined };
  try {
    ({ values } = parseArgs({
      args,
      options: { pattern: { type: 'string' }, event: { type: 'string' } },
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.pattern === undefined) throw new UsageError('--pattern is required');
  if (values.event === undefined) throw new UsageError('--event is required');
  const pattern = readJson('--pattern', values.pattern);
  const event = readJson('--event', values.event);
  if (typeof pattern !== 'object' || pattern === null || Array.isArray(pattern)) {
    throw new UsageError('--pattern must be a JSON object');
  }
  // TestEventPattern refuses an event that is not a JSON object as invalid, not as "no match".
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new UsageError('--event must be a JSON object (an event), not an array, string, number or null');
  }
  let test: (event: unknown) => boolean;
  try {
    test = compilePattern(pattern as EventPattern, { maxLength: MAX_PATTERN_LENGTH });
  } catch (error) {
    if (error instanceof PatternError) throw new UsageError(`--pattern: invalid ${error.message}`);
    throw error;
  }
  const matched = test(event);
  process.stdout.write(matched ? 'match\n' : 'no match\n');
  return matched ? 0 : 1;
}

/** Reads `JSON` or `@file` given to a flag; bad JSON or an unreadable file is a UsageError naming the flag. */
export function readJson(flag: string, raw: string): unknown {
  let text = raw;
  if (raw.startsWith('@')) {
    try {
      text = readFileSync(raw.slice(1), 'utf8');
    } catch (error) {
      throw new UsageError(`${flag} ${raw}: cannot read file: ${(error as Error).message}`);
    }
  }
  try {
    return parseJsonStrict(text);
  } catch (error) {
    throw new UsageError(`${flag}${raw.startsWith('@') ? ` ${raw}` : ''} is not valid JSON: ${(error as Error).message}`);
  }
}
