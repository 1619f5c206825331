import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import pino from 'pino';
import type { InferenceLogSink, InferenceLogStats, InferenceRecord } from './contracts.js';
import { safeJson, SqlServingStore, toInferenceLogEntry, type InferenceLogEntry } from './sql-serving-store.js';

/**
 * The inference log's shipping side: `record()` puts a prediction in a bounded in-memory queue and returns
 * (synchronous, O(1), never throws); a background loop ships it in batches to a destination (the Flywheel
 * server, the store itself, or a JSONL file) and retries with exponential backoff while the records wait.
 * When the queue is full, the incoming record is dropped (the queued, older ones are kept, so what arrives
 * is a contiguous prefix of the traffic): each drop is counted in `stats().dropped` and warned about.
 */

/** Where batches go. `write` either stores every record it does not reject, or throws (and is retried). */
export interface InferenceLogDestination {
  /** For logs: `http://host:5000`, `sqlite:/path`, `/path/log.jsonl`. */
  readonly description: string;
  /** Stores the batch; answers how many records were refused for good (e.g. a 400 from the server). */
  write(records: InferenceRecord[]): Promise<{ rejected: number }>;
  close(): Promise<void>;
}

/** The subset of a pino logger the sink uses. */
export interface SinkLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface InferenceLogSinkOptions {
  /**
   * `http(s)://…` → the Flywheel server's `POST /api/v1/inference-log`; a SQLite path, `sqlite:` or
   * `postgresql://` URI → that store directly; unset → a JSONL file (`file`).
   */
  trackingUri?: string;
  /** The JSONL file when no tracking URI is given; default `./flywheel-inference.jsonl`. */
  file?: string;
  /** Records per shipped batch (default 500); a full batch ships at once, a partial one every `flushIntervalMs`. */
  batchSize?: number;
  /** Default 1000 ms. */
  flushIntervalMs?: number;
  /** Records kept waiting at most (default 100,000); beyond, new records are dropped (counted, logged). */
  maxBufferedRecords?: number;
  /** First retry delay after a failed shipment, doubled each failure up to `retryMaxMs` (defaults 500 ms, 30 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** How long `close()` keeps trying to ship what is left (default 10 s); what remains is counted as dropped. */
  closeTimeoutMs?: number;
  /** HTTP: per-request timeout (default 30 s), request body target (default 4 MiB), bearer token. */
  requestTimeoutMs?: number;
  maxRequestBytes?: number;
  /** Default FLYWHEEL_TRACKING_TOKEN, then MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME/PASSWORD basic auth). */
  token?: string;
  /** Warnings of one kind (overflow, failed shipment) are logged at most once per this interval (default 10 s). */
  warnIntervalMs?: number;
  logger?: SinkLogger;
  fetch?: typeof fetch;
  /** A destination of your own instead of the above. */
  destination?: InferenceLogDestination;
}

export interface InferenceLogSinkStats extends InferenceLogStats {
  /** Of `dropped`: records the destination refused for good (invalid), and records still queued at close. */
  rejected: number;
  abandonedAtClose: number;
  /** The last shipping error, until a shipment succeeds. */
  lastError?: string;
}

export interface InferenceLogSinkHandle extends InferenceLogSink {
  readonly destination: string;
  stats(): InferenceLogSinkStats;
}

export const DEFAULT_INFERENCE_LOG_FILE = './flywheel-inference.jsonl';

export function createInferenceLogSink(options: InferenceLogSinkOptions = {}): InferenceLogSinkHandle {
  const logger = options.logger ?? pino({ name: 'flywheel-inference-log' }, pino.destination(2));
  const destination = options.destination ?? destinationFor(options, logger);
  return new BatchingInferenceLogSink(destination, options, logger);
}

/** The destination a tracking URI names (see `InferenceLogSinkOptions.trackingUri`). */
export function destinationFor(options: InferenceLogSinkOptions, logger: SinkLogger): InferenceLogDestination {
  const uri = options.trackingUri;
  if (uri && /^https?:\/\//i.test(uri)) {
    return httpDestination(uri, {
      token: options.token,
      timeoutMs: options.requestTimeoutMs,
      maxRequestBytes: options.maxRequestBytes,
      fetch: options.fetch,
      logger,
    });
  }
  if (uri) return storeDestination(uri, logger);
  return fileDestination(options.file ?? DEFAULT_INFERENCE_LOG_FILE, logger);
}

/** A fixed-capacity FIFO: push, peek and drop from the head, all without moving elements. */
class RecordQueue {
  private readonly items: (InferenceRecord | undefined)[];
  private head = 0;
  size = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<InferenceRecord | undefined>(capacity);
  }

  push(r: InferenceRecord): boolean {
    if (this.size >= this.capacity) return false;
    this.items[(this.head + this.size) % this.capacity] = r;
    this.size++;
    return true;
  }

  peek(n: number): InferenceRecord[] {
    const out: InferenceRecord[] = [];
    for (let i = 0; i < Math.min(n, this.size); i++) out.push(this.items[(this.head + i) % this.capacity]!);
    return out;
  }

  drop(n: number): void {
    for (let i = 0; i < n && this.size > 0; i++) {
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

class BatchingInferenceLogSink implements InferenceLogSinkHandle {
  private readonly queue: RecordQueue;
  private readonly batchSize: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly closeTimeoutMs: number;
  private readonly warnIntervalMs: number;
  private readonly timer: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private inflight?: Promise<void>;
  private kickScheduled = false;
  private abandoned = false;
  private closing?: Promise<void>;
  private backoffMs = 0;
  private retryAt = 0;
  private readonly counts = { shipped: 0, dropped: 0, failedAttempts: 0, rejected: 0, abandonedAtClose: 0 };
  private lastError?: string;
  private readonly lastWarn = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly dest: InferenceLogDestination,
    options: InferenceLogSinkOptions,
    private readonly logger: SinkLogger,
  ) {
    this.queue = new RecordQueue(positive(options.maxBufferedRecords, 100_000));
    this.batchSize = positive(options.batchSize, 500);
    this.retryInitialMs = positive(options.retryInitialMs, 500);
    this.retryMaxMs = positive(options.retryMaxMs, 30_000);
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.warnIntervalMs = options.warnIntervalMs ?? 10_000;
    this.timer = setInterval(() => this.kick(), positive(options.flushIntervalMs, 1000));
    this.timer.unref();
  }

  get destination(): string {
    return this.dest.description;
  }

  record(entry: InferenceRecord): void {
    try {
      if (this.closing) {
        this.counts.dropped++;
        this.warn('closed', { dropped: this.counts.dropped }, 'inference log: a record arrived after close() and was dropped');
        return;
      }
      if (!this.queue.push(entry)) {
        this.counts.dropped++;
        this.warn(
          'overflow',
          { dropped: this.counts.dropped, capacity: this.queue.capacity, destination: this.dest.description },
          `inference log: buffer full (${this.queue.capacity} records waiting); new records are being dropped`,
        );
        return;
      }
      if (this.queue.size >= this.batchSize && !this.inflight && !this.kickScheduled) {
        // Ship on the next turn of the event loop: the caller's request is not held up by serialisation.
        this.kickScheduled = true;
        setImmediate(() => {
          this.kickScheduled = false;
          this.kick();
        }).unref();
      }
    } catch {
      // record() never throws into the serving path; a failure here is a bug we cannot report better.
    }
  }

  stats(): InferenceLogSinkStats {
    return { queued: this.queue.size, ...this.counts, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  async flush(): Promise<void> {
    if (this.inflight) await this.inflight;
    if (this.queue.size === 0) return;
    this.retryAt = 0;
    this.kick(true);
    await this.inflight;
  }

  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    const deadline = Date.now() + this.closeTimeoutMs;
    for (;;) {
      if (this.inflight) await Promise.race([this.inflight, sleep(deadline - Date.now())]);
      if (this.queue.size === 0 || Date.now() >= deadline || this.inflight) break;
      if (this.retryAt > Date.now()) await sleep(Math.min(this.retryAt, deadline) - Date.now());
      if (Date.now() >= deadline) break;
      this.kick(true);
    }
    const left = this.queue.size;
    if (left > 0) {
      // A shipment still in flight counts as dropped too, even should it land later.
      this.abandoned = true;
      this.queue.drop(left);
      this.counts.dropped += left;
      this.counts.abandonedAtClose += left;
      this.logger.error(
        { dropped: left, destination: this.dest.description, lastError: this.lastError },
        `inference log: ${left} records could not be shipped within ${this.closeTimeoutMs} ms of close() and were dropped`,
      );
    }
    await this.dest.close().catch((e: unknown) => this.logger.warn({ err: e }, 'inference log: closing the destination failed'));
  }

  /** Starts a shipping loop unless one runs or a retry is not due yet (`force` still respects a running one). */
  private kick(force = false): void {
    if (this.inflight || this.queue.size === 0) return;
    if (!force && Date.now() < this.retryAt) return;
    this.inflight = this.drain().finally(() => {
      this.inflight = undefined;
    });
  }

  /** Ships batch after batch until the queue is empty or a shipment fails (then retried after a backoff). */
  private async drain(): Promise<void> {
    while (this.queue.size > 0) {
      // A backlog (after an outage, or under load) drains in bigger shipments: fewer commits per record.
      const batch = this.queue.peek(this.queue.size > this.batchSize ? this.batchSize * 4 : this.batchSize);
      let rejected: number;
      try {
        ({ rejected } = await this.dest.write(batch));
      } catch (e) {
        this.failed(e);
        return;
      }
      if (this.abandoned) return;
      // Only this loop removes from the head, and record() only appends: the batch is still the head.
      this.queue.drop(batch.length);
      this.counts.shipped += batch.length - rejected;
      this.counts.rejected += rejected;
      this.counts.dropped += rejected;
      this.backoffMs = 0;
      this.retryAt = 0;
      this.lastError = undefined;
    }
  }

  private failed(e: unknown): void {
    this.counts.failedAttempts++;
    this.backoffMs = this.backoffMs === 0 ? this.retryInitialMs : Math.min(this.backoffMs * 2, this.retryMaxMs);
    const delay = this.backoffMs / 2 + Math.random() * (this.backoffMs / 2);
    this.retryAt = Date.now() + delay;
    this.lastError = (e as Error)?.message ?? String(e);
    this.warn(
      'failed',
      { destination: this.dest.description, queued: this.queue.size, failedAttempts: this.counts.failedAttempts, retryInMs: Math.round(delay) },
      `inference log: shipping failed (${this.lastError}); records stay queued and are retried`,
    );
    if (!this.closing) {
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.kick(), delay + 1);
      this.retryTimer.unref();
    }
  }

  /** At most one warning of a kind per interval; the next one says how many were held back. */
  private warn(kind: string, obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const last = this.lastWarn.get(kind);
    if (last && now - last.at < this.warnIntervalMs) {
      last.suppressed++;
      return;
    }
    this.lastWarn.set(kind, { at: now, suppressed: 0 });
    this.logger.warn(last?.suppressed ? { ...obj, suppressedWarnings: last.suppressed } : obj, msg);
  }
}

function positive(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : fallback;
}

// ---- destinations ----

class RejectedError extends Error {}

/** JSON of a record, or undefined (logged) when it cannot be written at all (a cycle, a throwing getter). */
function serialize(value: unknown, r: InferenceRecord, logger?: SinkLogger): string | undefined {
  try {
    return safeJson(value);
  } catch (e) {
    logger?.error({ requestId: r?.requestId, err: (e as Error)?.message }, 'inference log: a record cannot be written as JSON; it is dropped');
    return undefined;
  }
}

export interface HttpDestinationOptions {
  token?: string;
  timeoutMs?: number;
  /** Target request body size; batches are split to stay under it (default 4 MiB). */
  maxRequestBytes?: number;
  fetch?: typeof fetch;
  logger?: SinkLogger;
}

/** The server refuses bodies over 32 MiB; one record beyond this is refused here, not retried forever. */
const MAX_RECORD_BYTES = 30 * 1024 * 1024;
/** Below the server's per-request caps (5,000 records, 200,000 rows; see INFERENCE_LOG_LIMITS). */
const MAX_RECORDS_PER_REQUEST = 5000;
const MAX_ROWS_PER_REQUEST = 100_000;

/** `POST {baseUrl}/api/v1/inference-log`. A batch the server refuses (400, 413, 422) is split to isolate the bad records. */
export function httpDestination(baseUrl: string, options: HttpDestinationOptions = {}): InferenceLogDestination {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/v1/inference-log`;
  const headers = { 'content-type': 'application/json', ...authHeaders(options.token) };
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBytes = options.maxRequestBytes ?? 4 * 1024 * 1024;
  const fetchImpl = options.fetch ?? fetch;

  async function post(lines: string[]): Promise<void> {
    const res = await fetchImpl(url, {
      method: 'POST',
      headers,
      body: `{"records":[${lines.join(',')}]}`,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text().catch(() => '');
    if (res.ok) return;
    const message = `${url} answered ${res.status}: ${text.slice(0, 300)}`;
    // Only a refusal of the content is final; auth, routing and overload errors are retried (records kept).
    if (res.status === 400 || res.status === 413 || res.status === 422) throw new RejectedError(message);
    throw new Error(message);
  }

  /** Sends, splitting a refused batch in halves until the refused records are alone; answers how many were refused. */
  async function sendOrBisect(lines: string[]): Promise<number> {
    try {
      await post(lines);
      return 0;
    } catch (e) {
      if (!(e instanceof RejectedError)) throw e;
      if (lines.length === 1) {
        options.logger?.error({ reason: e.message }, 'inference log: the server refused a record; it is dropped');
        return 1;
      }
      const mid = Math.ceil(lines.length / 2);
      return (await sendOrBisect(lines.slice(0, mid))) + (await sendOrBisect(lines.slice(mid)));
    }
  }

  return {
    description: baseUrl,
    async write(records) {
      let rejected = 0;
      let chunk: string[] = [];
      let bytes = 0;
      let rows = 0;
      for (const r of records) {
        const line = serialize(toInferenceLogEntry(r), r, options.logger);
        if (line === undefined) {
          rejected++;
          continue;
        }
        const size = Buffer.byteLength(line);
        const n = Math.max(1, r.inputs.length, r.outputs.length);
        if (size > MAX_RECORD_BYTES || n > MAX_ROWS_PER_REQUEST) {
          rejected++;
          options.logger?.error({ requestId: r.requestId, bytes: size, rows: n }, 'inference log: a record is too large to ship; it is dropped');
          continue;
        }
        if (chunk.length && (bytes + size > maxBytes || rows + n > MAX_ROWS_PER_REQUEST || chunk.length >= MAX_RECORDS_PER_REQUEST)) {
          rejected += await sendOrBisect(chunk);
          chunk = [];
          bytes = 0;
          rows = 0;
        }
        chunk.push(line);
        bytes += size + 1;
        rows += n;
      }
      if (chunk.length) rejected += await sendOrBisect(chunk);
      return { rejected };
    },
    close: async () => {},
  };
}

function authHeaders(token: string | undefined): Record<string, string> {
  const env = process.env;
  const t = token ?? env.FLYWHEEL_TRACKING_TOKEN ?? env.MLFLOW_TRACKING_TOKEN;
  if (t) return { authorization: `Bearer ${t}` };
  const user = env.MLFLOW_TRACKING_USERNAME;
  const pass = env.MLFLOW_TRACKING_PASSWORD;
  if (user !== undefined && pass !== undefined) return { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
  return {};
}

/** The store directly (embedded: no server). Opened and migrated at the first batch; the store is loaded lazily. */
export function storeDestination(uri: string, logger?: SinkLogger): InferenceLogDestination {
  let opened: Promise<{ close(): Promise<void>; insert(entries: InferenceLogEntry[]): Promise<unknown> }> | undefined;
  const open = async () => {
    const { openStore, migrateToLatest } = await import('../store/index.js');
    const store = openStore(uri);
    try {
      await migrateToLatest(store);
    } catch (e) {
      await store.close().catch(() => {});
      throw e;
    }
    const serving = new SqlServingStore(store);
    return { close: () => store.close(), insert: (entries: InferenceLogEntry[]) => serving.insertInferenceLog(entries) };
  };
  return {
    description: uri.replace(/\/\/[^@/]*@/, '//***@'),
    async write(records) {
      opened ??= open().catch((e: unknown) => {
        opened = undefined;
        throw e;
      });
      // Through JSON and back, as over the wire: typed arrays become arrays, bigints strings.
      const entries: InferenceLogEntry[] = [];
      for (const r of records) {
        const line = serialize(toInferenceLogEntry(r), r, logger);
        if (line !== undefined) entries.push(JSON.parse(line) as InferenceLogEntry);
      }
      await (await opened).insert(entries);
      return { rejected: records.length - entries.length };
    },
    async close() {
      if (opened) await (await opened.catch(() => undefined))?.close();
    },
  };
}

/** One JSON line per record, in the `InferenceRecord` shape (camelCase), appended to `path`. */
export function fileDestination(path: string, logger?: SinkLogger): InferenceLogDestination {
  const file = resolve(path);
  let dirReady = false;
  return {
    description: file,
    async write(records) {
      if (!dirReady) {
        await mkdir(dirname(file), { recursive: true });
        dirReady = true;
      }
      let text = '';
      let rejected = 0;
      for (const r of records) {
        const line = serialize(r, r, logger);
        if (line === undefined) rejected++;
        else text += `${line}\n`;
      }
      if (text) await appendFile(file, text);
      return { rejected };
    },
    close: async () => {},
  };
}
