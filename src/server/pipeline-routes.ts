import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { invalidParameter, notFound } from '../core/errors.js';
import { ArtifactAdmin, checkMetadata, parseDuration, uploadSpecSchema, type VisualizationContent } from '../pipelines/artifact-admin.js';
import { decodeUpload, UPLOAD_CONTENT_TYPE } from '../pipelines/materializers/upload-stream.js';
import { artifactContentType, contentDisposition } from '../artifacts/mime.js';
import type { ArtifactStore } from '../artifacts/index.js';
import { ContentAddressedStore } from '../pipelines/materializers/content-store.js';
import type { Page, PipelineQueries } from '../pipelines/pipeline-queries.js';
import { decodePageToken, encodePageToken } from '../tracking/search/index.js';
import { Params } from './mlflow-request.js';

const DEFAULT_MAX_RESULTS = 100;
/** Bytes of one artifact upload, at most: FLYWHEEL_MAX_ARTIFACT_UPLOAD_BYTES, else 10 GiB. */
const MAX_UPLOAD_BYTES = Number(process.env.FLYWHEEL_MAX_ARTIFACT_UPLOAD_BYTES) > 0 ? Number(process.env.FLYWHEEL_MAX_ARTIFACT_UPLOAD_BYTES) : 10 * 1024 ** 3;
/** The spec line of an upload (metadata ≤ 64 KiB, inline visualizations ≤ 2 MiB each, the file list). */
const MAX_UPLOAD_SPEC_BYTES = 64 * 1024 * 1024;
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

/**
 * Flywheel's pipeline endpoints (`/api/v1`): pipelines, runs, step runs, artifact versions (read), plus
 * saving an artifact version (an upload), its visualizations, and pruning.
 */
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
    const page = await paged(p, (pg) => queries.listArtifacts(pg, p.string('prefix') || undefined));
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

  const admin = new ArtifactAdmin(queries.store, artifacts.repository);
  get('/api/v1/artifact-versions/resolve', async (p) => ({
    artifact_version: await admin.resolve(p.requiredString('ref'), p.string('version') || undefined),
  }));
  get('/api/v1/artifact-versions/:id/files', async (p) => admin.files(p.requiredString('id')));
  get('/api/v1/artifact-versions/:id/visualizations', async (p) => ({ visualizations: await admin.visualizations(p.requiredString('id')) }));
  get('/api/v1/artifact-versions/:id/visualizations/:index/content', async (p, reply) => {
    const index = Number(p.requiredString('index'));
    if (!Number.isInteger(index) || index < 0) throw notFound(`No visualization '${p.string('index')}'`);
    const c = await admin.visualizationContent(p.requiredString('id'), index);
    return sendVisualization(reply, c);
  });

  // The body is streamed to the route (see upload-stream.ts for its layout).
  app.addContentTypeParser(UPLOAD_CONTENT_TYPE, (_req, payload, done) => done(null, payload));
  app.post('/api/v1/artifact-versions', async (req, reply) => {
    if (!String(req.headers['content-type'] ?? '').startsWith(UPLOAD_CONTENT_TYPE)) {
      throw invalidParameter(`Send the artifact as ${UPLOAD_CONTENT_TYPE} (a JSON spec line, then the files' bytes)`);
    }
    const dir = await mkdtemp(join(tmpdir(), 'flywheel-upload-'));
    try {
      const spec = await decodeUpload(req.body as Readable, dir, parseUploadSpec, {
        maxSpecBytes: MAX_UPLOAD_SPEC_BYTES,
        maxContentBytes: MAX_UPLOAD_BYTES,
      });
      const version = await admin.storeDirectory(spec.name, dir, {
        type: spec.type,
        materializer: spec.materializer,
        metadata: checkMetadata(spec.metadata),
        visualizations: spec.visualizations ?? [],
        ...(spec.content_hash ? { expectedHash: spec.content_hash } : {}),
      });
      return reply.type('application/json').send(JSON.stringify({ artifact_version: version }));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  app.post('/api/v1/artifact-versions/prune', async (req, reply) => {
    const p = new Params((req.body ?? {}) as Record<string, unknown>);
    const olderThan = p.string('older_than');
    const result = await admin.prune({
      keepLast: p.int('keep_last'),
      olderThanMs: olderThan ? parseDuration(olderThan) : undefined,
      dryRun: p.bool('dry_run') ?? false,
    });
    return reply.type('application/json').send(JSON.stringify(result));
  });
}

function parseUploadSpec(json: unknown) {
  const parsed = uploadSpecSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalidParameter(`Invalid artifact upload: ${issue.path.join('.') || 'spec'}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Images as themselves; HTML and SVG (active content) with `Content-Security-Policy: sandbox` and as an
 * attachment, so opening the URL runs nothing on the server's origin (the UI shows HTML in a sandboxed frame).
 */
function sendVisualization(reply: FastifyReply, c: VisualizationContent): FastifyReply {
  const safeName = c.fileName.replace(/[^A-Za-z0-9._-]/g, '_');
  return reply
    .header('Content-Type', c.contentType)
    .header('Content-Length', String(c.size))
    .header('X-Content-Type-Options', 'nosniff')
    .header('Content-Security-Policy', 'sandbox')
    .header('Content-Disposition', `${c.active ? 'attachment' : 'inline'}; filename="${safeName}"`)
    .send(c.body);
}
