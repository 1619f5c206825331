import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalidParameter } from '../core/index.js';
import { Params } from './mlflow-request.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
export type MlflowHandler = (p: Params, req: FastifyRequest, reply: FastifyReply) => Promise<unknown> | unknown;

export interface MlflowRouteOptions {
  /** API versions the route is served under: MLflow serves 3.x-only protos at /api/3.0 too. */
  versions?: ('2.0' | '3.0')[];
  /** Served only under /ajax-api (UI endpoints). */
  ajaxOnly?: boolean;
}

/** Prefixes an MLflow proto path is served under. */
export function mlflowPaths(path: string, opts: MlflowRouteOptions = {}): string[] {
  const versions = opts.versions ?? ['2.0'];
  const out: string[] = [];
  for (const v of versions) {
    if (!opts.ajaxOnly) out.push(`/api/${v}/mlflow${path}`);
    out.push(`/ajax-api/${v}/mlflow${path}`);
  }
  return out;
}

/**
 * Registers an MLflow endpoint. The handler gets the request's parameters (query for GET, JSON body
 * otherwise, path parameters merged in) and returns the response object, sent as MLflow JSON.
 */
export function mlflowRoute(
  app: FastifyInstance,
  method: HttpMethod | HttpMethod[],
  path: string,
  handler: MlflowHandler,
  opts: MlflowRouteOptions = {},
): void {
  for (const url of mlflowPaths(path, opts)) {
    app.route({
      method,
      url,
      handler: async (req, reply) => {
        const raw = {
          ...(req.method === 'GET' ? (req.query as Record<string, unknown>) : requestBody(req)),
          ...(req.params as Record<string, unknown>),
        };
        const result = await handler(new Params(raw), req, reply);
        if (reply.sent) return reply;
        return reply.type('application/json').send(JSON.stringify(result ?? {}));
      },
    });
  }
}

function requestBody(req: FastifyRequest): Record<string, unknown> {
  let body = req.body as unknown;
  if (body === undefined || body === null || body === '') return { ...(req.query as object) };
  if (typeof body === 'string') {
    body = parseJson(body);
    // Old clients send a JSON string that holds the JSON document.
    if (typeof body === 'string') body = parseJson(body);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidParameter('Request body must be a JSON object.');
  }
  return body as Record<string, unknown>;
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalidParameter(`Malformed JSON in request body: ${(e as Error).message}`);
  }
}

/**
 * Body handling for the MLflow API scope: POST and PUT must say `application/json` (this also refuses
 * drive-by `text/plain` form posts from other sites); bodies are read as text and parsed by the route.
 */
export function installMlflowBodyParsing(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (req, body, done) => {
    const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if ((req.method === 'POST' || req.method === 'PUT') && type !== 'application/json') {
      done(invalidParameter("Bad Request. Content-Type must be one of ['application/json']."), undefined);
      return;
    }
    done(null, body);
  });
  app.addHook('preValidation', async (req) => {
    if ((req.method === 'POST' || req.method === 'PUT') && req.headers['content-type'] === undefined) {
      throw invalidParameter('Bad Request. Content-Type header is missing.');
    }
  });
}
