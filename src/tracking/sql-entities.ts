import type { Selectable } from 'kysely';
import type { DatasetTable, ExperimentTable, LatestMetricTable, LoggedModelTable, RunTable } from '../store/schema.js';
import type { DatasetInput, Experiment, KeyValue, LoggedModel, LoggedModelStatus, Metric, Run, RunInfo, RunStatus } from './entities.js';

/** Row → entity mappers. Empty lists and unset fields are left out, as MLflow's JSON does. */
export function experimentFromRow(row: Selectable<ExperimentTable>, tags: KeyValue[]): Experiment {
  const e: Experiment = {
    experiment_id: String(row.experiment_id),
    name: row.name,
    artifact_location: row.artifact_location,
    lifecycle_stage: row.lifecycle_stage as Experiment['lifecycle_stage'],
    last_update_time: Number(row.last_update_time),
    creation_time: Number(row.creation_time),
  };
  if (tags.length) e.tags = tags;
  return e;
}

export function runInfoFromRow(row: Selectable<RunTable>): RunInfo {
  const info: RunInfo = {
    run_uuid: row.run_uuid,
    experiment_id: String(row.experiment_id),
    run_name: row.name,
    user_id: row.user_id,
    status: row.status as RunStatus,
    start_time: Number(row.start_time),
    artifact_uri: row.artifact_uri,
    lifecycle_stage: row.lifecycle_stage as RunInfo['lifecycle_stage'],
    run_id: row.run_uuid,
  };
  if (row.end_time !== null && row.end_time !== undefined) info.end_time = Number(row.end_time);
  return info;
}

export function metricFromRow(row: Pick<Selectable<LatestMetricTable>, 'key' | 'value' | 'is_nan' | 'timestamp' | 'step'>): Metric {
  return {
    key: row.key,
    value: row.is_nan ? NaN : Number(row.value),
    timestamp: Number(row.timestamp),
    step: Number(row.step),
  };
}

export interface RunParts {
  metrics: Metric[];
  params: KeyValue[];
  tags: KeyValue[];
  datasetInputs: DatasetInput[];
  modelInputs: string[];
  modelOutputs: { model_id: string; step: number }[];
}

export function runFromParts(row: Selectable<RunTable>, parts: RunParts): Run {
  const data: Run['data'] = {};
  if (parts.metrics.length) data.metrics = parts.metrics;
  if (parts.params.length) data.params = parts.params;
  if (parts.tags.length) data.tags = parts.tags;
  const inputs: Run['inputs'] = {};
  if (parts.datasetInputs.length) inputs.dataset_inputs = parts.datasetInputs;
  if (parts.modelInputs.length) inputs.model_inputs = parts.modelInputs.map((model_id) => ({ model_id }));
  const run: Run = { info: runInfoFromRow(row), data, inputs };
  if (parts.modelOutputs.length) run.outputs = { model_outputs: parts.modelOutputs };
  else run.outputs = {};
  return run;
}

export function datasetFromRow(row: Selectable<DatasetTable>): DatasetInput['dataset'] {
  const d: DatasetInput['dataset'] = {
    name: row.name,
    digest: row.digest,
    source_type: row.dataset_source_type,
    source: row.dataset_source,
  };
  if (row.dataset_schema !== null) d.schema = row.dataset_schema;
  if (row.dataset_profile !== null) d.profile = row.dataset_profile;
  return d;
}

export function loggedModelFromRow(row: Selectable<LoggedModelTable>, tags: KeyValue[], params: KeyValue[]): LoggedModel {
  const info: LoggedModel['info'] = {
    model_id: row.model_id,
    experiment_id: String(row.experiment_id),
    name: row.name,
    creation_timestamp_ms: Number(row.creation_timestamp_ms),
    last_updated_timestamp_ms: Number(row.last_updated_timestamp_ms),
    artifact_uri: row.artifact_location,
    status: row.status as LoggedModelStatus,
  };
  if (row.creator_id) info.creator_id = row.creator_id;
  if (row.model_type) info.model_type = row.model_type;
  if (row.source_run_id) info.source_run_id = row.source_run_id;
  if (row.status_message) info.status_message = row.status_message;
  if (tags.length) info.tags = tags;
  const data: LoggedModel['data'] = {};
  if (params.length) data.params = params;
  return { info, data };
}
