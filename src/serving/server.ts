/**
 * The inference server: one model URI served over MLflow's scoring protocol and the Open Inference
 * Protocol v2, with dynamic batching, hot swap when the URI's alias moves, Prometheus metrics on
 * `/metrics`, a request id and a log line per request, and a record per prediction in the inference log.
 */
import { isAscii } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Flywheel } from '../client/flywheel.js';
import { FlywheelError } from '../core/index.js';
import type { DeploymentReporter, InferenceLogSink } from './contracts.js';
import { parseJsonBody } from './json-body.js';
import { loadServingModel } from './load-serving-model.js';
import { ServingMetrics } from './metrics.js';
import { ModelHolder, ModelSource, type CheckOutcome } from './model-holder.js';
import { mlflowRoutes, parseCsvBody } from './protocols/mlflow.js';
import { v2Routes } from './protocols/v2.js';
import { classifyError, ScoringContext, type Protocol } from './scoring.js';
import type { ModelIdentity, ServingModel } from './serving-model.js';

export const SERVING_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxBatchSize: 256,
  maxBatchWaitMs: 0,
  pollIntervalMs: 5000,
  bodyLimitBytes: 50 * 1024 * 1024,
} as const;

export interface ServingOptions {
  /** `models:/name@alias`, `models:/name/3`, `runs:/…`, an artifact URI or a local model directory. */
  modelUri: string;
  /** The SDK client for registry URIs (else one is opened on `trackingUri`). */
  client?: Flywheel;
  trackingUri?: string;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  maxBatchSize?: number;
  /** How long the first request of a batch waits for others (0: only what arrived by the next tick). */
  maxBatchWaitMs?: number;
  /** How often an alias (stage, latest) is checked; 0 = never. */
  pollIntervalMs?: number;
  bodyLimitBytes?: number;
  /** Let a `js` flavor model's code run (never for untrusted models). */
  allowJs?: boolean;
  onnxThreads?: number;
  logger?: Logger;
  logLevel?: string;
  sink?: InferenceLogSink;
  reporter?: DeploymentReporter;
  /** The deployment's name (default: the model name). */
  deploymentName?: string;
  /** The URL the deployment reports (default: the listen address). */
  publicUrl?: string;
  /** Traffic split: a second model URI answering `challengerWeight` (0–1, default 0.1) of the requests. */
  challengerUri?: string;
  challengerWeight?: number;
  /** Shadow mode: a model URI every request is also run on (logged and counted, never returned). */
  shadowUri?: string;
  /** For tests: the traffic split's coin. */
  random?: () => number;
  /** How long shutdown waits for in-flight requests before closing their connections (default 30 s). */
  drainTimeoutMs?: number;
}

export interface ServingServer {
  url: string;
  port: number;
  app: FastifyInstance;
  metrics: ServingMetrics;
  /** The model serving now. */
  readonly model: ServingModel;
  /** Checks the registry now (as the poller does) and swaps if the alias moved. */
  checkNow(): Promise<CheckOutcome>;
  /** Stops accepting, lets in-flight requests finish, then closes the model, the sink and the reporter. */
  close(): Promise<void>;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:@\-]{1,128}$/;

function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** The JSON content type is accepted with no parameter or charset=utf-8 only (as MLflow does). */
function checkJsonContentType(header: string | undefined): void {
  const params = (header ?? '').split(';').slice(1).map((p) => p.trim().toLowerCase()).filter(Boolean);
  if (params.every((p) => p === 'charset=utf-8')) return;
  if (params.some((p) => p.startsWith('format='))) {
    throw Object.assign(new Error('MLflow 1.x content type'), { code: 'FLYWHEEL_SCORING_1X', statusCode: 415 });
  }
  throw Object.assign(new Error('unsupported content type parameters'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 });
}

/** Bodies are almost always ASCII: decoding them as latin1 is the same string, several times faster than UTF-8. */
const bodyText = (buf: Buffer): string => (isAscii(buf) ? buf.toString('latin1') : buf.toString('utf8'));

const protocolOf = (url: string): Protocol => (url.startsWith('/v2') ? 'v2' : 'mlflow');
const isScoring = (url: string) => url.startsWith('/invocations') || /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer/.test(url);

export function buildServingApp(ctx: ScoringContext, metrics: ServingMetrics, logger: Logger, bodyLimit: number): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit,
    genReqId: requestId,
    // A client that stops sending is dropped after two idle minutes.
    connectionTimeout: 120_000,
    keepAliveTimeout: 75_000,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    try {
      checkJsonContentType(req.headers['content-type']);
      done(null, parseJsonBody(bodyText(body as Buffer)));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseCsvBody(body as string));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    metrics.inFlight.inc();
    ctx.requestStarted();
    reply.raw.once('close', () => {
      metrics.inFlight.dec();
      ctx.requestEnded();
    });
    void reply.header('x-request-id', req.id);
  });

  app.addHook('onResponse', async (req, reply) => {
    const endpoint = req.routeOptions.url ?? 'unmatched';
    if (endpoint === '/metrics') return;
    const status = String(reply.statusCode);
    const version = ctx.states.get(req)?.modelVersion ?? ctx.holder.current.identity.version ?? '';
    const labels = { endpoint, status, model_version: version, variant: ctx.states.get(req)?.variant ?? '' };
    metrics.requests.inc(labels);
    metrics.latency.observe(labels, reply.elapsedTime / 1000);
    logger.info(
      { reqId: req.id, method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100, model_version: version },
      'request',
    );
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, code, message } = classifyError(err, bodyLimit);
    if (status >= 500) logger.error({ reqId: req.id, err }, 'request failed');
    const protocol = protocolOf(req.url);
    if (isScoring(req.url)) ctx.recordFailure(req, reply, protocol, status, message);
    const body = protocol === 'v2' ? { error: message } : { error_code: code, message };
    void reply.status(status).type('application/json').send(JSON.stringify(body));
  });

  app.setNotFoundHandler((req, reply) => {
    const message = `No endpoint ${req.method} ${req.url.split('?')[0]} on this inference server`;
    const body = protocolOf(req.url) === 'v2' ? { error: message } : { error_code: 'ENDPOINT_NOT_FOUND', message };
    void reply.status(404).type('application/json').send(JSON.stringify(body));
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
  mlflowRoutes(app, ctx);
  v2Routes(app, ctx);
  return app;
}

export async function startServing(options: ServingOptions): Promise<ServingServer> {
  const logger = options.logger ?? pino({ level: options.logLevel ?? 'info', base: { name: 'flywheel-serve' } });
  const metrics = new ServingMetrics();
  const maxBatchSize = options.maxBatchSize ?? SERVING_DEFAULTS.maxBatchSize;
  const maxBatchWaitMs = options.maxBatchWaitMs ?? SERVING_DEFAULTS.maxBatchWaitMs;
  const bodyLimit = options.bodyLimitBytes ?? SERVING_DEFAULTS.bodyLimitBytes;

  const load = async (dir: string, identity: ModelIdentity) => {
    const version = identity.version ?? '';
    const { model, warmed } = await loadServingModel(dir, identity, {
      allowJs: options.allowJs ?? false,
      onnxThreads: options.onnxThreads,
      batching: { maxBatchSize, maxBatchWaitMs, onBatch: (rows) => metrics.batchSize.observe({ model_version: version }, rows) },
    });
    logger.info({ model: identity.name, model_version: identity.version, flavor: model.flavor, layout: model.layout.kind, warmed }, `loaded ${identity.uri}${identity.version ? ` (version ${identity.version})` : ''}`);
    return model;
  };

  let reporter = options.reporter;
  const report = (what: string, p: Promise<void>) =>
    p.catch((e: unknown) => logger.warn({ err: (e as Error).message }, `deployment reporter: ${what} failed`));

  const open = async (uri: string, role: string, swapped?: (to: ModelIdentity) => void) => {
    const source = new ModelSource(uri, { client: options.client, trackingUri: options.trackingUri });
    try {
      return await ModelHolder.open(source, load, metrics, logger.child({ variant: role }), { swapped: (_from, to) => swapped?.(to) });
    } catch (e) {
      metrics.loadFailures.inc({ stage: 'start' });
      await source.close().catch(() => undefined);
      throw e;
    }
  };
  if (options.challengerUri && options.shadowUri) throw new FlywheelError('INVALID_PARAMETER_VALUE', 'Use a challenger or a shadow model, not both');
  const weight = options.challengerWeight ?? 0.1;
  if (!(weight >= 0 && weight <= 1)) throw new FlywheelError('INVALID_PARAMETER_VALUE', `The challenger weight must be between 0 and 1, got ${weight}`);
  const holders: ModelHolder[] = [];
  const closeHolders = () => Promise.all(holders.map((h) => h.close()));
  let challenger: { holder: ModelHolder; weight: number; modelUri: string } | undefined;
  let shadow: { holder: ModelHolder; modelUri: string } | undefined;
  const traffic = (): Record<string, unknown> | undefined =>
    challenger ? { champion: { uri: options.modelUri, version: holders[0].current.identity.version, weight: 1 - weight }, challenger: { uri: challenger.modelUri, version: challenger.holder.current.identity.version, weight } }
    : shadow ? { champion: { uri: options.modelUri, version: holders[0].current.identity.version }, shadow: { uri: shadow.modelUri, version: shadow.holder.current.identity.version } }
    : undefined;
  const reportSwap = (to: ModelIdentity, champion: boolean) => {
    if (!reporter) return;
    const t = traffic();
    void report('update', reporter.update({ ...(champion ? { modelVersion: to.version } : {}), ...(t ? { traffic: t } : {}) }));
  };
  let holder: ModelHolder;
  try {
    holder = await open(options.modelUri, 'champion', (to) => reportSwap(to, true));
    holders.push(holder);
    if (options.challengerUri) {
      challenger = { holder: await open(options.challengerUri, 'challenger', (to) => reportSwap(to, false)), weight, modelUri: options.challengerUri };
      holders.push(challenger.holder);
    }
    if (options.shadowUri) {
      shadow = { holder: await open(options.shadowUri, 'shadow', (to) => reportSwap(to, false)), modelUri: options.shadowUri };
      holders.push(shadow.holder);
    }
  } catch (e) {
    await closeHolders();
    throw e;
  }

  const identity = holder.current.identity;
  const ctx = new ScoringContext({
    holder,
    metrics,
    logger,
    sink: options.sink,
    modelUri: options.modelUri,
    deployment: options.deploymentName ?? (reporter ? identity.name : null),
    challenger,
    shadow,
    random: options.random,
  });
  const app = buildServingApp(ctx, metrics, logger, bodyLimit);
  try {
    await app.listen({ host: options.host ?? SERVING_DEFAULTS.host, port: options.port ?? SERVING_DEFAULTS.port });
  } catch (e) {
    await closeHolders();
    throw e;
  }
  const port = (app.server.address() as { port: number }).port;
  const host = options.host ?? SERVING_DEFAULTS.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  if (reporter) {
    await report('start', reporter.start({
      name: options.deploymentName ?? identity.name,
      modelUri: options.modelUri,
      modelName: identity.registeredName,
      modelVersion: identity.version,
      endpoint: options.publicUrl ?? url,
      ...(traffic() ? { traffic: traffic() } : {}),
    }));
  }
  for (const h of holders) h.startPolling(options.pollIntervalMs ?? SERVING_DEFAULTS.pollIntervalMs);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    app,
    metrics,
    get model() {
      return holder.current;
    },
    checkNow: async () => (await Promise.all(holders.map((h) => h.check())))[0],
    close() {
      closing ??= (async () => {
        ctx.ready = false;
        // Stop accepting; answer what is in flight; then close the keep-alive connections they came on.
        const stopped = app.close();
        await ctx.drain(options.drainTimeoutMs ?? 30_000);
        app.server.closeAllConnections();
        await stopped;
        await closeHolders();
        await options.sink?.close().catch((e: unknown) => logger.warn({ err: (e as Error).message }, 'closing the inference log failed'));
        if (reporter) await report('stop', reporter.stop());
        reporter = undefined;
      })();
      return closing;
    },
  };
}
