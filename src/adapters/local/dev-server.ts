/**
 * `joinflow dev`: a local stand-in for EventBridge's PutEvents API (AWS JSON 1.1 protocol) in
 * front of the embedded engine, so that the AWS SDK, the AWS CLI or anything that speaks
 * PutEvents can drive local workflows. Each accepted entry is published through the engine.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EventEnvelope } from '../../model/events.ts';
import { UsageError } from '../../model/errors.ts';
import type { EventBus } from '../../ports.ts';

/**
 * PutEvents' limits: entries per request and (by default) the total size of a request's entries,
 * counted as EventBridge counts it (see {@link putEventsEntrySize}), not as the JSON body's bytes.
 */
export const MAX_PUT_ENTRIES = 10;
export const DEFAULT_MAX_REQUEST_BYTES = 256 * 1024;
/**
 * The request body may be several times its entries' size (JSON escapes: botocore sends "é" as
 * `\u00e9`, 6 bytes for 2): the raw body is capped at this many times the entries' limit, plus
 * room for the envelope, only to protect the process.
 */
const BODY_FACTOR = 8;
const BODY_SLACK = 64 * 1024;

const PUT_EVENTS_TARGET = 'AWSEvents.PutEvents';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export type DevServerOptions = {
  /** The engine (or anything that publishes like it): outside events are logged when durable. */
  engine: Pick<EventBus, 'publish'>;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Required for hosts other than loopback; requests then need `Authorization: Bearer <token>` or `x-joinflow-token`. */
  token?: string;
  /** The largest total size of a request's entries, as EventBridge counts it (default 256 KB). */
  maxRequestBytes?: number;
  /** Why an event cannot be taken now (its entry fails with ThrottlingException, to be sent again); undefined to take it. */
  refuse?: (event: EventEnvelope) => string | undefined;
};

export type DevServer = {
  /** `http://HOST:PORT` (the endpoint to give an EventBridge client). */
  readonly url: string;
  close(): Promise<void>;
};

type ResultEntry = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

class ApiError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) {
    super(message);
  }
}

/** Starts the PutEvents server; resolves once it listens. */
export async function createDevServer(options: DevServerOptions): Promise<DevServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const token = options.token;
  if (token !== undefined && token.length === 0) throw new UsageError('dev server: the token must not be empty');
  if (!LOOPBACK.has(host) && token === undefined) {
    throw new UsageError(`dev server: binding to "${host}" exposes the engine beyond this machine; pass a token (--token) or bind to 127.0.0.1, ::1 or localhost`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`dev server: port must be 0..65535 (got ${port})`);
  if (!Number.isInteger(maxRequestBytes) || maxRequestBytes <= 0) throw new UsageError(`dev server: maxRequestBytes must be a positive integer (got ${maxRequestBytes})`);
  const bus = options.engine;
  const maxBodyBytes = maxRequestBytes * BODY_FACTOR + BODY_SLACK;
  // An oversized body is read (and dropped) to its end so that the client sees the error
  // response rather than a reset connection; beyond this the connection is cut.
  const drainLimit = maxBodyBytes * 4 + 1024 * 1024;

  const responses = new WeakMap<IncomingMessage, ServerResponse>();
  const server = createServer((req, res) => {
    responses.set(req, res);
    void handle(req, res).catch((error: unknown) => {
      const e = error instanceof ApiError ? error : new ApiError('InternalFailure', `internal error: ${(error as Error).message}`, 500);
      sendError(res, e);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (token !== undefined && !authorized(req, token)) {
      req.resume();
      throw new ApiError('AccessDeniedException', 'missing or wrong token: send "Authorization: Bearer <token>" or "x-joinflow-token: <token>"', 403);
    }
    // Without a token, only this machine may start runs. A web page can reach a loopback port too,
    // by DNS rebinding (its own name made to resolve to 127.0.0.1): its requests then name that
    // host, where every client on this machine names a loopback one.
    const named = req.headers.host;
    if (token === undefined && named !== undefined && !loopbackName(named)) {
      req.resume();
      throw new ApiError('AccessDeniedException', `request addressed to host ${JSON.stringify(named)}: joinflow dev without --token takes requests for 127.0.0.1, ::1 or localhost only (a web page could reach it by DNS rebinding): use one of them in the endpoint, or start dev with --token`, 403);
    }
    if (req.method !== 'POST') {
      req.resume();
      throw new ApiError('UnknownOperationException', `only POST is supported (got ${req.method ?? '?'})`);
    }
    const target = req.headers['x-amz-target'];
    if (target !== PUT_EVENTS_TARGET) {
      req.resume();
      throw new ApiError('UnknownOperationException', `unknown operation ${JSON.stringify(target ?? null)}: only ${PUT_EVENTS_TARGET} is supported`);
    }
    const body = await readBody(req);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new ApiError('SerializationException', 'the request body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ApiError('SerializationException', 'the request body must be a JSON object');
    const entries = (parsed as Record<string, unknown>)['Entries'];
    if (!Array.isArray(entries) || entries.length === 0) {
      throw new ApiError('ValidationException', "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must not be null and must have length greater than or equal to 1");
    }
    if (entries.length > MAX_PUT_ENTRIES) {
      throw new ApiError('ValidationException', `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${MAX_PUT_ENTRIES} (got ${entries.length})`);
    }
    const total = entries.reduce((n: number, entry: unknown) => n + putEventsEntrySize(entry), 0);
    if (total > maxRequestBytes) throw tooLarge();
    const now = new Date();
    const results: ResultEntry[] = [];
    const events: EventEnvelope[] = [];
    for (const entry of entries) {
      const outcome = toEnvelope(entry, now);
      const refused = 'ErrorCode' in outcome ? undefined : options.refuse?.(outcome);
      if ('ErrorCode' in outcome) {
        results.push(outcome);
      } else if (refused !== undefined) {
        results.push({ ErrorCode: 'ThrottlingException', ErrorMessage: refused });
      } else {
        events.push(outcome);
        results.push({ EventId: outcome.id });
      }
    }
    if (events.length > 0) await bus.publish(events);
    const failed = results.filter((r) => 'ErrorCode' in r).length;
    send(res, 200, { FailedEntryCount: failed, Entries: results });
  }

  function readBody(req: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > drainLimit) {
        // Answered before the body is read, then the connection is closed: the client gets the
        // error instead of a reset (once the answer is out, what it still sends is not read).
        reject(tooLarge());
        closeAfterAnswer(req);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > drainLimit) {
          reject(tooLarge());
          closeAfterAnswer(req);
        } else if (size <= maxBodyBytes) {
          chunks.push(chunk);
        }
      });
      req.on('end', () => (size > maxBodyBytes ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
      req.on('error', reject);
    });
  }

  /** Closes the connection once the answer has been written (`Connection: close` is set then). */
  function closeAfterAnswer(req: IncomingMessage): void {
    req.pause();
    const res = responses.get(req);
    res?.setHeader('connection', 'close');
    res?.once('finish', () => setTimeout(() => req.socket.destroy(), 200).unref());
  }

  const tooLarge = () => new ApiError('ValidationException', `Total size of the entries in the request is over the limit (${maxRequestBytes} bytes)`);

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      // The usual ones are the user's to fix: said as usage errors, not stack traces.
      if (error.code === 'EADDRINUSE') reject(new UsageError(`--port ${port}: ${host}:${port} is in use by another program (pick another port, or 0 for any free one)`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') reject(new UsageError(`--host ${host}: not an address of this machine (${error.code})`));
      else if (error.code === 'EACCES') reject(new UsageError(`--port ${port}: not allowed for this user (ports below 1024 need privileges)`));
      else reject(error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  let closed: Promise<void> | undefined;
  return {
    url,
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

const utf8 = (v: unknown): number => (typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : 0);

/**
 * An entry's size as EventBridge counts it: Time 14 bytes when present; Source, DetailType,
 * Detail and each of Resources their UTF-8 bytes. The same rule as `putEventsEntrySize` in
 * adapters/aws/eventbridge-bus.ts, restated here so that the local engine does not load the AWS SDK.
 */
export function putEventsEntrySize(entry: unknown): number {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 0;
  const e = entry as Record<string, unknown>;
  const resources = Array.isArray(e['Resources']) ? (e['Resources'] as unknown[]) : [];
  return (e['Time'] !== undefined && e['Time'] !== null ? 14 : 0) + utf8(e['Source']) + utf8(e['DetailType']) + utf8(e['Detail']) +
    resources.reduce((n: number, r) => n + utf8(r), 0);
}

/** One PutEvents entry -> an envelope, or the entry's error as the API reports it. */
function toEnvelope(entry: unknown, now: Date): EventEnvelope | { ErrorCode: string; ErrorMessage: string } {
  const invalid = (name: string, reason: string) => ({ ErrorCode: 'InvalidArgument', ErrorMessage: `Parameter ${name} is not valid. Reason: ${reason}` });
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return invalid('Entry', 'an entry must be an object.');
  const e = entry as Record<string, unknown>;
  for (const name of ['Source', 'DetailType', 'Detail'] as const) {
    const v = e[name];
    if (v === undefined || v === null) return invalid(name, `${name} is a required argument.`);
    if (typeof v !== 'string' || v.length === 0) return invalid(name, `${name} must be a non-empty string.`);
  }
  let detail: unknown;
  try {
    detail = JSON.parse(e['Detail'] as string);
  } catch {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed: it must be a JSON object.' };
  }
  let time = now;
  const t = e['Time'];
  if (t !== undefined && t !== null) {
    // The SDK sends epoch seconds; ISO strings are accepted too.
    time = typeof t === 'number' ? new Date(t * 1000) : typeof t === 'string' ? new Date(t) : new Date(NaN);
    if (Number.isNaN(time.getTime())) return invalid('Time', 'Time must be epoch seconds or an RFC 3339 time stamp.');
  }
  const resources = e['Resources'];
  if (resources !== undefined && resources !== null && (!Array.isArray(resources) || !resources.every((r) => typeof r === 'string'))) {
    return invalid('Resources', 'Resources must be a list of strings.');
  }
  return {
    id: randomUUID(),
    source: e['Source'] as string,
    'detail-type': e['DetailType'] as string,
    time: time.toISOString(),
    detail: detail as Record<string, unknown>,
    // Kept as EventBridge keeps them, so that patterns on `resources` match here as they do there.
    ...(Array.isArray(resources) ? { resources: resources as string[] } : {}),
  };
}

/** Whether a Host header names this machine's loopback: localhost (or a name under it), 127.x.x.x or ::1, with any port. */
function loopbackName(host: string): boolean {
  const name = (/^\[([^\]]*)\](?::\d*)?$/.exec(host)?.[1] ?? host.replace(/:\d*$/, '')).toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127(?:\.\d{1,3}){3}$/.test(name);
}

function authorized(req: IncomingMessage, token: string): boolean {
  const header = req.headers['authorization'];
  const bearer = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim())?.[1] : undefined;
  const alt = req.headers['x-joinflow-token'];
  return [bearer, typeof alt === 'string' ? alt : undefined].some((given) => given !== undefined && sameSecret(given, token));
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: ApiError): void {
  send(res, error.status, { __type: error.type, message: error.message }, { 'x-amzn-errortype': error.type });
}
