import { Readable } from 'node:stream';
import { ERROR_STATUS, FlywheelError, type ErrorCode } from '../core/index.js';

/** Where a Flywheel (or MLflow) server is and how to talk to it. */
export interface HttpTransportOptions {
  /** The server's base URL, e.g. `http://localhost:5000`. */
  baseUrl: string;
  /** Bearer token; default FLYWHEEL_TRACKING_TOKEN, then MLFLOW_TRACKING_TOKEN. */
  token?: string;
  /** Basic auth; default MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD. */
  username?: string;
  password?: string;
  /** Per attempt; default MLFLOW_HTTP_REQUEST_TIMEOUT seconds, else 120 s. */
  timeoutMs?: number;
  /** Retries of a retryable failure; default MLFLOW_HTTP_REQUEST_MAX_RETRIES, else 5. */
  maxRetries?: number;
  /** First retry delay, doubled each retry (capped at 30 s); default 500 ms. */
  backoffMs?: number;
  /** Replaces global fetch (tests, proxies). */
  fetch?: typeof fetch;
}

export type QueryValue = string | number | boolean | undefined | readonly (string | number)[];

export interface RequestOptions {
  /** GET/DELETE parameters; arrays become repeated keys (`?run_ids=a&run_ids=b`). */
  query?: Record<string, QueryValue>;
  /** A JSON body (sent with `Content-Type: application/json`). */
  json?: unknown;
  /** A raw body; a factory so a retry can start the upload again. */
  body?: () => Readable | Buffer;
  contentType?: string;
  /**
   * May this call be repeated when the outcome is unknown (a network error, 502/503/504)? Non-idempotent
   * calls are only retried when the server certainly did nothing: 429, or a refused connection.
   */
  idempotent: boolean;
  /** A body that cannot be sent twice (a caller's stream): no retry at all. */
  noRetry?: boolean;
  /** Extra headers for this call (e.g. `x-flywheel-user`). */
  headers?: Record<string, string>;
}

const RETRY_STATUSES_IDEMPOTENT = new Set([429, 502, 503, 504]);
const NEVER_SENT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * HTTP with MLflow's habits: auth headers from the environment, a timeout per attempt, retries with
 * exponential backoff, and error bodies turned back into `FlywheelError`s with the server's error code.
 */
export class HttpTransport {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly backoffMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: HttpTransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.headers = authHeaders(options);
    this.timeoutMs = options.timeoutMs ?? envNumber('MLFLOW_HTTP_REQUEST_TIMEOUT', 120) * 1000;
    this.maxRetries = options.maxRetries ?? envNumber('MLFLOW_HTTP_REQUEST_MAX_RETRIES', 5);
    this.backoffMs = options.backoffMs ?? 500;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** A JSON call; answers the decoded body (`{}` for an empty one). */
  async json<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const res = await this.request(method, path, options);
    const text = await res.text();
    if (text.trim() === '') return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new FlywheelError('INTERNAL_ERROR', `${method} ${path}: the server answered ${res.status} with a body that is not JSON: ${snippet(text)}`);
    }
  }

  /** The raw response of a successful call (the body is left for the caller to read or stream). */
  async request(method: string, path: string, options: RequestOptions): Promise<Response> {
    const url = this.url(path, options.query);
    const maxRetries = options.noRetry ? 0 : this.maxRetries;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetchImpl(url, this.init(method, options));
      } catch (e) {
        const err = networkError(method, url, e, this.timeoutMs);
        const neverSent = NEVER_SENT_ERRORS.has(errorCode(e) ?? '');
        if ((options.idempotent || neverSent) && attempt < maxRetries) {
          await sleep(this.delay(attempt));
          continue;
        }
        throw err;
      }
      if (res.ok) return res;
      const retryable = res.status === 429 || (options.idempotent && RETRY_STATUSES_IDEMPOTENT.has(res.status));
      if (retryable && attempt < maxRetries) {
        await res.body?.cancel().catch(() => {});
        await sleep(retryAfterMs(res) ?? this.delay(attempt));
        continue;
      }
      throw await errorFromResponse(method, path, res);
    }
  }

  url(path: string, query?: Record<string, QueryValue>): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) qs.append(k, String(x));
      else qs.append(k, String(v));
    }
    const s = qs.toString();
    return `${this.baseUrl}${path}${s ? `?${s}` : ''}`;
  }

  private init(method: string, options: RequestOptions): RequestInit {
    const headers: Record<string, string> = { ...this.headers, ...options.headers };
    let body: RequestInit['body'];
    let duplex: 'half' | undefined;
    if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.body) {
      headers['Content-Type'] = options.contentType ?? 'application/octet-stream';
      const raw = options.body();
      if (Buffer.isBuffer(raw)) body = raw;
      else {
        body = Readable.toWeb(raw) as unknown as ReadableStream;
        duplex = 'half';
      }
    }
    return { method, headers, body, duplex, signal: AbortSignal.timeout(this.timeoutMs) };
  }

  private delay(attempt: number): number {
    const base = Math.min(this.backoffMs * 2 ** attempt, 30_000);
    return base / 2 + Math.random() * (base / 2);
  }
}

function authHeaders(o: HttpTransportOptions): Record<string, string> {
  const env = process.env;
  const token = o.token ?? env.FLYWHEEL_TRACKING_TOKEN ?? env.MLFLOW_TRACKING_TOKEN;
  if (token) return { Authorization: `Bearer ${token}` };
  const user = o.username ?? env.MLFLOW_TRACKING_USERNAME;
  const pass = o.password ?? env.MLFLOW_TRACKING_PASSWORD;
  if (user !== undefined && pass !== undefined) {
    return { Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
  }
  return {};
}

function envNumber(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : fallback;
}

function retryAfterMs(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (!v) return undefined;
  const secs = Number(v);
  return Number.isFinite(secs) ? Math.min(secs * 1000, 60_000) : undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function errorCode(e: unknown): string | undefined {
  const err = e as { code?: string; cause?: { code?: string } };
  return err?.cause?.code ?? err?.code;
}

function networkError(method: string, url: string, e: unknown, timeoutMs: number): FlywheelError {
  const name = (e as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new FlywheelError('DEADLINE_EXCEEDED', `${method} ${url}: no answer within ${timeoutMs} ms`, { cause: e });
  }
  const cause = (e as { cause?: Error })?.cause?.message ?? (e as Error)?.message ?? String(e);
  return new FlywheelError('TEMPORARILY_UNAVAILABLE', `${method} ${url}: could not reach the server (${cause})`, { cause: e });
}

/** Non-JSON errors (a proxy's HTML page, a wrong URL) keep their status as the nearest MLflow code. */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 401: return 'UNAUTHENTICATED';
    case 403: return 'PERMISSION_DENIED';
    case 404: return 'ENDPOINT_NOT_FOUND';
    case 409: return 'RESOURCE_CONFLICT';
    case 429: return 'REQUEST_LIMIT_EXCEEDED';
    case 501: return 'NOT_IMPLEMENTED';
    case 503: return 'TEMPORARILY_UNAVAILABLE';
    case 504: return 'DEADLINE_EXCEEDED';
    default: return status >= 400 && status < 500 ? 'BAD_REQUEST' : 'INTERNAL_ERROR';
  }
}

export async function errorFromResponse(method: string, path: string, res: Response): Promise<FlywheelError> {
  const text = await res.text().catch(() => '');
  let body: { error_code?: unknown; message?: unknown } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (body && typeof body.error_code === 'string') {
    const code = body.error_code in ERROR_STATUS ? (body.error_code as ErrorCode) : codeForStatus(res.status);
    const message = typeof body.message === 'string' ? body.message : `${body.error_code}`;
    return new FlywheelError(code, message);
  }
  const detail = text.trim() ? `: ${snippet(text)}` : '';
  return new FlywheelError(
    codeForStatus(res.status),
    `${method} ${path}: the server answered ${res.status} ${res.statusText}${detail}`.trimEnd(),
  );
}

function snippet(text: string): string {
  const plain = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return plain.length > 200 ? `${plain.slice(0, 200)}…` : plain;
}
