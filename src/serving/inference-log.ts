import { appendFile, mkdir } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { dirname, resolve } from 'node:path';
import pino from 'pino';
import type { InferenceLogSink, InferenceLogStats, InferenceRecord } from './contracts.js';
import { Worker } from 'node:worker_threads';
import { inferenceRecordJson, inferenceRecordParts, inferenceRecordRows, type RecordParts } from './inference-record.js';
import { MATRIX_ROWS_JSON_SOURCE } from './row-matrix.js';
import { SqlServingStore, type InferenceLogEntry } from './sql-serving-store.js';

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
  /**
   * Rows (of all records) kept waiting at most (default 1,000,000: ≈ 300 MB for 30 features); beyond, new
   * records are dropped as above. Bounds the memory of a backlog of big (batch) requests.
   */
  maxBufferedRows?: number;
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
  private readonly itemRows: Float64Array;
  private head = 0;
  size = 0;
  rows = 0;

  constructor(readonly capacity: number, readonly rowCapacity: number) {
    this.items = new Array<InferenceRecord | undefined>(capacity);
    this.itemRows = new Float64Array(capacity);
  }

  push(r: InferenceRecord): boolean {
    if (this.size >= this.capacity) return false;
    const n = inferenceRecordRows(r);
    // One record bigger than the whole row budget still goes in alone.
    if (this.size > 0 && this.rows + n > this.rowCapacity) return false;
    const at = (this.head + this.size) % this.capacity;
    this.items[at] = r;
    this.itemRows[at] = n;
    this.size++;
    this.rows += n;
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
      this.rows -= this.itemRows[this.head];
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
    this.queue = new RecordQueue(positive(options.maxBufferedRecords, 100_000), positive(options.maxBufferedRows, 1_000_000));
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
          { dropped: this.counts.dropped, capacity: this.queue.capacity, rowCapacity: this.queue.rowCapacity, destination: this.dest.description },
          `inference log: buffer full (${this.queue.size} records, ${this.queue.rows} rows waiting); new records are being dropped`,
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
        // After close() gave up on it, the shipment's failure is already counted (as dropped).
        if (!this.abandoned) this.failed(e);
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

/**
 * JSON of a record (`wire`: the server's snake_case shape), or undefined (logged) when it cannot be written
 * at all (a cycle, a throwing getter).
 */
function serialize(r: InferenceRecord, wire: boolean, logger?: SinkLogger): string | undefined {
  try {
    return inferenceRecordJson(r, wire);
  } catch (e) {
    logger?.error({ requestId: r?.requestId, err: (e as Error)?.message }, 'inference log: a record cannot be written as JSON; it is dropped');
    return undefined;
  }
}

/** Serializing runs on the serving process's event loop: it gives way to requests after this long. */
const SLICE_MS = 1;

/** Call after each piece of work: yields to the event loop (setImmediate) once a slice has run SLICE_MS. */
function slicer(): () => Promise<void> | undefined {
  let start = performance.now();
  return () => {
    if (performance.now() - start < SLICE_MS) return undefined;
    return yieldToLoop().then(() => {
      start = performance.now();
    });
  };
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
      const pause = slicer();
      for (const r of records) {
        await pause();
        const line = serialize(r, true, options.logger);
        if (line === undefined) {
          rejected++;
          continue;
        }
        const size = Buffer.byteLength(line);
        const n = inferenceRecordRows(r);
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
    const { openMigratedStore } = await import('../store/index.js');
    const store = await openMigratedStore(uri);
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
      const pause = slicer();
      for (const r of records) {
        await pause();
        const line = serialize(r, true, logger);
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

const FILE_WRITE_BYTES = 8 * 1024 * 1024;

export interface FileDestinationOptions {
  /**
   * Write the rows (the bulk of the JSON) in a worker thread (default true): the event loop only takes
   * each record's fields and a copy of its input matrix; the worker builds the lines and appends them.
   */
  worker?: boolean;
}

/** One JSON line per record, in the `InferenceRecord` shape (camelCase), appended to `path`. */
export function fileDestination(path: string, logger?: SinkLogger, options: FileDestinationOptions = {}): InferenceLogDestination {
  const file = resolve(path);
  if (options.worker ?? true) return workerFileDestination(file, logger);
  let dirReady = false;
  return {
    description: file,
    async write(records) {
      if (!dirReady) {
        await mkdir(dirname(file), { recursive: true });
        dirReady = true;
      }
      // Serialized a slice at a time (requests go first), written with one append per batch (or per 8 MB).
      let parts: string[] = [];
      let bytes = 0;
      let rejected = 0;
      const pause = slicer();
      for (const r of records) {
        await pause();
        const line = serialize(r, false, logger);
        if (line === undefined) {
          rejected++;
          continue;
        }
        parts.push(line, '\n');
        bytes += line.length + 1;
        if (bytes >= FILE_WRITE_BYTES) {
          await appendFile(file, parts.join(''));
          parts = [];
          bytes = 0;
        }
      }
      if (parts.length) await appendFile(file, parts.join(''));
      return { rejected };
    },
    close: async () => {},
  };
}

/** What one message to the writer thread carries at most (records; rows of their input matrices). */
const POST_RECORDS = 100;
const POST_ROWS = 10_000;

/** The writer thread's nice value (0 = as the event loop, 19 = only what is left). */
const WRITER_NICE = 19;

/** The JSONL writer thread: builds each line from its parts and appends a batch with one write. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { appendFileSync, mkdirSync } = require('node:fs');
const { dirname } = require('node:path');
// A lower priority (Linux: a thread's nice value, set through its thread id): when the cores are busy,
// requests go first and the log catches up when they are not (its bounded buffer holds the backlog).
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  if (tid > 0) require('node:os').setPriority(tid, ${WRITER_NICE});
} catch {}
${MATRIX_ROWS_JSON_SOURCE}
const ready = new Set();
parentPort.on('message', (msg) => {
  try {
    if (!ready.has(msg.file)) {
      mkdirSync(dirname(msg.file), { recursive: true });
      ready.add(msg.file);
    }
    let parts = [];
    let bytes = 0;
    for (const p of msg.parts) {
      const line = p.line !== undefined ? p.line : p.head + matrixRowsJson(p.matrix) + p.tail;
      parts.push(line, '\\n');
      bytes += line.length + 1;
      if (bytes >= ${FILE_WRITE_BYTES}) {
        appendFileSync(msg.file, parts.join(''));
        parts = [];
        bytes = 0;
      }
    }
    if (parts.length) appendFileSync(msg.file, parts.join(''));
    parentPort.postMessage({ id: msg.id });
  } catch (e) {
    parentPort.postMessage({ id: msg.id, error: String((e && e.message) || e) });
  }
});
`;

/**
 * The file destination with the rows written by a worker thread. One batch at a time is in the worker
 * (the sink awaits each write); the parts are structured-cloned (the input matrices copied: ≈ 240 kB for
 * 1,000 rows × 30 features, a memcpy). A worker that dies fails the batch (retried) and is replaced.
 */
function workerFileDestination(file: string, logger?: SinkLogger): InferenceLogDestination {
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve(): void; reject(e: Error): void }>();
  const failAll = (e: Error) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  const start = (): Worker => {
    const w = new Worker(WORKER_SOURCE, { eval: true, name: 'flywheel-inference-log' });
    w.unref();
    w.on('message', (m: { id: number; error?: string }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(`writing ${file} failed: ${m.error}`));
      else p?.resolve();
    });
    w.on('error', (e) => {
      if (worker === w) worker = undefined;
      failAll(e);
    });
    w.on('exit', (code) => {
      if (worker === w) worker = undefined;
      failAll(new Error(`the inference log's writer thread exited (code ${code})`));
    });
    return w;
  };
  return {
    description: file,
    async write(records) {
      let rejected = 0;
      const w = (worker ??= start());
      const sent: Promise<void>[] = [];
      // Posted in chunks (the worker appends them in order): no single structured clone blocks for long.
      let parts: RecordParts[] = [];
      let rows = 0;
      const post = () => {
        if (worker !== w) throw new Error("the inference log's writer thread exited");
        const id = nextId++;
        const done = new Promise<void>((resolve, reject) => pending.set(id, { resolve, reject }));
        done.catch(() => undefined); // observed by Promise.all below, unless an earlier failure ends the loop
        sent.push(done);
        w.postMessage({ id, file, parts });
        parts = [];
        rows = 0;
      };
      const pause = slicer();
      w.ref();
      try {
        for (const r of records) {
          const wait = pause();
          if (wait) {
            if (parts.length) post();
            await wait;
          }
          try {
            const p = inferenceRecordParts(r, false);
            parts.push(p);
            rows += 'matrix' in p ? p.matrix.rows : 1;
          } catch (e) {
            rejected++;
            logger?.error({ requestId: r?.requestId, err: (e as Error)?.message }, 'inference log: a record cannot be written as JSON; it is dropped');
          }
          if (parts.length >= POST_RECORDS || rows >= POST_ROWS) post();
        }
        if (parts.length) post();
        await Promise.all(sent);
      } finally {
        w.unref();
      }
      return { rejected };
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
}
