/** Structured JSON logs for Lambda handlers: one line per entry, always with runId and step when known. */

/** Fields that tie a log line to a run. */
export type LogContext = { runId?: string; workflow?: string; step?: string; trigger?: string; attempt?: number; item?: number };

/** Writes one JSON log line (CloudWatch Logs parses it). */
export function log(level: 'info' | 'warn' | 'error', message: string, context: LogContext & Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, message, time: new Date().toISOString(), ...context });
  if (level === 'error') console.error(line);
  else console.log(line);
}
