/** Structured JSON logs for Lambda handlers: one line per entry, always with runId and step when known. */

/** Fields that tie a log line to a run. */
export type LogContext = { runId?: string; workflow?: string; step?: string; trigger?: string; attempt?: number; item?: number };

const LEVELS = { info: 0, warn: 1, error: 2, off: 3 } as const;
type Level = Exclude<keyof typeof LEVELS, 'off'>;

/** Writes one JSON log line (CloudWatch Logs parses it), unless JOINFLOW_LOG_LEVEL filters it out. */
export function log(level: Level, message: string, context: LogContext & Record<string, unknown> = {}): void {
  const threshold = LEVELS[(process.env['JOINFLOW_LOG_LEVEL'] ?? 'info') as keyof typeof LEVELS] ?? 0;
  if (LEVELS[level] < threshold) return;
  const line = JSON.stringify({ level, message, time: new Date().toISOString(), ...context });
  if (level === 'error') console.error(line);
  else console.log(line);
}
