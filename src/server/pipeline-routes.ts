import type { FastifyInstance, FastifyReply } from 'fastify';
import { invalidParameter, notFound } from '../core/errors.js';
import { artifactContentType, contentDisposition } from '../artifacts/mime.js';
import type { ArtifactStore } from '../artifacts/index.js';
import { ContentAddressedStore } from '../pipelines/materializers/content-store.js';
import type { Page, PipelineQueries } from '../pipelines/pipeline-queries.js';
import { decodePageToken, encodePageToken } from '../tracking/search/index.js';
import { Params } from './mlflow-request.js';

const DEFAULT_MAX_RESULTS = 100;
const MAX_MAX_RESULTS = 1000;

function pageOf(p: Params): Page {
  const limit = p.int('max_results') ?? DEFAULT_MAX_RESULTS;
  if (limit < 1 || limit > MAX_MAX_RESULTS) {
    throw invalidParameter(`max_results must be between 1 and ${MAX_MAX_RESULTS}, got ${limit}`);
  }
  return { offset: decodePageToken(p.string('page_token')), limit };
}

/** Fetches one more than the page to know whether another page follows. */
async function paged<T>(p: Params, fetch: (page: Page) => Promise<T[]>): Promise<{ items: T[]; next_page_token?: string }> {
  const page = pageOf(p);
  const rows = await fetch({ offset: page.offset, limit: page.limit + 1 });
  if (rows.length <= page.limit) return { items: rows };
  return { items: rows.slice(0, page.limit), next_page_token: encodePageToken(page.offset + page.limit) };
}

/** Flywheel's read-only pipeline endpoints (`/api/v1`): pipelines, runs, step runs, artifact versions. */
export function pipelineRoutes(app: FastifyInstance, queries: PipelineQueries, artifacts: ArtifactStore): void {
  const get = (url: string, handler: (p: Params, reply: FastifyReply) => Promise<unknown>) =>
    app.route({
      method: 'GET',
      url,
      handler: async (req, reply) => {
        const raw = { ...(req.query as object), ...(req.params as object) } as Record<string, unknown>;
        const result = await handler(new Params(raw), reply);
        if (reply.sent) return reply;
        if (result === reply) return reply;
        return reply.type('application/json').send(JSON.stringify(result ?? {}));
      },
    });

  get('/api/v1/pipelines', async (p) => {
    const page = await paged(p, (pg) => queries.listPipelines(pg));
    return { pipelines: page.items, next_page_token: page.next_page_token };
  });
  get('/api/v1/pipeline-runs', async (p) => {
    const page = await paged(p, (pg) => queries.listPipelineRuns(p.string('pipeline') || undefined, pg));
    return { pipeline_runs: page.items, next_page_token: page.next_page_token };
  });
  get('/api/v1/pipeline-runs/:id', async (p) => ({ pipeline_run: await queries.getPipelineRun(p.requiredString('id')) }));
  get('/api/v1/step-runs/:id', async (p) => ({ step_run: await queries.getStepRun(p.requiredString('id')) }));
  get('/api/v1/artifacts', async (p) => {
    const page = await paged(p, (pg) => queries.listArtifacts(pg));
    return { artifacts: page.items, next_page_token: page.next_page_token };
  });
  get('/api/v1/artifact-versions', async (p) => {
    const page = await paged(p, (pg) => queries.listArtifactVersions(p.string('name') || undefined, pg));
    return { artifact_versions: page.items, next_page_token: page.next_page_token };
  });
  get('/api/v1/artifact-versions/:id', async (p) => ({ artifact_version: await queries.getArtifactVersion(p.requiredString('id')) }));
  get('/api/v1/artifact-versions/:id/lineage', async (p) => queries.lineage(p.requiredString('id')));

  // A single-file artifact is sent as the file; a multi-file one answers its file listing unless `path` names
  // one of its files.
  get('/api/v1/artifact-versions/:id/download', async (p, reply) => {
    const v = await queries.getArtifactVersionRow(p.requiredString('id'));
    const manifest = await new ContentAddressedStore(artifacts.repository).manifest(v.content_hash);
    if (!manifest) throw notFound(`The files of artifact version '${v.id}' are not stored`);
    const wanted = p.string('path');
    let file = wanted === undefined || wanted === '' ? undefined : manifest.files.find((f) => f.path === wanted);
    if (wanted && !file) throw notFound(`Artifact version '${v.id}' has no file '${wanted}'`);
    if (!file && manifest.files.length === 1) file = manifest.files[0];
    if (!file) return { files: manifest.files };
    const { stream, size } = await artifacts.repository.read(`${v.uri}/${file.path}`);
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    return reply
      .header('Content-Type', artifactContentType(name))
      .header('Content-Disposition', contentDisposition(name))
      .header('Content-Length', String(size))
      .header('Content-Security-Policy', 'sandbox')
      .send(stream);
  });
}
