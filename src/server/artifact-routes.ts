import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FlywheelError, invalidParameter, isFlywheelError } from '../core/errors.js';
import { artifactContentType, contentDisposition } from '../artifacts/mime.js';
import { safeRelativePath } from '../artifacts/paths.js';
import type { ArtifactStore } from '../artifacts/types.js';
import type { TrackingService } from '../tracking/service.js';

export interface ArtifactRoutesContext {
  artifacts: ArtifactStore;
  /** Needed by the run routes (`/get-artifact`, `upload-artifact`); without it they are not registered. */
  tracking?: Pick<TrackingService, 'getRun' | 'getLoggedModel'>;
}

/** MLflow's `_UnsupportedMultipartUploadException.MESSAGE`; the client falls back to a single PUT on it. */
export const UNSUPPORTED_MULTIPART_MESSAGE = 'Multipart upload is not supported for the current artifact repository';
/** MLflow's limit for the UI's `upload-artifact`. */
export const UPLOAD_ARTIFACT_MAX_BYTES = 10 * 1024 * 1024;

/** An unread request body up to this size is drained after the response; a larger one closes the connection. */
const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;
const PROXY_PREFIXES = ['/api/2.0/mlflow-artifacts', '/ajax-api/2.0/mlflow-artifacts'];
/** Content types a cross-site page can POST without a CORS preflight (forms, `fetch` no-cors). */
const SIMPLE_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);

/**
 * The artifact proxy (`/api/2.0/mlflow-artifacts/…`, also under `/ajax-api`) and the UI's run artifact routes
 * (`/get-artifact`, `/ajax-api/2.0/mlflow/get-artifact`, `/ajax-api/2.0/mlflow/upload-artifact`).
 *
 * Call inside an encapsulated scope: it replaces the scope's body parsers with one that hands the raw request
 * stream to the handler, so uploads of any size stream to disk. Paths are taken from the raw request URL and
 * percent-decoded exactly once here, then checked by safeRelativePath (400 INVALID_PARAMETER_VALUE).
 */
export function artifactRoutes(app: FastifyInstance, ctx: ArtifactRoutesContext): void {
  const { artifacts } = ctx;
  const repo = artifacts.repository;

  app.removeAllContentTypeParsers();
  // '*' also receives requests without a Content-Type. The body stays an unread stream.
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  // A response sent before the body was read to the end (a refused path, an over-limit upload). Node drains
  // an unread body after the response to keep the connection; that is right for a small one, but a body
  // abandoned mid-read cannot be drained (the connection would hang) and a large or unbounded one should not
  // be: close the connection instead.
  app.addHook('onSend', async (req, reply, payload) => {
    const body = req.body as Readable | undefined;
    if (body && typeof body.pipe === 'function' && !body.readableEnded) {
      const declared = Number(req.headers['content-length']);
      const small = Number.isFinite(declared) && declared <= DRAIN_LIMIT_BYTES;
      if (body.destroyed || !small) void reply.header('Connection', 'close');
    }
    return payload;
  });

  /** MLflow answers 503 (plain text) on proxy routes when started with `--no-serve-artifacts`. */
  function disabled(req: FastifyRequest, reply: FastifyReply): boolean {
    if (artifacts.serveArtifacts !== false) return false;
    discardBody(req);
    void reply
      .status(503)
      .type('text/plain; charset=utf-8')
      .send(
        `Endpoint: ${req.routeOptions.url} disabled due to the mlflow server running with \`--no-serve-artifacts\`. ` +
          'To enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`',
      );
    return true;
  }

  for (const prefix of PROXY_PREFIXES) {
    app.get(`${prefix}/artifacts`, async (req, reply) => {
      if (disabled(req, reply)) return reply;
      rejectFragment(req);
      const rel = safeRelativePath(queryString(req, 'path') ?? '');
      const files = (await repo.list(rel)).map((f) => ({ ...f, path: f.path.slice(f.path.lastIndexOf('/') + 1) }));
      return sendJson(reply, files.length ? { files } : {});
    });

    app.route({
      method: ['GET', 'HEAD'],
      url: `${prefix}/artifacts/*`,
      exposeHeadRoute: false,
      handler: async (req, reply) => {
        if (disabled(req, reply)) return reply;
        return sendArtifact(reply, repo, wildcardPath(req), req.method === 'HEAD');
      },
    });

    app.put(`${prefix}/artifacts/*`, async (req, reply) => {
      if (disabled(req, reply)) return reply;
      const rel = wildcardPath(req);
      if (rel === '') throw invalidParameter('An artifact path is required');
      await readingBody(req, () => repo.write(rel, (req.body as Readable | undefined) ?? Buffer.alloc(0)));
      return sendJson(reply, {});
    });

    app.delete(`${prefix}/artifacts/*`, async (req, reply) => {
      if (disabled(req, reply)) return reply;
      const rel = wildcardPath(req);
      discardBody(req);
      if (rel === '') throw invalidParameter('An artifact path is required; the artifact root cannot be deleted');
      await repo.delete(rel);
      return sendJson(reply, {});
    });

    for (const op of ['create', 'complete', 'abort']) {
      app.post(`${prefix}/mpu/${op}/*`, async (req, reply) => {
        if (disabled(req, reply)) return reply;
        wildcardPath(req); // as MLflow: the path is validated first (400), then multipart is refused
        discardBody(req);
        throw new FlywheelError('NOT_IMPLEMENTED', UNSUPPORTED_MULTIPART_MESSAGE);
      });
    }
  }

  const tracking = ctx.tracking;
  if (!tracking) return;

  /** Repository path of `rel` in a run's artifacts, or 501 when the run's artifacts live elsewhere. */
  async function runArtifactPath(runId: string, rel: string): Promise<string> {
    const run = await tracking!.getRun(runId);
    const uri = run.info.artifact_uri;
    const resolved = artifacts.resolveArtifactPath?.(uri, rel);
    if (resolved === undefined) {
      throw new FlywheelError(
        'NOT_IMPLEMENTED',
        `The artifacts of run ${runId} are stored at '${uri}', which this server does not serve; read them directly.`,
      );
    }
    return resolved;
  }

  for (const url of ['/get-artifact', '/ajax-api/2.0/mlflow/get-artifact']) {
    app.route({
      method: ['GET', 'HEAD'],
      url,
      exposeHeadRoute: false,
      handler: async (req, reply) => {
        rejectFragment(req);
        const runId = queryString(req, 'run_id') || queryString(req, 'run_uuid');
        if (!runId) throw invalidParameter("Missing value for required parameter 'run_id'.");
        const path = queryString(req, 'path');
        if (!path) throw invalidParameter("Missing value for required parameter 'path'.");
        const rel = safeRelativePath(path);
        return sendArtifact(reply, repo, await runArtifactPath(runId, rel), req.method === 'HEAD');
      },
    });
  }

  // The UI's download of one file of an MLflow 3 logged model.
  app.route({
    method: ['GET', 'HEAD'],
    url: '/ajax-api/2.0/mlflow/logged-models/:model_id/artifacts/files',
    exposeHeadRoute: false,
    handler: async (req, reply) => {
      rejectFragment(req);
      const modelId = (req.params as { model_id: string }).model_id;
      const path = queryString(req, 'artifact_file_path');
      if (!path) throw invalidParameter("Missing value for required parameter 'artifact_file_path'.");
      const model = await tracking!.getLoggedModel(modelId);
      const resolved = artifacts.resolveArtifactPath?.(model.info.artifact_uri, safeRelativePath(path));
      if (resolved === undefined) {
        throw new FlywheelError('NOT_IMPLEMENTED', `The artifacts of model ${modelId} are stored at '${model.info.artifact_uri}', which this server does not serve.`);
      }
      return sendArtifact(reply, repo, resolved, req.method === 'HEAD');
    },
  });

  app.post('/ajax-api/2.0/mlflow/upload-artifact', async (req, reply) => {
    rejectFragment(req);
    const runId = queryString(req, 'run_uuid') || queryString(req, 'run_id');
    if (!runId) throw invalidParameter('Request must specify run_uuid.');
    const path = queryString(req, 'path');
    if (!path) throw invalidParameter('Request must specify path.');
    const rel = safeRelativePath(path);
    if (rel === '') throw invalidParameter('Request must specify path.');
    // A UI endpoint that writes: refuse what a cross-site form or no-cors fetch can send (CSRF).
    const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type === '' || SIMPLE_CONTENT_TYPES.has(type)) {
      throw invalidParameter(
        `Bad Request. Content-Type must be set and must not be ${[...SIMPLE_CONTENT_TYPES].join(', ')} ` +
          '(use application/octet-stream).',
      );
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > UPLOAD_ARTIFACT_MAX_BYTES) {
      throw invalidParameter('Artifact size is too large. Max size is 10MB.');
    }
    const data = await readingBody(req, () => readLimited(req.body as Readable | undefined, UPLOAD_ARTIFACT_MAX_BYTES));
    if (data.length === 0) throw invalidParameter('Request must specify data.');
    await repo.write(await runArtifactPath(runId, rel), data);
    return sendJson(reply, {});
  });
}

function sendJson(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type('application/json').send(JSON.stringify(body));
}

async function sendArtifact(
  reply: FastifyReply,
  repo: ArtifactStore['repository'],
  rel: string,
  headOnly: boolean,
): Promise<FastifyReply> {
  const { stream, size } = await repo.read(rel);
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  void reply
    .header('Content-Type', artifactContentType(name))
    .header('Content-Disposition', contentDisposition(name))
    .header('Content-Length', String(size))
    // Artifacts are data, never documents of this origin: no script runs even if a browser opens one.
    .header('Content-Security-Policy', 'sandbox')
    .header('X-Content-Type-Options', 'nosniff');
  if (headOnly) {
    stream.destroy();
    return reply.send();
  }
  return reply.send(stream);
}

/**
 * The wildcard part of the request path, percent-decoded exactly once and checked. Taken from the raw URL
 * (not Fastify's `params['*']`): the router cuts the path at `#` (and may at `;`) and decodes reserved
 * characters differently, so only the raw URL shows what the client sent.
 */
export function wildcardPath(req: FastifyRequest): string {
  const raw = req.raw.url ?? '';
  rejectFragment(req);
  const q = raw.indexOf('?');
  const rawPath = q === -1 ? raw : raw.slice(0, q);
  const prefix = req.routeOptions.url?.replace(/\*$/, '') ?? '';
  if (!prefix || !rawPath.startsWith(prefix)) throw invalidParameter('Invalid path: the request path is not normalised');
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath.slice(prefix.length));
  } catch {
    throw invalidParameter('Invalid path: malformed percent-encoding');
  }
  return safeRelativePath(decoded);
}

/** A raw `#` in a request target is never legitimate (clients strip fragments): refuse it anywhere. */
function rejectFragment(req: FastifyRequest): void {
  if ((req.raw.url ?? '').includes('#')) throw invalidParameter("Invalid path: '#' is not allowed");
}

/** A query parameter given once as a string (the query string is decoded once by Fastify). */
function queryString(req: FastifyRequest, name: string): string | undefined {
  const v = (req.query as Record<string, unknown> | undefined)?.[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidParameter(`Invalid value for parameter '${name}': expected a single string`);
  return v;
}

/** Lets an unread body drain so the connection can be reused. */
function discardBody(req: FastifyRequest): void {
  const body = req.body as Readable | undefined;
  if (body && typeof body.resume === 'function') body.resume();
}

/**
 * Runs `fn`, which consumes the request body; a body cut short (the client disconnected or stopped sending)
 * becomes a 400 instead of an internal error: the client's fault, not the server's, and nothing to log.
 */
async function readingBody<T>(req: FastifyRequest, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isFlywheelError(e)) throw e;
    const code = (e as NodeJS.ErrnoException)?.code;
    if (req.raw.destroyed || req.raw.readableAborted || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
      throw new FlywheelError('BAD_REQUEST', 'The request body ended before it was complete (client disconnected?)', {
        cause: e,
      });
    }
    throw e;
  }
}

async function readLimited(body: Readable | undefined, limit: number): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    total += buf.length;
    if (total > limit) throw invalidParameter('Artifact size is too large. Max size is 10MB.');
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}
