/**
 * Watches a folder and starts a classify-documents run for every document file that lands in it,
 * by sending "Run Requested" to `joinflow dev` (EventBridge's PutEvents API on localhost):
 *
 *   npx joinflow dev --port 4010 &
 *   node --import tsx workflows/classify-documents/watch.ts inbox/ --endpoint http://127.0.0.1:4010
 *
 * Options: --once (submit what is there, then exit), --interval MS (scan period, default 1000),
 * --token T (the token `joinflow dev --token` requires), --bus NAME (default "default").
 * Files are submitted once per version (name, size, mtime); see watch-folder.ts.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { documentInput, readyFiles, refusedForGood, runIdFor, scan, signature, type FileState } from './watch-folder.ts';

const WORKFLOW = 'classify-documents';

function client(endpoint: string, token: string | undefined): EventBridgeClient {
  // joinflow dev checks no signature, but the SDK wants credentials to sign with.
  const eb = new EventBridgeClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'joinflow-dev', secretAccessKey: 'joinflow-dev' } });
  if (token !== undefined) {
    eb.middlewareStack.add(
      (next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-joinflow-token'] = token;
        return next(args);
      },
      { step: 'build', name: 'joinflowDevToken' },
    );
  }
  return eb;
}

/** Sends one entry; returns why it was not accepted (and whether for good: see refusedForGood), or undefined. */
async function send(eb: EventBridgeClient, entry: PutEventsRequestEntry): Promise<{ problem: string; forGood: boolean } | undefined> {
  try {
    const out = await eb.send(new PutEventsCommand({ Entries: [entry] }));
    const result = out.Entries?.[0];
    if ((out.FailedEntryCount ?? 0) === 0 && result?.EventId) return undefined;
    return { problem: `PutEvents refused it: ${result?.ErrorCode ?? '?'} ${result?.ErrorMessage ?? ''}`, forGood: refusedForGood({ errorCode: result?.ErrorCode ?? 'InternalFailure' }) };
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    return { problem: `PutEvents failed: ${(error as Error).message}`, forGood: refusedForGood({ status }) };
  }
}

const OPTIONS = {
  endpoint: { type: 'string' },
  token: { type: 'string' },
  bus: { type: 'string', default: 'default' },
  once: { type: 'boolean', default: false },
  interval: { type: 'string', default: '1000' },
} as const;

async function main(): Promise<number> {
  const usage = 'usage: watch.ts <folder> --endpoint http://127.0.0.1:<port of joinflow dev> [--once] [--interval MS] [--token T] [--bus NAME]';
  let parsed: ReturnType<typeof parseArgs<{ allowPositionals: true; options: typeof OPTIONS }>>;
  try {
    parsed = parseArgs({ allowPositionals: true, options: OPTIONS });
  } catch (error) {
    // A misspelt option (--intervall) or one without its value: say which, not a stack trace.
    process.stderr.write(`watch.ts: ${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const interval = Number(values.interval);
  if (positionals.length !== 1 || !values.endpoint || !(interval >= 50)) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  const dir = path.resolve(positionals[0]!);
  // A folder to watch that is not there yet is created; one to read --once must exist.
  const folder = statSync(dir, { throwIfNoEntry: false });
  if (folder && !folder.isDirectory()) {
    process.stderr.write(`${positionals[0]}: not a folder\n`);
    return 2;
  }
  if (!folder && values.once) {
    process.stderr.write(`${positionals[0]}: no such folder\n`);
    return 2;
  }
  if (!folder) {
    mkdirSync(dir, { recursive: true });
    process.stderr.write(`created ${dir}\n`);
  }
  const eb = client(values.endpoint, values.token);
  const submitted = new Set<string>();
  // Watching, a file counts as written once two scans saw it unchanged; --once takes all at once.
  let previous: FileState[] | undefined = values.once ? undefined : [];
  let failures = 0;
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (!values.once) process.stderr.write(`watching ${dir} for .json and .txt documents (Ctrl-C stops)\n`);
  try {
    while (!stop) {
      let current: FileState[];
      try {
        current = scan(dir);
      } catch (error) {
        // The folder was removed (or made unreadable) while watched.
        process.stderr.write(`${dir}: cannot read the folder: ${(error as Error).message}\n`);
        return 1;
      }
      for (const f of readyFiles(current, previous, submitted)) {
        submitted.add(signature(f));
        let content: string;
        try {
          content = readFileSync(path.join(dir, f.name), 'utf8');
        } catch (error) {
          // Removed since the scan, or not readable: reported, and the watcher goes on.
          failures++;
          process.stderr.write(`skipped ${f.name}: cannot read it (${(error as Error).message})\n`);
          continue;
        }
        const doc = documentInput(f, content);
        if ('error' in doc) {
          failures++;
          process.stderr.write(`skipped ${doc.error}\n`);
          continue;
        }
        const runId = runIdFor(f);
        const detail = JSON.stringify({ workflow: WORKFLOW, runId, input: doc.input });
        const refused = await send(eb, { Source: 'joinflow', DetailType: 'Run Requested', Detail: detail, EventBusName: values.bus });
        if (refused !== undefined) {
          failures++;
          // Forgotten, so that the next scan tries again (joinflow dev may be restarting), unless
          // the entry itself was refused: then only a new version of the file is sent.
          if (!refused.forGood) submitted.delete(signature(f));
          process.stderr.write(`${f.name}: not submitted: ${refused.problem}${refused.forGood ? ' (sent again when the file changes)' : ''}\n`);
          continue;
        }
        process.stdout.write(`${JSON.stringify({ file: f.name, runId })}\n`);
      }
      if (values.once) break;
      previous = current;
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  } finally {
    eb.destroy();
  }
  return failures > 0 && values.once ? 1 : 0;
}

process.exitCode = await main();
