import type { KeyValue } from '../tracking/index.js';

/** MLflow's model registry entities, in their wire shape (unset fields and empty lists omitted). */
export const STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;
export type Stage = (typeof STAGES)[number];

export const MODEL_VERSION_STATUSES = ['PENDING_REGISTRATION', 'FAILED_REGISTRATION', 'READY'] as const;
export type ModelVersionStatus = (typeof MODEL_VERSION_STATUSES)[number];

export interface ModelVersion {
  name: string;
  /** A decimal string on the wire. */
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id?: string;
  current_stage: Stage;
  description?: string;
  source: string;
  run_id?: string;
  status: ModelVersionStatus;
  status_message?: string;
  tags?: KeyValue[];
  run_link?: string;
  aliases?: string[];
}

export interface RegisteredModelAlias {
  alias: string;
  version: string;
}

export interface RegisteredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id?: string;
  description?: string;
  latest_versions?: ModelVersion[];
  tags?: KeyValue[];
  aliases?: RegisteredModelAlias[];
}

export type PromotionKind = 'alias' | 'stage';

/** One entry of the promotion history: an alias set/moved/deleted, or a version's stage transition. */
export interface PromotionEvent {
  id: number;
  name: string;
  kind: PromotionKind;
  /** The alias name, or the stage moved into. */
  alias?: string;
  stage?: string;
  from_version?: string;
  to_version?: string;
  actor: string;
  reason?: string;
  timestamp: number;
}

/** Where a model version came from. */
export interface ModelVersionLineage {
  name: string;
  version: string;
  source: string;
  /** The source resolved to a concrete artifact URI. */
  artifact_uri: string;
  run_id?: string;
  experiment_id?: string;
  run_name?: string;
  run_status?: string;
  /** `models:/m-…` sources: the MLflow 3 logged model. */
  model_id?: string;
  /** The datasets the source run logged as inputs (its training and evaluation data). */
  datasets?: { name: string; digest: string; source_type: string; source: string; context?: string }[];
}
