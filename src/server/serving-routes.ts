import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { invalidParameter } from '../core/errors.js';
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  type InferenceLogCursor,
  type SqlServingStore,
} from '../serving/sql-serving-store.js';
import { decodePageToken, encodePageToken } from '../tracking/search/index.js';
import { Params } from './mlflow-request.js';

/** Limits of one `POST /api/v1/inference-log` batch (the sink ships 500 records, ≤ 4 MiB, per request). */
export const INFERENCE_LOG_LIMITS = {
  bodyBytes: 32 * 1024 * 1024,
  recordsPerBatch: 5000,
  rowsPerBatch: 200_000,
  maxResults: 10_000,
  defaultMaxResults: 1000,
} as const;

const DEPLOYMENT_MAX_RESULTS = 1000;

/** Text the stores can hold (PostgreSQL refuses NUL), of bounded length. */
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');
const optionalText = (max: number) => text(max).nullable().optional().transform((v) => v ?? null);
const epochMs = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const inferenceRecord = z.object({
  request_id: text(256).min(1),
  timestamp: epochMs,
  model_name: optionalText(500),
  model_version: optionalText(100),
  model_uri: text(2000).min(1),
  deployment: optionalText(256),
  variant: optionalText(100),
  protocol: z.enum(['mlflow', 'v2']),
  // A cheap shape check: walking every feature of every row through a schema costs more than storing it.
  inputs: z.array(z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object (feature name → value)')),
  outputs: z.array(z.unknown()),
  latency_ms: z.number().nonnegative().finite(),
  status: z.number().int().min(100).max(599),
  error: optionalText(100_000),
});

const inferenceBatch = z.object({
  records: z.array(inferenceRecord).min(1).max(INFERENCE_LOG_LIMITS.recordsPerBatch),
});

/** Deployment names go into URLs: letters, digits and `_ . - @ :`, starting with a letter or digit. */
const deploymentName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.\-@:]*$/, 'must start with a letter or digit and hold only letters, digits, _ . - @ :');
const traffic = z.record(z.string(), z.unknown()).nullable().optional();

const registration = z.object({
  name: deploymentName,
  model_uri: text(2000).min(1),
  model_name: optionalText(500),
  model_version: optionalText(100),
  endpoint: text(2000).min(1),
  traffic,
  heartbeat_interval_seconds: z.number().positive().max(86_400).optional(),
});

const heartbeat = z.object({
  model_version: text(100).nullable().optional(),
  traffic,
});

function pathOf(path: PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(body)';
}

/** The body as `schema` wants it, or a 400 INVALID_PARAMETER_VALUE naming the first bad field. */
function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw invalidParameter(`Invalid value for parameter '${pathOf(issue.path)}': ${issue.message}`);
}

function nameParam(req: FastifyRequest): string {
  const name = (req.params as { name: string }).name;
  const r = deploymentName.safeParse(name);
  if (!r.success) throw invalidParameter(`Invalid deployment name '${name.slice(0, 100)}': ${r.error.issues[0]!.message}`);
  return name;
}

function encodeCursor(c: InferenceLogCursor, order: string): string {
  return Buffer.from(JSON.stringify({ t: c.timestamp, i: c.id, o: order }), 'utf8').toString('base64');
}

function decodeCursor(token: string | undefined, order: string): InferenceLogCursor | undefined {
  if (token === undefined || token === '') return undefined;
  const bad = () => invalidParameter(`Invalid page token '${token.slice(0, 100)}': not a token issued by this server for order=${order}`);
  if (token.length > 200 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(token)) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch {
    throw bad();
  }
  const c = v as { t?: unknown; i?: unknown; o?: unknown };
  if (!c || !Number.isSafeInteger(c.t) || !Number.isSafeInteger(c.i) || c.o !== order) throw bad();
  return { timestamp: c.t as number, id: c.i as number };
}

function maxResults(p: Params, fallback: number, max: number): number {
  const n = p.int('max_results') ?? fallback;
  if (n < 1 || n > max) throw invalidParameter(`max_results must be between 1 and ${max}, got ${n}`);
  return n;
}

/**
 * The native serving endpoints (`/api/v1`): the inference log (batches from serving processes, paged reads
 * for monitoring and people) and deployments (register, heartbeat, stop, list, show). A 2xx answer means
 * the write is committed.
 */
export function servingRoutes(app: FastifyInstance, serving: SqlServingStore): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: INFERENCE_LOG_LIMITS.bodyBytes }, (_req, body, done) => {
    const s = String(body);
    if (s.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(s));
    } catch (e) {
      done(invalidParameter(`Malformed JSON body: ${(e as Error).message}`), undefined);
    }
  });

  app.post('/api/v1/inference-log', async (req) => {
    const { records } = parseBody(inferenceBatch, req.body);
    let rows = 0;
    for (const r of records) rows += Math.max(1, r.inputs.length, r.outputs.length);
    if (rows > INFERENCE_LOG_LIMITS.rowsPerBatch) {
      throw invalidParameter(`A batch may hold at most ${INFERENCE_LOG_LIMITS.rowsPerBatch} rows; got ${rows}`);
    }
    const result = await serving.insertInferenceLog(records);
    return { records: records.length, rows_stored: result.stored, rows_duplicate: result.duplicates };
  });

  app.get('/api/v1/inference-log', async (req) => {
    const p = new Params(req.query as Record<string, unknown>);
    const order = p.string('order') || 'asc';
    if (order !== 'asc' && order !== 'desc') throw invalidParameter(`order must be 'asc' or 'desc', got '${order}'`);
    const since = p.int('since');
    const until = p.int('until');
    if (since !== undefined && until !== undefined && until < since) throw invalidParameter(`until (${until}) is before since (${since})`);
    const page = await serving.listInferenceLog({
      requestId: p.string('request_id') || undefined,
      modelName: p.string('model_name') || undefined,
      deployment: p.string('deployment') || undefined,
      since,
      until,
      order,
      after: decodeCursor(p.string('page_token'), order),
      limit: maxResults(p, INFERENCE_LOG_LIMITS.defaultMaxResults, INFERENCE_LOG_LIMITS.maxResults),
    });
    return { rows: page.rows, next_page_token: page.next ? encodeCursor(page.next, order) : undefined };
  });

  app.post('/api/v1/deployments', async (req) => {
    const d = parseBody(registration, req.body);
    const deployment = await serving.registerDeployment({
      name: d.name,
      model_uri: d.model_uri,
      model_name: d.model_name,
      model_version: d.model_version,
      endpoint: d.endpoint,
      traffic: d.traffic ?? null,
      heartbeat_interval_ms: d.heartbeat_interval_seconds === undefined ? DEFAULT_HEARTBEAT_INTERVAL_MS : Math.ceil(d.heartbeat_interval_seconds * 1000),
    });
    return { deployment };
  });

  app.post('/api/v1/deployments/:name/heartbeat', async (req) => {
    const name = nameParam(req);
    const change = parseBody(heartbeat, req.body);
    return { deployment: await serving.heartbeat(name, change) };
  });

  app.post('/api/v1/deployments/:name/stop', async (req) => ({ deployment: await serving.stopDeployment(nameParam(req)) }));

  app.get('/api/v1/deployments', async (req) => {
    const p = new Params(req.query as Record<string, unknown>);
    const limit = maxResults(p, 100, DEPLOYMENT_MAX_RESULTS);
    const offset = decodePageToken(p.string('page_token'));
    const rows = await serving.listDeployments({ offset, limit: limit + 1, modelName: p.string('model_name') || undefined });
    return {
      deployments: rows.slice(0, limit),
      next_page_token: rows.length > limit ? encodePageToken(offset + limit) : undefined,
    };
  });

  app.get('/api/v1/deployments/:name', async (req) => ({ deployment: await serving.getDeployment(nameParam(req)) }));
}
