import type {
  DatasetInput,
  DatasetSummary,
  Experiment,
  KeyValue,
  LoggedModel,
  LoggedModelStatus,
  Metric,
  MetricWithRunId,
  ModelInput,
  ModelOutput,
  Page,
  Run,
  RunInfo,
} from '../tracking/entities.js';
import type {
  BulkIntervalRequest,
  CreateExperimentRequest,
  CreateLoggedModelRequest,
  CreateRunRequest,
  GetMetricHistoryRequest,
  LogBatchRequest,
  SearchExperimentsRequest,
  SearchLoggedModelsRequest,
  SearchRunsRequest,
  TrackingService,
  UpdateRunRequest,
} from '../tracking/service.js';
import { decodeDouble, encodeMetrics } from '../server/mlflow-json.js';
import { HttpTransport, type HttpTransportOptions, type QueryValue } from './http-transport.js';

const API = '/api/2.0/mlflow';

/**
 * `TrackingService` over MLflow's REST API: the same calls the SQL store answers in process, made against a
 * Flywheel or MLflow tracking server. Entities come back in the wire shape, with "NaN"/"Infinity" metric
 * values turned back into numbers.
 */
export class HttpTrackingClient implements TrackingService {
  readonly transport: HttpTransport;

  constructor(options: HttpTransportOptions | HttpTransport) {
    this.transport = options instanceof HttpTransport ? options : new HttpTransport(options);
  }

  private get<T>(path: string, query: Record<string, QueryValue>): Promise<T> {
    return this.transport.json<T>('GET', API + path, { query, idempotent: true });
  }

  private post<T>(path: string, json: unknown, idempotent: boolean): Promise<T> {
    return this.transport.json<T>('POST', API + path, { json, idempotent });
  }

  private send<T>(method: 'PATCH' | 'DELETE', path: string, json: unknown | undefined): Promise<T> {
    return this.transport.json<T>(method, API + path, { json, idempotent: true });
  }

  // ---- experiments ----

  async createExperiment(req: CreateExperimentRequest): Promise<string> {
    const res = await this.post<{ experiment_id: string }>('/experiments/create', req, false);
    return String(res.experiment_id);
  }

  async getExperiment(experimentId: string): Promise<Experiment> {
    return (await this.get<{ experiment: Experiment }>('/experiments/get', { experiment_id: experimentId })).experiment;
  }

  async getExperimentByName(name: string): Promise<Experiment> {
    return (await this.get<{ experiment: Experiment }>('/experiments/get-by-name', { experiment_name: name })).experiment;
  }

  async searchExperiments(req: SearchExperimentsRequest): Promise<Page<Experiment>> {
    // MLflow refuses a missing max_results here; its own client always sends one.
    const res = await this.post<{ experiments?: Experiment[]; next_page_token?: string }>(
      '/experiments/search',
      { max_results: 1000, ...req },
      true,
    );
    return page(res.experiments, res.next_page_token);
  }

  async updateExperiment(experimentId: string, newName: string): Promise<void> {
    await this.post('/experiments/update', { experiment_id: experimentId, new_name: newName }, true);
  }

  async deleteExperiment(experimentId: string): Promise<void> {
    await this.post('/experiments/delete', { experiment_id: experimentId }, true);
  }

  async restoreExperiment(experimentId: string): Promise<void> {
    await this.post('/experiments/restore', { experiment_id: experimentId }, true);
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    await this.post('/experiments/set-experiment-tag', { experiment_id: experimentId, key, value }, true);
  }

  async deleteExperimentTag(experimentId: string, key: string): Promise<void> {
    await this.post('/experiments/delete-experiment-tag', { experiment_id: experimentId, key }, false);
  }

  async searchDatasets(experimentIds: string[]): Promise<DatasetSummary[]> {
    // MLflow serves this UI endpoint under /ajax-api only.
    const res = await this.transport.json<{ dataset_summaries?: DatasetSummary[] }>(
      'POST',
      '/ajax-api/2.0/mlflow/experiments/search-datasets',
      { json: { experiment_ids: experimentIds }, idempotent: true },
    );
    return res.dataset_summaries ?? [];
  }

  // ---- runs ----

  async createRun(req: CreateRunRequest): Promise<Run> {
    return decodeRun((await this.post<{ run: Run }>('/runs/create', req, false)).run);
  }

  async getRun(runId: string): Promise<Run> {
    return decodeRun((await this.get<{ run: Run }>('/runs/get', { run_id: runId })).run);
  }

  async updateRun(req: UpdateRunRequest): Promise<RunInfo> {
    return (await this.post<{ run_info: RunInfo }>('/runs/update', req, true)).run_info;
  }

  async deleteRun(runId: string): Promise<void> {
    await this.post('/runs/delete', { run_id: runId }, true);
  }

  async restoreRun(runId: string): Promise<void> {
    await this.post('/runs/restore', { run_id: runId }, true);
  }

  async searchRuns(req: SearchRunsRequest): Promise<Page<Run>> {
    const res = await this.post<{ runs?: Run[]; next_page_token?: string }>('/runs/search', req, true);
    return page(res.runs?.map(decodeRun), res.next_page_token);
  }

  // ---- metrics, params, tags ----

  async logMetric(runId: string, metric: Metric): Promise<void> {
    await this.post('/runs/log-metric', { run_id: runId, ...encodeMetrics([metric])[0] }, false);
  }

  async logParam(runId: string, key: string, value: string): Promise<void> {
    await this.post('/runs/log-parameter', { run_id: runId, key, value }, true);
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.post('/runs/set-tag', { run_id: runId, key, value }, true);
  }

  async deleteTag(runId: string, key: string): Promise<void> {
    await this.post('/runs/delete-tag', { run_id: runId, key }, false);
  }

  async logBatch(req: LogBatchRequest): Promise<void> {
    const body = req.metrics ? { ...req, metrics: encodeMetrics(req.metrics) } : req;
    await this.post('/runs/log-batch', body, false);
  }

  async logInputs(runId: string, datasets: DatasetInput[] = [], models: ModelInput[] = []): Promise<void> {
    await this.post('/runs/log-inputs', { run_id: runId, datasets, ...(models.length ? { models } : {}) }, true);
  }

  async logOutputs(runId: string, models: ModelOutput[]): Promise<void> {
    await this.post('/runs/outputs', { run_id: runId, models }, true);
  }

  async getMetricHistory(req: GetMetricHistoryRequest): Promise<Page<Metric>> {
    const res = await this.get<{ metrics?: Metric[]; next_page_token?: string }>('/metrics/get-history', { ...req });
    return page(res.metrics?.map(decodeMetric), res.next_page_token);
  }

  async getMetricHistoryBulkInterval(req: BulkIntervalRequest): Promise<MetricWithRunId[]> {
    const res = await this.get<{ metrics?: MetricWithRunId[] }>('/metrics/get-history-bulk-interval', { ...req });
    return (res.metrics ?? []).map(decodeMetric);
  }

  // ---- logged models (MLflow 3) ----

  async createLoggedModel(req: CreateLoggedModelRequest): Promise<LoggedModel> {
    return decodeLoggedModel((await this.post<{ model: LoggedModel }>('/logged-models', req, false)).model);
  }

  async getLoggedModel(modelId: string): Promise<LoggedModel> {
    return decodeLoggedModel((await this.get<{ model: LoggedModel }>(`/logged-models/${seg(modelId)}`, {})).model);
  }

  async finalizeLoggedModel(modelId: string, status: LoggedModelStatus): Promise<LoggedModel> {
    const res = await this.send<{ model: LoggedModel }>('PATCH', `/logged-models/${seg(modelId)}`, { model_id: modelId, status });
    return decodeLoggedModel(res.model);
  }

  async deleteLoggedModel(modelId: string): Promise<void> {
    await this.send('DELETE', `/logged-models/${seg(modelId)}`, undefined);
  }

  async searchLoggedModels(req: SearchLoggedModelsRequest): Promise<Page<LoggedModel>> {
    const res = await this.post<{ models?: LoggedModel[]; next_page_token?: string }>('/logged-models/search', req, true);
    return page(res.models?.map(decodeLoggedModel), res.next_page_token);
  }

  async setLoggedModelTags(modelId: string, tags: KeyValue[]): Promise<LoggedModel> {
    const res = await this.send<{ model: LoggedModel }>('PATCH', `/logged-models/${seg(modelId)}/tags`, { model_id: modelId, tags });
    return decodeLoggedModel(res.model);
  }

  async deleteLoggedModelTag(modelId: string, key: string): Promise<void> {
    await this.send('DELETE', `/logged-models/${seg(modelId)}/tags/${seg(key)}`, undefined);
  }

  async logLoggedModelParams(modelId: string, params: KeyValue[]): Promise<void> {
    await this.post(`/logged-models/${seg(modelId)}/params`, { model_id: modelId, params }, true);
  }
}

const seg = (s: string) => encodeURIComponent(s);

function page<T>(items: T[] | undefined, token: string | undefined): Page<T> {
  return token ? { items: items ?? [], next_page_token: token } : { items: items ?? [] };
}

function decodeMetric<T extends { value: number }>(m: T): T {
  return typeof m.value === 'number' ? m : { ...m, value: decodeDouble(m.value) ?? NaN };
}

/** Puts back what the wire omits (empty `data`/`inputs`) and decodes non-finite metric values. */
function decodeRun(run: Run): Run {
  const data = run.data ?? {};
  return {
    ...run,
    data: data.metrics ? { ...data, metrics: data.metrics.map(decodeMetric) } : data,
    inputs: run.inputs ?? {},
  };
}

function decodeLoggedModel(model: LoggedModel): LoggedModel {
  const data = model.data ?? {};
  return { ...model, data: data.metrics ? { ...data, metrics: data.metrics.map(decodeMetric) } : data };
}
