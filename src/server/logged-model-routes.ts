import type { FastifyInstance } from 'fastify';
import { invalidParameter } from '../core/index.js';
import { LOGGED_MODEL_STATUSES, type LoggedModel } from '../tracking/index.js';
import type { AppContext } from './app.js';
import { encodeMetrics } from './mlflow-json.js';
import { missing } from './mlflow-request.js';
import { mlflowRoute } from './mlflow-routes.js';
import { readKeyValues } from './tracking-wire.js';

const wireModel = (m: LoggedModel) => (m.data.metrics ? { ...m, data: { ...m.data, metrics: encodeMetrics(m.data.metrics) } } : m);

/** MLflow 3 logged models: without them an MLflow 3 client can neither log a model nor read run artifacts. */
export function loggedModelRoutes(app: FastifyInstance, { tracking, artifacts }: AppContext): void {
  // Logged models are MLflow 3 protos: served under /api/3.0 as well as /api/2.0 where clients call them.
  const v3 = { versions: ['2.0', '3.0'] as ('2.0' | '3.0')[] };
  mlflowRoute(app, 'POST', '/logged-models', async (p) => {
    const model = await tracking.createLoggedModel({
      experiment_id: p.requiredString('experiment_id'),
      name: p.string('name') || undefined,
      model_type: p.string('model_type') || undefined,
      source_run_id: p.string('source_run_id') || undefined,
      params: readKeyValues(p, 'params'),
      tags: readKeyValues(p, 'tags'),
    });
    return { model: wireModel(model) };
  }, v3);
  mlflowRoute(app, 'POST', '/logged-models/search', async (p) => {
    const page = await tracking.searchLoggedModels({
      experiment_ids: p.strings('experiment_ids'),
      filter: p.string('filter') || undefined,
      datasets: p.objects('datasets').map((d) => ({
        dataset_name: d.requiredString('dataset_name'),
        dataset_digest: d.string('dataset_digest') || undefined,
      })),
      max_results: p.int('max_results'),
      order_by: p.objects('order_by').map((o) => ({
        field_name: o.requiredString('field_name'),
        ascending: o.bool('ascending'),
        dataset_name: o.string('dataset_name') || undefined,
        dataset_digest: o.string('dataset_digest') || undefined,
      })),
      page_token: p.string('page_token') || undefined,
    });
    return { models: page.items.length ? page.items.map(wireModel) : undefined, next_page_token: page.next_page_token };
  }, v3);
  mlflowRoute(app, 'GET', '/logged-models/:model_id', async (p) => ({
    model: wireModel(await tracking.getLoggedModel(p.requiredString('model_id'))),
  }), v3);
  mlflowRoute(app, 'PATCH', '/logged-models/:model_id', async (p) => {
    if (!p.has('status')) throw missing('status');
    const status = p.enumValue('status', LOGGED_MODEL_STATUSES);
    if (!status) throw invalidParameter(`Invalid logged model status '${String(p.raw.status)}'. Value must be one of ${LOGGED_MODEL_STATUSES.join(', ')}.`);
    return { model: wireModel(await tracking.finalizeLoggedModel(p.requiredString('model_id'), status)) };
  }, v3);
  mlflowRoute(app, 'DELETE', '/logged-models/:model_id', async (p) => {
    await tracking.deleteLoggedModel(p.requiredString('model_id'));
  }, v3);
  mlflowRoute(app, 'PATCH', '/logged-models/:model_id/tags', async (p) => ({
    model: wireModel(await tracking.setLoggedModelTags(p.requiredString('model_id'), readKeyValues(p, 'tags'))),
  }), v3);
  mlflowRoute(app, 'DELETE', '/logged-models/:model_id/tags/:tag_key', async (p) => {
    await tracking.deleteLoggedModelTag(p.requiredString('model_id'), p.requiredString('tag_key'));
  }, v3);
  mlflowRoute(app, 'POST', '/logged-models/:model_id/params', async (p) => {
    await tracking.logLoggedModelParams(p.requiredString('model_id'), readKeyValues(p, 'params'));
  }, v3);
  mlflowRoute(app, 'GET', '/logged-models/:model_id/artifacts/directories', async (p) => {
    const model = await tracking.getLoggedModel(p.requiredString('model_id'));
    const files = await artifacts.listArtifacts(model.info.artifact_uri, p.string('artifact_directory_path') ?? '');
    return { root_uri: model.info.artifact_uri, files: files.length ? files : undefined };
  }, v3);
}
