import type { KeyValue, Page } from '../tracking/entities.js';
import type { ModelVersion, ModelVersionLineage, PromotionEvent, RegisteredModel } from '../registry/entities.js';
import type { Actor, CreateModelVersionRequest, RegistryService, SearchRequest } from '../registry/service.js';
import { HttpTransport, type HttpTransportOptions, type QueryValue } from './http-transport.js';

const API = '/api/2.0/mlflow';
const NATIVE = '/api/v1';

/**
 * `RegistryService` over MLflow's model registry REST API, plus Flywheel's own promotion history, alias
 * rollback and lineage endpoints (`/api/v1`). Errors come back as `FlywheelError`s with the server's code.
 */
export class HttpRegistryClient implements RegistryService {
  readonly transport: HttpTransport;

  constructor(options: HttpTransportOptions | HttpTransport) {
    this.transport = options instanceof HttpTransport ? options : new HttpTransport(options);
  }

  private get<T>(path: string, query: Record<string, QueryValue>): Promise<T> {
    return this.transport.json<T>('GET', path.startsWith('/api/') ? path : API + path, { query, idempotent: true });
  }

  private send<T>(method: 'POST' | 'PATCH' | 'DELETE', path: string, json: unknown, idempotent: boolean, who?: Actor): Promise<T> {
    const headers = who?.actor ? { 'x-flywheel-user': who.actor } : undefined;
    return this.transport.json<T>(method, path.startsWith('/api/') ? path : API + path, { json, idempotent, headers });
  }

  // ---- registered models ----

  async createRegisteredModel(req: { name: string; description?: string; tags?: KeyValue[]; user_id?: string }): Promise<RegisteredModel> {
    const { user_id, ...body } = req;
    const res = await this.send<{ registered_model: RegisteredModel }>('POST', '/registered-models/create', body, false, { actor: user_id });
    return res.registered_model;
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    return (await this.get<{ registered_model: RegisteredModel }>('/registered-models/get', { name })).registered_model;
  }

  async renameRegisteredModel(name: string, newName: string): Promise<RegisteredModel> {
    return (await this.send<{ registered_model: RegisteredModel }>('POST', '/registered-models/rename', { name, new_name: newName }, false))
      .registered_model;
  }

  async updateRegisteredModel(name: string, description: string | undefined): Promise<RegisteredModel> {
    return (await this.send<{ registered_model: RegisteredModel }>('PATCH', '/registered-models/update', { name, description }, true))
      .registered_model;
  }

  async deleteRegisteredModel(name: string): Promise<void> {
    await this.send('DELETE', '/registered-models/delete', { name }, true);
  }

  async searchRegisteredModels(req: SearchRequest): Promise<Page<RegisteredModel>> {
    const res = await this.get<{ registered_models?: RegisteredModel[]; next_page_token?: string }>('/registered-models/search', searchQuery(req));
    return page(res.registered_models, res.next_page_token);
  }

  async getLatestVersions(name: string, stages: string[]): Promise<ModelVersion[]> {
    const res = await this.get<{ model_versions?: ModelVersion[] }>('/registered-models/get-latest-versions', { name, stages });
    return res.model_versions ?? [];
  }

  async setRegisteredModelTag(name: string, key: string, value: string): Promise<void> {
    await this.send('POST', '/registered-models/set-tag', { name, key, value }, true);
  }

  async deleteRegisteredModelTag(name: string, key: string): Promise<void> {
    await this.send('DELETE', '/registered-models/delete-tag', { name, key }, false);
  }

  // ---- aliases and promotions ----

  async setAlias(name: string, alias: string, version: string, who: Actor = {}): Promise<void> {
    await this.send('POST', '/registered-models/alias', { name, alias, version: String(version), reason: who.reason }, false, who);
  }

  async deleteAlias(name: string, alias: string, who: Actor = {}): Promise<void> {
    await this.send('DELETE', '/registered-models/alias', { name, alias, reason: who.reason }, false, who);
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    return (await this.get<{ model_version: ModelVersion }>('/registered-models/alias', { name, alias })).model_version;
  }

  async rollbackAlias(name: string, alias: string, who: Actor = {}): Promise<ModelVersion> {
    const path = `${NATIVE}/registered-models/${seg(name)}/aliases/${seg(alias)}/rollback`;
    return (await this.send<{ model_version: ModelVersion }>('POST', path, { reason: who.reason }, false, who)).model_version;
  }

  async listPromotions(name: string): Promise<PromotionEvent[]> {
    const res = await this.get<{ promotions?: PromotionEvent[] }>(`${NATIVE}/registered-models/${seg(name)}/promotions`, {});
    return res.promotions ?? [];
  }

  // ---- model versions ----

  async createModelVersion(req: CreateModelVersionRequest): Promise<ModelVersion> {
    const { user_id, ...body } = req;
    return (await this.send<{ model_version: ModelVersion }>('POST', '/model-versions/create', body, false, { actor: user_id })).model_version;
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    return (await this.get<{ model_version: ModelVersion }>('/model-versions/get', { name, version })).model_version;
  }

  async updateModelVersion(name: string, version: string, description: string | undefined): Promise<ModelVersion> {
    return (await this.send<{ model_version: ModelVersion }>('PATCH', '/model-versions/update', { name, version, description }, true)).model_version;
  }

  async deleteModelVersion(name: string, version: string): Promise<void> {
    await this.send('DELETE', '/model-versions/delete', { name, version }, true);
  }

  async searchModelVersions(req: SearchRequest): Promise<Page<ModelVersion>> {
    const res = await this.get<{ model_versions?: ModelVersion[]; next_page_token?: string }>('/model-versions/search', searchQuery(req));
    return page(res.model_versions, res.next_page_token);
  }

  async getModelVersionDownloadUri(name: string, version: string): Promise<string> {
    return (await this.get<{ artifact_uri: string }>('/model-versions/get-download-uri', { name, version })).artifact_uri;
  }

  async transitionStage(name: string, version: string, stage: string, archiveExisting: boolean, who: Actor = {}): Promise<ModelVersion> {
    const body = { name, version, stage, archive_existing_versions: archiveExisting, reason: who.reason };
    return (await this.send<{ model_version: ModelVersion }>('POST', '/model-versions/transition-stage', body, false, who)).model_version;
  }

  async setModelVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    await this.send('POST', '/model-versions/set-tag', { name, version, key, value }, true);
  }

  async deleteModelVersionTag(name: string, version: string, key: string): Promise<void> {
    await this.send('DELETE', '/model-versions/delete-tag', { name, version, key }, false);
  }

  // ---- lineage ----

  async lineage(name: string, version: string): Promise<ModelVersionLineage> {
    return (await this.get<{ lineage: ModelVersionLineage }>(`${NATIVE}/model-versions/${seg(name)}/${seg(version)}/lineage`, {})).lineage;
  }

  async modelVersionsOfRun(runId: string): Promise<ModelVersion[]> {
    return (await this.get<{ model_versions?: ModelVersion[] }>(`${NATIVE}/runs/${seg(runId)}/model-versions`, {})).model_versions ?? [];
  }
}

const seg = (s: string) => encodeURIComponent(s);

function searchQuery(req: SearchRequest): Record<string, QueryValue> {
  const max = req.max_results;
  return {
    filter: req.filter,
    max_results: max === undefined || max === null ? undefined : String(max),
    order_by: req.order_by,
    page_token: req.page_token,
  };
}

function page<T>(items: T[] | undefined, token: string | undefined): Page<T> {
  return token ? { items: items ?? [], next_page_token: token } : { items: items ?? [] };
}
