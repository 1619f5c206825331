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
  RunStatus,
  ViewType,
} from './entities.js';

export interface CreateExperimentRequest {
  name: string;
  artifact_location?: string;
  tags?: KeyValue[];
}

export interface SearchExperimentsRequest {
  filter?: string;
  order_by?: string[];
  max_results?: number;
  page_token?: string;
  view_type?: ViewType;
}

export interface CreateRunRequest {
  experiment_id: string;
  user_id?: string;
  run_name?: string;
  start_time?: number;
  tags?: KeyValue[];
}

export interface UpdateRunRequest {
  run_id: string;
  status?: RunStatus;
  end_time?: number;
  run_name?: string;
}

export interface LogBatchRequest {
  run_id: string;
  metrics?: Metric[];
  params?: KeyValue[];
  tags?: KeyValue[];
}

export interface SearchRunsRequest {
  experiment_ids: string[];
  filter?: string;
  run_view_type?: ViewType;
  max_results?: number;
  order_by?: string[];
  page_token?: string;
}

export interface GetMetricHistoryRequest {
  run_id: string;
  metric_key: string;
  max_results?: number;
  page_token?: string;
}

export interface BulkIntervalRequest {
  run_ids: string[];
  metric_key: string;
  start_step?: number;
  end_step?: number;
  max_results?: number;
}

export interface CreateLoggedModelRequest {
  experiment_id: string;
  name?: string;
  model_type?: string;
  source_run_id?: string;
  params?: KeyValue[];
  tags?: KeyValue[];
}

export interface SearchLoggedModelsRequest {
  experiment_ids: string[];
  filter?: string;
  datasets?: { dataset_name: string; dataset_digest?: string }[];
  max_results?: number;
  order_by?: { field_name: string; ascending?: boolean; dataset_name?: string; dataset_digest?: string }[];
  page_token?: string;
}

/**
 * Everything tracking can do. Implemented over SQL (`SqlTrackingStore`) and over HTTP (`client/`), so the
 * SDK behaves the same embedded or remote. Methods validate their input and throw `FlywheelError`.
 */
export interface TrackingService {
  createExperiment(req: CreateExperimentRequest): Promise<string>;
  getExperiment(experimentId: string): Promise<Experiment>;
  getExperimentByName(name: string): Promise<Experiment>;
  searchExperiments(req: SearchExperimentsRequest): Promise<Page<Experiment>>;
  updateExperiment(experimentId: string, newName: string): Promise<void>;
  deleteExperiment(experimentId: string): Promise<void>;
  restoreExperiment(experimentId: string): Promise<void>;
  setExperimentTag(experimentId: string, key: string, value: string): Promise<void>;
  deleteExperimentTag(experimentId: string, key: string): Promise<void>;
  /** Datasets used by runs of these experiments (1–20 ids), with their context tag; for the UI. */
  searchDatasets(experimentIds: string[]): Promise<DatasetSummary[]>;

  createRun(req: CreateRunRequest): Promise<Run>;
  getRun(runId: string): Promise<Run>;
  updateRun(req: UpdateRunRequest): Promise<RunInfo>;
  deleteRun(runId: string): Promise<void>;
  restoreRun(runId: string): Promise<void>;
  searchRuns(req: SearchRunsRequest): Promise<Page<Run>>;

  logMetric(runId: string, metric: Metric): Promise<void>;
  logParam(runId: string, key: string, value: string): Promise<void>;
  setTag(runId: string, key: string, value: string): Promise<void>;
  deleteTag(runId: string, key: string): Promise<void>;
  logBatch(req: LogBatchRequest): Promise<void>;
  logInputs(runId: string, datasets?: DatasetInput[], models?: ModelInput[]): Promise<void>;
  logOutputs(runId: string, models: ModelOutput[]): Promise<void>;

  getMetricHistory(req: GetMetricHistoryRequest): Promise<Page<Metric>>;
  /**
   * The same page already in MLflow's JSON encoding (an array of Metric, non-finite values as strings),
   * rendered by the database: a 100,000-point history never becomes 100,000 JavaScript objects. Optional:
   * the server uses it when the service has it.
   */
  getMetricHistoryJson?(req: GetMetricHistoryRequest): Promise<{ metricsJson: string | Buffer; count: number; next_page_token?: string }>;
  getMetricHistoryBulkInterval(req: BulkIntervalRequest): Promise<MetricWithRunId[]>;

  createLoggedModel(req: CreateLoggedModelRequest): Promise<LoggedModel>;
  getLoggedModel(modelId: string): Promise<LoggedModel>;
  finalizeLoggedModel(modelId: string, status: LoggedModelStatus): Promise<LoggedModel>;
  deleteLoggedModel(modelId: string): Promise<void>;
  searchLoggedModels(req: SearchLoggedModelsRequest): Promise<Page<LoggedModel>>;
  setLoggedModelTags(modelId: string, tags: KeyValue[]): Promise<LoggedModel>;
  deleteLoggedModelTag(modelId: string, key: string): Promise<void>;
  logLoggedModelParams(modelId: string, params: KeyValue[]): Promise<void>;
}
