import type { KeyValue, Page } from '../tracking/index.js';
import type { ModelVersion, ModelVersionLineage, PromotionEvent, RegisteredModel } from './entities.js';

/** Who did something and why; `actor` is '' when unknown. */
export interface Actor {
  actor?: string;
  reason?: string;
}

export interface CreateModelVersionRequest {
  name: string;
  source: string;
  run_id?: string;
  run_link?: string;
  description?: string;
  tags?: KeyValue[];
  user_id?: string;
}

export interface SearchRequest {
  filter?: string;
  /** As received (a string from a query string, or a number): checked by the service. */
  max_results?: unknown;
  order_by?: string[];
  page_token?: string;
}

/** The model registry. Versions are passed as received (strings) and checked here. */
export interface RegistryService {
  createRegisteredModel(req: { name: string; description?: string; tags?: KeyValue[]; user_id?: string }): Promise<RegisteredModel>;
  getRegisteredModel(name: string): Promise<RegisteredModel>;
  renameRegisteredModel(name: string, newName: string): Promise<RegisteredModel>;
  updateRegisteredModel(name: string, description: string | undefined): Promise<RegisteredModel>;
  deleteRegisteredModel(name: string): Promise<void>;
  searchRegisteredModels(req: SearchRequest): Promise<Page<RegisteredModel>>;
  getLatestVersions(name: string, stages: string[]): Promise<ModelVersion[]>;
  setRegisteredModelTag(name: string, key: string, value: string): Promise<void>;
  deleteRegisteredModelTag(name: string, key: string): Promise<void>;

  setAlias(name: string, alias: string, version: string, who?: Actor): Promise<void>;
  deleteAlias(name: string, alias: string, who?: Actor): Promise<void>;
  getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion>;
  rollbackAlias(name: string, alias: string, who?: Actor): Promise<ModelVersion>;
  listPromotions(name: string): Promise<PromotionEvent[]>;

  createModelVersion(req: CreateModelVersionRequest): Promise<ModelVersion>;
  getModelVersion(name: string, version: string): Promise<ModelVersion>;
  updateModelVersion(name: string, version: string, description: string | undefined): Promise<ModelVersion>;
  deleteModelVersion(name: string, version: string): Promise<void>;
  searchModelVersions(req: SearchRequest): Promise<Page<ModelVersion>>;
  getModelVersionDownloadUri(name: string, version: string): Promise<string>;
  transitionStage(name: string, version: string, stage: string, archiveExisting: boolean, who?: Actor): Promise<ModelVersion>;
  setModelVersionTag(name: string, version: string, key: string, value: string): Promise<void>;
  deleteModelVersionTag(name: string, version: string, key: string): Promise<void>;

  lineage(name: string, version: string): Promise<ModelVersionLineage>;
  modelVersionsOfRun(runId: string): Promise<ModelVersion[]>;
}
