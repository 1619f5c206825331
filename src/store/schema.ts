import type { Generated } from 'kysely';

/**
 * The relational schema, as Kysely sees it. Table and column names follow MLflow's SQL store where one
 * exists, so people who know that schema find their way. Times are epoch milliseconds (int64).
 */
export interface ExperimentTable {
  experiment_id: Generated<number>;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
  creation_time: number;
  last_update_time: number;
}

export interface ExperimentTagTable {
  experiment_id: number;
  key: string;
  value: string;
}

export interface RunTable {
  /** Compact integer key, used by the metric history instead of the 32-character run id. */
  run_key: Generated<number>;
  run_uuid: string;
  name: string;
  experiment_id: number;
  user_id: string;
  status: string;
  start_time: number;
  end_time: number | null;
  deleted_time: number | null;
  lifecycle_stage: string;
  artifact_uri: string;
}

export interface KeyValueTable {
  run_uuid: string;
  key: string;
  value: string;
}

/** Metric history: append-only. NaN cannot be stored as a REAL in SQLite, hence `is_nan`. */
export interface MetricTable {
  run_key: number;
  key: string;
  value: number;
  is_nan: number;
  timestamp: number;
  step: number;
}

/** The latest value per (run, key): max by (step, timestamp, value), as MLflow defines it. */
export interface LatestMetricTable {
  run_uuid: string;
  key: string;
  value: number;
  is_nan: number;
  timestamp: number;
  step: number;
}

export interface DatasetTable {
  dataset_uuid: string;
  experiment_id: number;
  name: string;
  digest: string;
  dataset_source_type: string;
  dataset_source: string;
  dataset_schema: string | null;
  dataset_profile: string | null;
}

/** A link from a source (a dataset or a logged model) into a destination (a run). */
export interface InputTable {
  input_uuid: string;
  source_type: string;
  source_id: string;
  destination_type: string;
  destination_id: string;
}

export interface InputTagTable {
  input_uuid: string;
  name: string;
  value: string;
}

export interface RunOutputTable {
  run_uuid: string;
  model_id: string;
  step: number;
}

export interface LoggedModelTable {
  model_id: string;
  experiment_id: number;
  name: string;
  artifact_location: string;
  creation_timestamp_ms: number;
  last_updated_timestamp_ms: number;
  status: string;
  lifecycle_stage: string;
  model_type: string | null;
  source_run_id: string | null;
  status_message: string | null;
  creator_id: string | null;
}

export interface LoggedModelKeyValueTable {
  model_id: string;
  key: string;
  value: string;
}

export interface RegisteredModelTable {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description: string | null;
  user_id: string | null;
}

export interface ModelVersionTable {
  name: string;
  version: number;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string | null;
  current_stage: string;
  description: string | null;
  source: string;
  run_id: string | null;
  status: string;
  status_message: string | null;
  run_link: string | null;
  storage_location: string | null;
}

export interface RegisteredModelTagTable {
  name: string;
  key: string;
  value: string;
}

export interface ModelVersionTagTable {
  name: string;
  version: number;
  key: string;
  value: string;
}

export interface RegisteredModelAliasTable {
  name: string;
  alias: string;
  version: number;
}

/** Promotion history: one row per alias set/move/delete or stage transition. `kind` is 'alias' or 'stage'. */
export interface PromotionEventTable {
  id: Generated<number>;
  name: string;
  kind: string;
  /** The alias name, or the stage moved into. */
  target: string;
  from_version: number | null;
  to_version: number | null;
  actor: string;
  reason: string | null;
  timestamp: number;
}

export interface Database {
  experiments: ExperimentTable;
  experiment_tags: ExperimentTagTable;
  runs: RunTable;
  params: KeyValueTable;
  tags: KeyValueTable;
  metrics: MetricTable;
  latest_metrics: LatestMetricTable;
  datasets: DatasetTable;
  inputs: InputTable;
  input_tags: InputTagTable;
  run_outputs: RunOutputTable;
  logged_models: LoggedModelTable;
  logged_model_tags: LoggedModelKeyValueTable;
  logged_model_params: LoggedModelKeyValueTable;
  registered_models: RegisteredModelTable;
  model_versions: ModelVersionTable;
  registered_model_tags: RegisteredModelTagTable;
  model_version_tags: ModelVersionTagTable;
  registered_model_aliases: RegisteredModelAliasTable;
  promotion_events: PromotionEventTable;
  pipelines: PipelineTable;
  pipeline_runs: PipelineRunTable;
  step_runs: StepRunTable;
  artifact_versions: ArtifactVersionTable;
  artifact_consumers: ArtifactConsumerTable;
  inference_log: InferenceLogTable;
  deployments: DeploymentTable;
  deployment_events: DeploymentEventTable;
}

/** A pipeline, by name; created at its first run. */
export interface PipelineTable {
  id: string;
  name: string;
  created: number;
}

/** 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED'. */
export type PipelineRunStatus = 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

export interface PipelineRunTable {
  id: string;
  pipeline_id: string;
  pipeline_name: string;
  status: PipelineRunStatus;
  start_time: number;
  end_time: number | null;
  /** JSON object: the resolved pipeline parameters. */
  params: string;
  /** The tracking run (experiment = pipeline name) this pipeline run is mirrored to. */
  tracking_run_id: string | null;
  error: string | null;
  /** Process id and host of the orchestrator, to sweep runs whose process died. */
  pid: number;
  hostname: string;
}

/** 'PENDING' is never stored; a step run row exists from the moment it starts (or is skipped/cached). */
export type StepRunStatus = 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CACHED' | 'SKIPPED' | 'CANCELLED';

export interface StepRunTable {
  id: string;
  pipeline_run_id: string;
  step_name: string;
  status: StepRunStatus;
  start_time: number;
  end_time: number | null;
  /** JSON object: the step's resolved parameters. */
  params: string;
  code_hash: string | null;
  cache_key: string | null;
  /** JSON: why the step ran or was served from cache (written by the cache layer). */
  cache_decision: string | null;
  /** JSON object: input name → { step, output, artifactVersionId? }. */
  inputs: string;
  /** JSON object: output name → { artifactVersionId?, uri? }; null until the step completes. */
  outputs: string | null;
  logs: string;
  error: string | null;
  /** The nested tracking run (tag mlflow.parentRunId = the pipeline run's tracking run). */
  tracking_run_id: string | null;
  attempts: number;
}

export interface ArtifactVersionTable {
  id: string;
  name: string;
  version: number;
  content_hash: string;
  type: string;
  materializer: string;
  size: number;
  uri: string;
  producer_step_run_id: string | null;
  /** JSON object. */
  metadata: string;
  created: number;
}

export interface ArtifactConsumerTable {
  artifact_version_id: string;
  step_run_id: string;
}

/** One row per predicted row of a scoring request (migration 004): what monitoring reads. */
export interface InferenceLogTable {
  id: Generated<number>;
  request_id: string;
  /** The row's position in its request; (request_id, row_index) is unique. Every request has row 0. */
  row_index: number;
  /** When the request arrived, epoch ms. */
  timestamp: number;
  model_name: string | null;
  model_version: string | null;
  model_uri: string;
  deployment: string | null;
  variant: string | null;
  /** 'mlflow' | 'v2'. */
  protocol: string;
  /** JSON object: feature name → value; null when the request had no parsable rows. */
  features: string | null;
  /** JSON: the row's prediction; null on error. */
  prediction: string | null;
  /** The request's latency (the same on each of its rows). */
  latency_ms: number;
  status: number;
  error: string | null;
  /** How many rows the request had. */
  request_rows: number;
  /** When the server stored the row, epoch ms. */
  received: number;
}

/** Stored status; 'LOST' is derived when read (heartbeat older than 3 intervals). */
export type DeploymentStatus = 'RUNNING' | 'STOPPED';

export interface DeploymentTable {
  name: string;
  model_uri: string;
  model_name: string | null;
  model_version: string | null;
  endpoint: string;
  /** JSON object, free-form traffic split description. */
  traffic: string | null;
  status: DeploymentStatus;
  heartbeat_interval_ms: number;
  created: number;
  updated: number;
  last_heartbeat: number;
}

/** A deployment's history: registrations, version and traffic changes, stops. */
export interface DeploymentEventTable {
  id: Generated<number>;
  deployment: string;
  kind: string;
  from_version: string | null;
  to_version: string | null;
  /** JSON, e.g. the new traffic split. */
  detail: string | null;
  timestamp: number;
}

/** Migration 006: the orchestrator's heartbeat on a RUNNING pipeline run (epoch ms; null before 006). Merged into PipelineRunTable above. */
export interface PipelineRunTable {
  heartbeat: number | null;
}
