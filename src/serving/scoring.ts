/**
 * The path every scoring request takes, whatever its protocol: lease the current model, prepare (check)
 * the input, predict through the batcher, render the answer while the lease is held, and hand one record to
 * the inference log. Errors become MLflow's or v2's error shape in the server's error handler.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { FlywheelError, isFlywheelError } from '../core/index.js';
import type { InferenceLogSink } from './contracts.js';
import { lazyInferenceRecord } from './inference-record.js';
import type { PreparedInput } from './input.js';
import type { ServingMetrics } from './metrics.js';
import type { ModelHolder } from './model-holder.js';
import type { ScoringResult, ServingModel } from './serving-model.js';

export type Protocol = 'mlflow' | 'v2';

/** What the server remembers about a request for its metrics, log line and inference-log record. */
export interface RequestState {
  modelVersion: string | null;
  variant: string | null;
  /** Whether the inference log already has this request. */
  recorded: boolean;
}

export interface ScoringContextOptions {
  holder: ModelHolder;
  metrics: ServingMetrics;
  logger: Logger;
  sink?: InferenceLogSink;
  modelUri: string;
  deployment: string | null;
  /** Traffic split: this share of requests (0–1) is answered by the challenger. */
  challenger?: { holder: ModelHolder; weight: number; modelUri: string };
  /** Shadow mode: every request is also run on this model; its answer is logged, never returned. */
  shadow?: { holder: ModelHolder; modelUri: string };
  /** For tests: the split's coin (default Math.random). */
  random?: () => number;
}

export class ScoringContext {
  readonly states = new WeakMap<FastifyRequest, RequestState>();
  ready = true;
  /** HTTP requests received and not yet answered (or abandoned). */
  inFlight = 0;
  private drained: (() => void) | undefined;

  requestStarted(): void {
    this.inFlight++;
  }

  requestEnded(): void {
    if (--this.inFlight === 0) this.drained?.();
  }

  /** Resolves when no request is in flight (or after `timeoutMs`). */
  drain(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  constructor(readonly options: ScoringContextOptions) {}

  get holder(): ModelHolder {
    return this.options.holder;
  }

  async score<T>(
    req: FastifyRequest,
    reply: FastifyReply,
    protocol: Protocol,
    prepare: (model: ServingModel) => PreparedInput,
    render: (model: ServingModel, result: ScoringResult) => T,
  ): Promise<T> {
    const { challenger, shadow } = this.options;
    const toChallenger = challenger !== undefined && (this.options.random ?? Math.random)() < challenger.weight;
    const holder = toChallenger ? challenger.holder : this.holder;
    const variant = challenger || shadow ? (toChallenger ? 'challenger' : 'champion') : null;
    const slot = holder.acquire();
    const model = slot.model;
    const state: RequestState = { modelVersion: model.identity.version, variant, recorded: false };
    this.states.set(req, state);
    // Which version answered (and which side of a split), for callers following a rollout.
    if (model.identity.version !== null) void reply.header('x-flywheel-model-version', model.identity.version);
    if (variant !== null) void reply.header('x-flywheel-variant', variant);
    const uri = toChallenger ? challenger.modelUri : this.options.modelUri;
    let input: PreparedInput | undefined;
    try {
      input = prepare(model);
      const result = await model.predict(input);
      const body = render(model, result);
      if (this.options.sink) this.record(req, protocol, model, uri, variant, 200, reply.elapsedTime, input, result);
      state.recorded = true;
      if (shadow) this.runShadow(req, protocol, prepare);
      return body;
    } catch (e) {
      if (this.options.sink) this.record(req, protocol, model, uri, variant, errorStatus(e), reply.elapsedTime, input, undefined, (e as Error).message);
      state.recorded = true;
      throw e;
    } finally {
      holder.release(slot);
    }
  }

  /** Runs the request on the shadow model after the answer: logged and counted, never returned, never failing it. */
  private runShadow(req: FastifyRequest, protocol: Protocol, prepare: (model: ServingModel) => PreparedInput): void {
    const shadow = this.options.shadow!;
    const slot = shadow.holder.acquire();
    const model = slot.model;
    const started = performance.now();
    const endpoint = req.routeOptions.url ?? 'unmatched';
    let input: PreparedInput | undefined;
    const done = (status: number, result?: ScoringResult, error?: string) => {
      const ms = performance.now() - started;
      const labels = { endpoint, status: String(status), model_version: model.identity.version ?? '', variant: 'shadow' };
      this.options.metrics.requests.inc(labels);
      this.options.metrics.latency.observe(labels, ms / 1000);
      if (this.options.sink) this.record(req, protocol, model, shadow.modelUri, 'shadow', status, ms, input, result, error);
    };
    Promise.resolve()
      .then(async () => {
        input = prepare(model);
        done(200, await model.predict(input));
      })
      .catch((e: unknown) => done(errorStatus(e), undefined, (e as Error).message))
      .finally(() => shadow.holder.release(slot));
  }

  /** Records a request that failed before it reached a model (body too large, malformed JSON). */
  recordFailure(req: FastifyRequest, reply: FastifyReply, protocol: Protocol, status: number, message: string): void {
    if (!this.options.sink || this.states.get(req)?.recorded) return;
    const variant = this.options.challenger || this.options.shadow ? 'champion' : null;
    this.record(req, protocol, this.holder.current, this.options.modelUri, variant, status, reply.elapsedTime, undefined, undefined, message);
  }

  private record(
    req: FastifyRequest, protocol: Protocol, model: ServingModel, modelUri: string, variant: string | null, status: number,
    latencyMs: number, input: PreparedInput | undefined, result: ScoringResult | undefined, error?: string,
  ): void {
    const sink = this.options.sink!;
    try {
      const id = model.identity;
      // O(1): the rows are kept by reference and written (or built) by the sink, off the request path.
      sink.record(lazyInferenceRecord({
        requestId: req.id,
        timestamp: Date.now() - Math.round(latencyMs),
        modelName: id.registeredName,
        modelVersion: id.version,
        modelUri,
        deployment: this.options.deployment,
        variant,
        protocol,
        latencyMs,
        status,
        ...(error !== undefined ? { error } : {}),
      }, model, input, result));
      this.options.metrics.logRecords.inc({ outcome: 'recorded' });
    } catch (e) {
      // The sink promises never to throw; if one does, the prediction still succeeds.
      this.options.metrics.logRecords.inc({ outcome: 'failed' });
      this.options.logger.warn({ err: (e as Error).message }, 'the inference log refused a record');
    }
  }
}

interface HttpError {
  code?: string;
  statusCode?: number;
  message: string;
}

/** HTTP status, MLflow error code and message of anything a scoring request can throw. */
export function classifyError(err: unknown, bodyLimit: number): { status: number; code: string; message: string } {
  if (isFlywheelError(err)) return { status: err.status, code: err.code, message: err.message };
  const e = err as HttpError;
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        code: 'BAD_REQUEST',
        message: `Request body is larger than this server's limit of ${formatBytes(bodyLimit)}: send fewer rows per request, or start the server with a larger --body-limit-mb.`,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        code: 'BAD_REQUEST',
        message: 'This predictor only supports the following content types: application/json (charset utf-8) and text/csv.',
      };
    case 'FLYWHEEL_SCORING_1X':
      return {
        status: 415,
        code: 'BAD_REQUEST',
        message:
          "The scoring protocol has changed in MLflow version 2.0: a 'format=' content-type parameter is no longer read. " +
          'Send Content-Type: application/json with one of dataframe_split, dataframe_records, instances or inputs.',
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'BAD_REQUEST', message: 'The request body is empty: send a JSON object.' };
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, code: 'BAD_REQUEST', message: e.message };
  }
  return { status: 500, code: 'INTERNAL_ERROR', message: 'Internal server error; the server log has the details.' };
}

export const errorStatus = (err: unknown) => classifyError(err, 0).status;

const formatBytes = (n: number) => (n >= 1024 * 1024 ? `${Math.round((n / (1024 * 1024)) * 10) / 10} MB` : `${n} bytes`);

export const badRequest = (message: string) => new FlywheelError('BAD_REQUEST', message);
