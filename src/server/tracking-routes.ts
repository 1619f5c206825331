import type { FastifyInstance } from 'fastify';
import { invalidParameter, LIMITS } from '../core/index.js';
import { appendLogModelHistory, RUN_STATUSES, VIEW_TYPES, type Metric } from '../tracking/index.js';
import type { AppContext } from './app.js';
import { encodeMetrics } from './mlflow-json.js';
import { missing, type Params } from './mlflow-request.js';
import { mlflowRoute } from './mlflow-routes.js';
import { positiveInt, readDatasetInputs, readKeyValues, readMetric, readMetrics, wireRun } from './tracking-wire.js';

/** Endpoints whose protos are MLflow 3's are served under /api/3.0 as well. */
const V3 = { versions: ['2.0', '3.0'] as ('2.0' | '3.0')[] };

/** MLflow's experiments, runs, metrics and run-artifact listing endpoints, translated to the tracking service. */
export function trackingRoutes(app: FastifyInstance, { tracking, artifacts }: AppContext): void {
  // ---- experiments ----
  mlflowRoute(app, 'POST', '/experiments/create', async (p) => {
    if (!p.has('name')) throw missing('name');
    const name = p.string('name')!;
    if (name === '') throw missing('name');
    const experiment_id = await tracking.createExperiment({
      name,
      artifact_location: p.string('artifact_location') || undefined,
      tags: readKeyValues(p, 'tags'),
    });
    return { experiment_id };
  });
  mlflowRoute(app, 'GET', '/experiments/get', async (p) => ({
    experiment: await tracking.getExperiment(p.requiredString('experiment_id')),
  }));
  mlflowRoute(app, 'GET', '/experiments/get-by-name', async (p) => ({
    experiment: await tracking.getExperimentByName(p.requiredString('experiment_name')),
  }));
  mlflowRoute(app, ['GET', 'POST'], '/experiments/search', async (p) => {
    const page = await tracking.searchExperiments({
      max_results: p.int('max_results'),
      page_token: p.string('page_token') || undefined,
      filter: p.string('filter') || undefined,
      order_by: p.strings('order_by'),
      view_type: p.enumValue('view_type', VIEW_TYPES),
    });
    return { experiments: page.items.length ? page.items : undefined, next_page_token: page.next_page_token };
  });
  // Removed in MLflow 2.0 but still called by 1.x-era clients (and the npm `mlflow` package).
  mlflowRoute(app, 'GET', '/experiments/list', async (p) => {
    const page = await tracking.searchExperiments({ max_results: 50_000, view_type: p.enumValue('view_type', VIEW_TYPES) });
    return { experiments: page.items.length ? page.items : undefined };
  });
  mlflowRoute(app, 'POST', '/experiments/update', async (p) => {
    await tracking.updateExperiment(p.requiredString('experiment_id'), p.requiredString('new_name'));
  });
  mlflowRoute(app, 'POST', '/experiments/delete', async (p) => {
    await tracking.deleteExperiment(p.requiredString('experiment_id'));
  });
  mlflowRoute(app, 'POST', '/experiments/restore', async (p) => {
    await tracking.restoreExperiment(p.requiredString('experiment_id'));
  });
  mlflowRoute(app, 'POST', '/experiments/set-experiment-tag', async (p) => {
    await tracking.setExperimentTag(p.requiredString('experiment_id'), p.requiredString('key'), requiredValue(p));
  });
  mlflowRoute(app, 'POST', '/experiments/delete-experiment-tag', async (p) => {
    await tracking.deleteExperimentTag(p.requiredString('experiment_id'), p.requiredString('key'));
  }, V3);
  mlflowRoute(
    app,
    'POST',
    '/experiments/search-datasets',
    async (p) => {
      const ids = p.strings('experiment_ids');
      if (ids.length < 1 || ids.length > 20) throw invalidParameter('experiment_ids must contain between 1 and 20 ids.');
      const summaries = await tracking.searchDatasets(ids);
      return { dataset_summaries: summaries.length ? summaries : undefined };
    },
    { ajaxOnly: true },
  );

  // ---- runs ----
  mlflowRoute(app, 'POST', '/runs/create', async (p) => {
    const run = await tracking.createRun({
      experiment_id: p.string('experiment_id') ?? '',
      user_id: p.string('user_id'),
      run_name: p.string('run_name') || undefined,
      start_time: p.int('start_time'),
      tags: readKeyValues(p, 'tags'),
    });
    return { run: wireRun(run) };
  });
  mlflowRoute(app, 'POST', '/runs/update', async (p) => {
    const run_info = await tracking.updateRun({
      run_id: p.runId(),
      status: p.enumValue('status', RUN_STATUSES),
      end_time: p.int('end_time'),
      run_name: p.string('run_name') || undefined,
    });
    return { run_info };
  });
  mlflowRoute(app, 'POST', '/runs/delete', async (p) => {
    await tracking.deleteRun(p.runId());
  });
  mlflowRoute(app, 'POST', '/runs/restore', async (p) => {
    await tracking.restoreRun(p.runId());
  });
  mlflowRoute(app, 'GET', '/runs/get', async (p) => ({ run: wireRun(await tracking.getRun(p.runId())) }));
  mlflowRoute(app, 'POST', '/runs/search', async (p) => {
    const page = await tracking.searchRuns({
      experiment_ids: p.strings('experiment_ids'),
      filter: p.string('filter') || undefined,
      run_view_type: p.enumValue('run_view_type', VIEW_TYPES),
      max_results: p.int('max_results'),
      order_by: p.strings('order_by'),
      page_token: p.string('page_token') || undefined,
    });
    return { runs: page.items.length ? page.items.map(wireRun) : undefined, next_page_token: page.next_page_token };
  });

  mlflowRoute(app, 'POST', '/runs/log-metric', async (p) => {
    const runId = p.runId();
    await tracking.logMetric(runId, readMetric(p));
  });
  mlflowRoute(app, 'POST', '/runs/log-parameter', async (p) => {
    await tracking.logParam(p.runId(), p.requiredString('key'), requiredValue(p));
  });
  mlflowRoute(app, 'POST', '/runs/set-tag', async (p) => {
    await tracking.setTag(p.runId(), p.requiredString('key'), requiredValue(p));
  });
  mlflowRoute(app, 'POST', '/runs/delete-tag', async (p) => {
    await tracking.deleteTag(p.runId(), p.requiredString('key'));
  });
  mlflowRoute(app, 'POST', '/runs/log-batch', async (p, req) => {
    const size = Number(req.headers['content-length'] ?? (typeof req.body === 'string' ? Buffer.byteLength(req.body) : 0));
    if (size > LIMITS.batchBytes) {
      throw invalidParameter(`Batched logging API requests must be at most ${LIMITS.batchBytes} bytes, got a request of ${size} bytes.`);
    }
    const runId = p.runId();
    await tracking.logBatch({
      run_id: runId,
      metrics: readMetrics(p),
      params: readKeyValues(p, 'params'),
      tags: readKeyValues(p, 'tags'),
    });
  });
  mlflowRoute(app, 'POST', '/runs/log-inputs', async (p) => {
    const models = p.objects('models').map((m) => ({ model_id: m.requiredString('model_id') }));
    await tracking.logInputs(p.runId(), readDatasetInputs(p), models);
  });
  mlflowRoute(app, 'POST', '/runs/outputs', async (p) => {
    const models = p.objects('models').map((m) => ({ model_id: m.requiredString('model_id'), step: m.int('step') ?? 0 }));
    await tracking.logOutputs(p.runId(), models);
  }, V3);
  mlflowRoute(app, 'POST', '/runs/log-model', async (p) => {
    await appendLogModelHistory(tracking, p.runId(), p.requiredString('model_json'));
  });

  // ---- metric history ----
  mlflowRoute(app, 'GET', '/metrics/get-history', async (p, _req, reply) => {
    const req = {
      run_id: p.runId(),
      metric_key: p.requiredString('metric_key'),
      max_results: p.int('max_results'),
      page_token: p.string('page_token') || undefined,
    };
    if (tracking.getMetricHistoryJson) {
      const page = await tracking.getMetricHistoryJson(req);
      const token = page.next_page_token ? `,"next_page_token":${JSON.stringify(page.next_page_token)}` : '';
      if (!page.count) return reply.type('application/json').send(token ? `{${token.slice(1)}}` : '{}');
      const json = typeof page.metricsJson === 'string' ? Buffer.from(page.metricsJson) : page.metricsJson;
      const body = [Buffer.from('{"metrics":'), json, Buffer.from(`${token}}`)];
      return reply.type('application/json').send(Buffer.concat(body));
    }
    const page = await tracking.getMetricHistory(req);
    return { metrics: page.items.length ? encodeMetrics(page.items) : undefined, next_page_token: page.next_page_token };
  });
  mlflowRoute(app, 'GET', '/metrics/get-history-bulk-interval', async (p) => {
    const metrics = await tracking.getMetricHistoryBulkInterval({
      run_ids: p.strings('run_ids'),
      metric_key: p.requiredString('metric_key'),
      start_step: p.int('start_step'),
      end_step: p.int('end_step'),
      max_results: p.int('max_results'),
    });
    return { metrics: metrics.length ? encodeMetrics(metrics) : undefined };
  });
  mlflowRoute(
    app,
    'GET',
    '/metrics/get-history-bulk',
    async (p) => {
      const runIds = [...new Set(p.strings('run_id'))];
      if (!runIds.length) throw missing('run_id');
      if (runIds.length > LIMITS.bulkRunIds) {
        throw invalidParameter(`GetMetricHistoryBulk request cannot specify more than ${LIMITS.bulkRunIds} run_ids. Received ${runIds.length} run_ids.`);
      }
      const key = p.requiredString('metric_key');
      const max = positiveInt(p, 'max_results', LIMITS.bulkMaxResults, LIMITS.bulkMaxResults)!;
      const metrics: (Metric & { run_id: string })[] = [];
      for (const run_id of runIds) {
        if (metrics.length >= max) break;
        const page = await tracking.getMetricHistory({ run_id, metric_key: key, max_results: max - metrics.length });
        for (const m of page.items) metrics.push({ ...m, run_id });
      }
      return { metrics: encodeMetrics(metrics) };
    },
    { ajaxOnly: true },
  );

  // ---- run artifacts ----
  mlflowRoute(app, 'GET', '/artifacts/list', async (p) => {
    const run = await tracking.getRun(p.runId());
    const path = p.string('path') ?? '';
    const files = await artifacts.listArtifacts(run.info.artifact_uri, path);
    return { root_uri: run.info.artifact_uri, files: files.length ? files : undefined };
  });
}

/** A `value` that must be present but may be empty. */
function requiredValue(p: Params): string {
  const v = p.string('value');
  if (v === undefined) throw missing('value');
  return v;
}
