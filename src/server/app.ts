import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { FlywheelError, isFlywheelError } from '../core/index.js';
import type { TrackingService } from '../tracking/index.js';
import type { ArtifactStore } from '../artifacts/index.js';
import { installMlflowBodyParsing } from './mlflow-routes.js';
import { installHostCheck } from './host-check.js';
import { trackingRoutes } from './tracking-routes.js';
import { loggedModelRoutes } from './logged-model-routes.js';
import { artifactRoutes } from './artifact-routes.js';
import { registryRoutes } from './registry-routes.js';
import type { RegistryService } from '../registry/index.js';
import { pipelineRoutes } from './pipeline-routes.js';
import { lineageRoutes } from './lineage-routes.js';
import type { PipelineQueries } from '../pipelines/pipeline-queries.js';
import { servingRoutes } from './serving-routes.js';
import type { SqlServingStore } from '../serving/sql-serving-store.js';
import { MLFLOW_COMPAT_VERSION, FLYWHEEL_VERSION } from './version.js';

export interface AppContext {
  tracking: TrackingService;
  artifacts: ArtifactStore;
  /** The model registry; without it the registry endpoints are not served. */
  registry?: RegistryService;
  /** Read-only pipeline views; without it the /api/v1 pipeline endpoints are not served. */
  pipelines?: PipelineQueries;
  /** Inference log and deployments; without it the /api/v1 serving endpoints are not served. */
  serving?: SqlServingStore;
  logger?: Logger | false;
  /** Host names the server answers (see host-check.ts); undefined answers every host. */
  allowedHosts?: string[];
}

const NOT_FOUND_HTML =
  '<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n' +
  '<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n';
const NOT_ALLOWED_HTML =
  '<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n' +
  '<p>The method is not allowed for the requested URL.</p>\n';

const UI_PLACEHOLDER = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flywheel</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>Flywheel</h1>
<p>The tracking server is running. The web UI is coming; until then use the API or any MLflow client:</p>
<pre>export MLFLOW_TRACKING_URI=http://localhost:5000
python -c "import mlflow; mlflow.log_metric('hello', 1)"</pre>
<p><a href="/health">/health</a> · <a href="/version">/version</a></p>
</body></html>
`;

/** The HTTP app: MLflow-compatible routes, the artifact proxy, health and version. No business rules here. */
export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const app = Fastify({
    ...(ctx.logger ? { loggerInstance: ctx.logger as FastifyBaseLogger } : { logger: false }),
    // Per-request log lines would cost more than the requests themselves on the ingest path.
    logController: new LogController({ disableRequestLogging: true }),
    // Up to 16 MiB dataset profiles in log-inputs, and a margin for JSON escaping.
    bodyLimit: 64 * 1024 * 1024,
    routerOptions: { maxParamLength: 2000 },
    // A client that stops sending (a stalled upload, a held-open socket) is dropped after two idle minutes;
    // a slow upload that keeps sending is not (large artifacts may take long).
    connectionTimeout: 120_000,
    genReqId: () => crypto.randomUUID(),
    // A malformed URL escape (`%zz`) never reaches a route: answer it in MLflow's error shape too.
    frameworkErrors: (err, _req, reply) => {
      const e = new FlywheelError('INVALID_PARAMETER_VALUE', `Malformed request: ${err.message}`);
      void (reply as FastifyReply).status(e.status).type('application/json').send(JSON.stringify(e.toJSON()));
    },
  });

  app.setErrorHandler((err: FastifyError | FlywheelError, req, reply) => {
    const e = toFlywheelError(err);
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    void reply.status(e.status).type('application/json').send(JSON.stringify(e.toJSON()));
  });

  app.setNotFoundHandler((req, reply) => {
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
    const path = req.url.split('?')[0];
    const other = methods.some((m) => m !== req.method && app.hasRoute({ method: m, url: path }));
    void reply
      .status(other ? 405 : 404)
      .type('text/html; charset=utf-8')
      .send(other ? NOT_ALLOWED_HTML : NOT_FOUND_HTML);
  });

  installHostCheck(app, ctx.allowedHosts);

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('X-Frame-Options', 'SAMEORIGIN');
    return payload;
  });

  app.get('/health', async (_req, reply) => reply.type('text/html; charset=utf-8').send('OK'));
  app.get('/version', async (_req, reply) => reply.type('text/html; charset=utf-8').send(MLFLOW_COMPAT_VERSION));
  app.get('/api/v1/version', async () => ({ flywheel: FLYWHEEL_VERSION, mlflow_compat: MLFLOW_COMPAT_VERSION }));
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(UI_PLACEHOLDER));

  await app.register(async (scope) => {
    installMlflowBodyParsing(scope, 64 * 1024 * 1024);
    trackingRoutes(scope, ctx);
    loggedModelRoutes(scope, ctx);
    if (ctx.registry) registryRoutes(scope, ctx.registry);
  });
  await app.register(async (scope) => artifactRoutes(scope, ctx));
  await app.register(async (scope) => lineageRoutes(scope, ctx));
  if (ctx.pipelines) {
    const pipelines = ctx.pipelines;
    await app.register(async (scope) => pipelineRoutes(scope, pipelines, ctx.artifacts));
  }
  const serving = ctx.serving;
  if (serving) await app.register(async (scope) => servingRoutes(scope, serving));
  return app;
}

function toFlywheelError(err: unknown): FlywheelError {
  if (isFlywheelError(err)) return err;
  const fe = err as FastifyError;
  if (fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new FlywheelError('INVALID_PARAMETER_VALUE', `Request body is too large (${fe.message})`);
  }
  if (fe?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new FlywheelError('INVALID_PARAMETER_VALUE', "Bad Request. Content-Type must be one of ['application/json'].");
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new FlywheelError('BAD_REQUEST', fe.message);
  }
  return new FlywheelError('INTERNAL_ERROR', 'Internal server error; the server log has the details.', { cause: err });
}
