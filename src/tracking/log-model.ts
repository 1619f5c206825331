import { invalidParameter } from '../core/index.js';
import type { TrackingService } from './service.js';

export const LOG_MODEL_HISTORY_TAG = 'mlflow.log-model.history';

/**
 * MLflow 2.x clients call runs/log-model after uploading a model: the MLmodel (as JSON) is appended to the
 * run's `mlflow.log-model.history` tag, which the UI reads to list the run's models.
 */
export async function appendLogModelHistory(tracking: TrackingService, runId: string, modelJson: string): Promise<void> {
  let model: Record<string, unknown>;
  try {
    model = JSON.parse(modelJson);
  } catch {
    throw invalidParameter('model_json must be a JSON document (an MLmodel as JSON).');
  }
  if (!model || typeof model !== 'object' || Array.isArray(model)) throw invalidParameter('model_json must be a JSON object.');
  for (const key of ['artifact_path', 'flavors', 'utc_time_created', 'run_id']) {
    if (!(key in model)) throw invalidParameter(`Model json is missing mandatory fields: ['${key}']`);
  }
  const run = await tracking.getRun(runId);
  const current = run.data.tags?.find((t) => t.key === LOG_MODEL_HISTORY_TAG)?.value;
  let history: unknown[] = [];
  if (current) {
    try {
      const parsed = JSON.parse(current);
      if (Array.isArray(parsed)) history = parsed;
    } catch {
      history = [];
    }
  }
  history.push(model);
  await tracking.setTag(runId, LOG_MODEL_HISTORY_TAG, JSON.stringify(history));
}
