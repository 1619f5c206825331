import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalidParameter } from '../core/index.js';
import type { Actor, RegistryService } from '../registry/index.js';
import { missing, Params } from './mlflow-request.js';
import { mlflowRoute } from './mlflow-routes.js';
import { readKeyValues } from './tracking-wire.js';

/** Who is acting: the `x-flywheel-user` header ('' until authentication exists), and the optional `reason`. */
function actorOf(p: Params, req: FastifyRequest): Actor {
  const header = req.headers['x-flywheel-user'];
  return { actor: (Array.isArray(header) ? header[0] : header) ?? '', reason: p.string('reason') || undefined };
}

/** A version as received: JSON number or string; parsed (and refused) by the registry. */
function versionOf(p: Params): string {
  let v = p.raw.version;
  if (Array.isArray(v) && v.length === 1) v = v[0];
  if (v === undefined || v === null || v === '') throw missing('version');
  return String(v);
}

const list = <T>(items: T[]) => (items.length ? items : undefined);

/** MLflow's model registry endpoints, plus Flywheel's promotion history and lineage (`/api/v1`). */
export function registryRoutes(app: FastifyInstance, registry: RegistryService): void {
  // ---- registered models ----
  mlflowRoute(app, 'POST', '/registered-models/create', async (p, req) => ({
    registered_model: await registry.createRegisteredModel({
      name: p.requiredString('name'),
      description: p.string('description'),
      tags: readKeyValues(p, 'tags'),
      user_id: actorOf(p, req).actor || undefined,
    }),
  }));
  mlflowRoute(app, 'GET', '/registered-models/get', async (p) => ({
    registered_model: await registry.getRegisteredModel(p.requiredString('name')),
  }));
  mlflowRoute(app, 'POST', '/registered-models/rename', async (p) => ({
    registered_model: await registry.renameRegisteredModel(p.requiredString('name'), p.requiredString('new_name')),
  }));
  mlflowRoute(app, 'PATCH', '/registered-models/update', async (p) => ({
    registered_model: await registry.updateRegisteredModel(p.requiredString('name'), p.string('description')),
  }));
  mlflowRoute(app, 'DELETE', '/registered-models/delete', async (p) => {
    await registry.deleteRegisteredModel(p.requiredString('name'));
  });
  mlflowRoute(app, 'GET', '/registered-models/search', async (p) => {
    const page = await registry.searchRegisteredModels({
      filter: p.string('filter') || undefined,
      max_results: p.raw.max_results ?? undefined,
      order_by: p.strings('order_by'),
      page_token: p.string('page_token') || undefined,
    });
    return { registered_models: list(page.items), next_page_token: page.next_page_token };
  });
  mlflowRoute(app, ['GET', 'POST'], '/registered-models/get-latest-versions', async (p) => ({
    model_versions: list(await registry.getLatestVersions(p.requiredString('name'), p.strings('stages'))),
  }));
  mlflowRoute(app, 'POST', '/registered-models/set-tag', async (p) => {
    if (!p.has('value')) throw missing('value');
    await registry.setRegisteredModelTag(p.requiredString('name'), p.requiredString('key'), p.string('value')!);
  });
  mlflowRoute(app, 'DELETE', '/registered-models/delete-tag', async (p) => {
    await registry.deleteRegisteredModelTag(p.requiredString('name'), p.requiredString('key'));
  });

  // ---- aliases ----
  mlflowRoute(app, 'POST', '/registered-models/alias', async (p, req) => {
    await registry.setAlias(p.requiredString('name'), p.requiredString('alias'), versionOf(p), actorOf(p, req));
  });
  mlflowRoute(app, 'DELETE', '/registered-models/alias', async (p, req) => {
    await registry.deleteAlias(p.requiredString('name'), p.requiredString('alias'), actorOf(p, req));
  });
  mlflowRoute(app, 'GET', '/registered-models/alias', async (p) => ({
    model_version: await registry.getModelVersionByAlias(p.requiredString('name'), p.requiredString('alias')),
  }));

  // ---- model versions ----
  mlflowRoute(app, 'POST', '/model-versions/create', async (p, req) => ({
    model_version: await registry.createModelVersion({
      name: p.requiredString('name'),
      source: p.requiredString('source'),
      run_id: p.runId(false) || undefined,
      run_link: p.string('run_link') || undefined,
      description: p.string('description'),
      tags: readKeyValues(p, 'tags'),
      user_id: actorOf(p, req).actor || undefined,
    }),
  }));
  mlflowRoute(app, 'GET', '/model-versions/get', async (p) => ({
    model_version: await registry.getModelVersion(p.requiredString('name'), versionOf(p)),
  }));
  mlflowRoute(app, 'PATCH', '/model-versions/update', async (p) => ({
    model_version: await registry.updateModelVersion(p.requiredString('name'), versionOf(p), p.string('description')),
  }));
  mlflowRoute(app, 'DELETE', '/model-versions/delete', async (p) => {
    await registry.deleteModelVersion(p.requiredString('name'), versionOf(p));
  });
  mlflowRoute(app, ['GET', 'POST'], '/model-versions/search', async (p) => {
    const page = await registry.searchModelVersions({
      filter: p.string('filter') || undefined,
      max_results: p.raw.max_results ?? undefined,
      order_by: p.strings('order_by'),
      page_token: p.string('page_token') || undefined,
    });
    return { model_versions: list(page.items), next_page_token: page.next_page_token };
  });
  mlflowRoute(app, 'GET', '/model-versions/get-download-uri', async (p) => ({
    artifact_uri: await registry.getModelVersionDownloadUri(p.requiredString('name'), versionOf(p)),
  }));
  mlflowRoute(app, 'POST', '/model-versions/transition-stage', async (p, req) => {
    const name = p.requiredString('name');
    const version = versionOf(p);
    const stage = p.requiredString('stage');
    const archive = p.bool('archive_existing_versions');
    if (archive === undefined) throw missing('archive_existing_versions');
    return { model_version: await registry.transitionStage(name, version, stage, archive, actorOf(p, req)) };
  });
  mlflowRoute(app, 'POST', '/model-versions/set-tag', async (p) => {
    if (!p.has('value')) throw missing('value');
    await registry.setModelVersionTag(p.requiredString('name'), versionOf(p), p.requiredString('key'), p.string('value')!);
  });
  mlflowRoute(app, 'DELETE', '/model-versions/delete-tag', async (p) => {
    await registry.deleteModelVersionTag(p.requiredString('name'), versionOf(p), p.requiredString('key'));
  });

  // ---- Flywheel's own: promotion history and lineage ----
  const native = (method: 'GET' | 'POST', url: string, handler: (p: Params, req: FastifyRequest) => Promise<unknown>) =>
    app.route({
      method,
      url,
      handler: async (req, reply) => {
        const raw = { ...(req.query as object), ...nativeBody(req), ...(req.params as object) };
        const result = await handler(new Params(raw), req);
        return reply.type('application/json').send(JSON.stringify(result ?? {}));
      },
    });
  native('GET', '/api/v1/registered-models/:name/promotions', async (p) => ({
    promotions: list(await registry.listPromotions(p.requiredString('name'))),
  }));
  native('POST', '/api/v1/registered-models/:name/aliases/:alias/rollback', async (p, req) => ({
    model_version: await registry.rollbackAlias(p.requiredString('name'), p.requiredString('alias'), actorOf(p, req)),
  }));
  native('GET', '/api/v1/model-versions/:name/:version/lineage', async (p) => ({
    lineage: await registry.lineage(p.requiredString('name'), versionOf(p)),
  }));
  native('GET', '/api/v1/runs/:run_id/model-versions', async (p) => ({
    model_versions: list(await registry.modelVersionsOfRun(p.requiredString('run_id'))),
  }));
}

function nativeBody(req: FastifyRequest): Record<string, unknown> {
  const body = req.body;
  if (typeof body !== 'string' || body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    throw invalidParameter(`Malformed JSON in request body: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidParameter('Request body must be a JSON object.');
  return parsed as Record<string, unknown>;
}
