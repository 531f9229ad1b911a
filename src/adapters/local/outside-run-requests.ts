/** What the embedded engine makes of a Run Requested published from outside (PutEvents to `joinflow dev`, engine.publish). */
import { visible } from '../../model/errors.ts';
import { DetailType, JOINFLOW_SOURCE, requestedRunId, type EventEnvelope, type RunRequested } from '../../model/events.ts';
import { oversizeReason } from './engine-support.ts';

/** The most distinct sources warned about by one engine; then one line says the others are not. */
export const MAX_WARNED_SOURCES = 100;

/**
 * The runs outside events ask to start: those of each Run Requested of source "joinflow" that the
 * processor will not dead-letter (a bad run id, over `maxPayloadBytes`), the event id naming a
 * run without a runId (an event id that cannot name a run is a bad run id too). The processor
 * takes no other source's Run Requested (on AWS the stage's rules do not match it either): such
 * an event starts nothing, and `warn` is told so once per source (those told are kept in
 * `warned`), naming the source and detail-type that start runs. Subscriptions whose pattern
 * matches it still get it.
 */
export function runsRequested(events: readonly EventEnvelope[], maxPayloadBytes: number, warned: Set<string>, warn: (line: string) => void = stderr): Array<{ runId: string; workflow: string }> {
  const runs: Array<{ runId: string; workflow: string }> = [];
  for (const e of events) {
    if (e['detail-type'] !== DetailType.RunRequested) continue;
    // Not a string: a malformed envelope, which the processor dead-letters, saying why.
    if (e.source !== JOINFLOW_SOURCE) {
      if (typeof e.source === 'string') foreignSource(e.source, warned, warn);
      continue;
    }
    // Without a runId the event id names the run: the processor dead-letters one that cannot.
    const runId = requestedRunId(e);
    if (runId !== undefined && !oversizeReason(e, maxPayloadBytes)) runs.push({ runId, workflow: (e.detail as RunRequested).workflow });
  }
  return runs;
}

function foreignSource(source: string, warned: Set<string>, warn: (line: string) => void): void {
  if (warned.has(source) || warned.size > MAX_WARNED_SOURCES) return;
  warned.add(source);
  if (warned.size > MAX_WARNED_SOURCES) {
    warn(`joinflow: "${DetailType.RunRequested}" events of more than ${MAX_WARNED_SOURCES} sources other than "${JOINFLOW_SOURCE}" have started no run; the first ${MAX_WARNED_SOURCES} were reported, further ones are not`);
    return;
  }
  warn(
    `joinflow: a "${DetailType.RunRequested}" event of source ${visible(JSON.stringify(source))} starts no run: runs are started by events of source "${JOINFLOW_SOURCE}" ` +
      `with detail-type "${DetailType.RunRequested}" and detail {"workflow", "runId"?, "input"?} (subscriptions whose pattern matches the event still get it). ` +
      'Said once for this source',
  );
}

function stderr(line: string): void {
  process.stderr.write(`${line}\n`);
}
