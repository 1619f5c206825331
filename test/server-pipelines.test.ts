import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArtifactStore } from '../src/artifacts/index.js';
import { ArtifactOutputStore, pipeline, runLocal, SqlPipelineStore, step, type PipelineRunResult } from '../src/pipelines/index.js';
import { PipelineQueries } from '../src/pipelines/pipeline-queries.js';
import { buildApp } from '../src/server/app.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

const load = step('load', (_: {}, ctx) => ({ xs: [1, 2, ctx.params.n as number] }), { params: { n: 3 } });
const transform = step('transform', ({ data }: { data: { xs: number[] } }) => ({ ys: data.xs.map((x) => x * 10) }));
const report = step('report', ({ t }: { t: { ys: number[] } }) => `sum:${t.ys.reduce((a, b) => a + b, 0)}`);
const chain = pipeline('chain', () => report({ t: transform({ data: load() }) }));
const other = pipeline('other', () => load());

describe.each(DIALECTS)('native pipeline API on %s', (dialect) => {
  let ts: TestStore;
  let dir: string;
  let app: FastifyInstance;
  let opts: Parameters<typeof runLocal>[1];

  beforeEach(async () => {
    ts = await freshStore(dialect);
    dir = mkdtempSync(join(tmpdir(), 'flywheel-srv-pipes-'));
    const artifacts = createArtifactStore({ root: dir, serveArtifacts: true });
    const tracking = new SqlTrackingStore(ts.store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    app = await buildApp({ tracking, artifacts, pipelines: new PipelineQueries(ts.store), logger: false });
    opts = {
      recorder: new SqlPipelineStore(ts.store),
      outputStore: new ArtifactOutputStore({ store: ts.store, repository: artifacts.repository }),
    };
  });
  afterEach(async () => {
    await app.close();
    await ts.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url });
    let json: any;
    try {
      json = JSON.parse(res.body);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, json, body: res.body, raw: res.rawPayload, type: String(res.headers['content-type'] ?? '') };
  };

  it('serves pipelines, runs, step runs, artifacts, lineage and downloads', async () => {
    const first: PipelineRunResult = await runLocal(chain, opts);
    expect(first.status).toBe('COMPLETED');
    const second = await runLocal(chain, { ...opts, cache: false });
    expect(second.status).toBe('COMPLETED');
    await runLocal(other, opts);

    // pipelines
    const pipes = await get('/api/v1/pipelines');
    expect(pipes.status).toBe(200);
    expect(pipes.json.pipelines.map((p: any) => p.name)).toEqual(['chain', 'other']);
    expect(pipes.json.pipelines[0].last_run.id).toBe(second.pipelineRunId);
    expect(pipes.json.pipelines[0].created).toEqual(expect.any(Number));

    // pipeline runs: newest first, filter, paging
    const runs = await get('/api/v1/pipeline-runs?pipeline=chain');
    expect(runs.json.pipeline_runs.map((r: any) => r.id)).toEqual([second.pipelineRunId, first.pipelineRunId]);
    expect(runs.json.next_page_token).toBeUndefined();
    const p1 = await get('/api/v1/pipeline-runs?max_results=1');
    expect(p1.json.pipeline_runs).toHaveLength(1);
    expect(p1.json.next_page_token).toEqual(expect.any(String));
    const p2 = await get(`/api/v1/pipeline-runs?max_results=1&page_token=${encodeURIComponent(p1.json.next_page_token)}`);
    expect(p2.json.pipeline_runs).toHaveLength(1);
    expect(p2.json.pipeline_runs[0].id).not.toBe(p1.json.pipeline_runs[0].id);
    const all = await get('/api/v1/pipeline-runs');
    expect(all.json.pipeline_runs).toHaveLength(3);
    expect((await get('/api/v1/pipeline-runs?max_results=0')).json.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect((await get('/api/v1/pipeline-runs?max_results=1001')).status).toBe(400);
    expect((await get('/api/v1/pipeline-runs?page_token=%25%25bad')).json.error_code).toBe('INVALID_PARAMETER_VALUE');

    const run = await get(`/api/v1/pipeline-runs/${first.pipelineRunId}`);
    expect(run.status).toBe(200);
    expect(run.json.pipeline_run.status).toBe('COMPLETED');
    const steps = Object.fromEntries(run.json.pipeline_run.step_runs.map((s: any) => [s.step_name, s]));
    expect(Object.keys(steps).sort()).toEqual(['load', 'report', 'transform']);

    // step run
    const sr = await get(`/api/v1/step-runs/${steps.transform.id}`);
    expect(sr.status).toBe(200);
    const t = sr.json.step_run;
    expect(t).toMatchObject({ status: 'COMPLETED', step_name: 'transform', pipeline_run_id: first.pipelineRunId, logs: expect.any(String) });
    expect(t.start_time).toEqual(expect.any(Number));
    expect(t.cache_key).toMatch(/^[0-9a-f]{64}$/);
    expect(t.cache_decision).toBeTruthy();
    expect(t.input_artifact_version_ids).toEqual(steps.load.output_artifact_version_ids);
    expect(t.output_artifact_version_ids).toHaveLength(1);
    expect(steps.load.params).toEqual({ n: 3 });

    // artifacts
    const arts = await get('/api/v1/artifacts');
    expect(arts.json.artifacts.map((a: any) => [a.name, a.latest_version.version])).toEqual([
      ['chain/load/output', 2],
      ['chain/report/output', 2],
      ['chain/transform/output', 2],
      ['other/load/output', 1],
    ]);
    const artPage = await get('/api/v1/artifacts?max_results=3');
    expect(artPage.json.artifacts).toHaveLength(3);
    const artPage2 = await get(`/api/v1/artifacts?max_results=3&page_token=${encodeURIComponent(artPage.json.next_page_token)}`);
    expect(artPage2.json.artifacts.map((a: any) => a.name)).toEqual(['other/load/output']);
    expect(artPage2.json.next_page_token).toBeUndefined();

    const vers = await get('/api/v1/artifact-versions?name=chain%2Ftransform%2Foutput');
    expect(vers.json.artifact_versions.map((v: any) => v.version)).toEqual([2, 1]);
    const tv = t.output_artifact_version_ids[0];
    const v = await get(`/api/v1/artifact-versions/${tv}`);
    expect(v.status).toBe(200);
    expect(v.json.artifact_version).toMatchObject({ id: tv, name: 'chain/transform/output', version: 1, producer_step_run_id: steps.transform.id });
    expect(v.json.artifact_version.producer.id).toBe(steps.transform.id);
    expect(v.json.artifact_version.consumers.map((c: any) => c.id)).toEqual([steps.report.id]);
    expect(v.json.artifact_version.uri).toMatch(/^cas\//);

    // lineage, both directions
    const loadV = steps.load.output_artifact_version_ids[0];
    const reportV = steps.report.output_artifact_version_ids[0];
    const up = await get(`/api/v1/artifact-versions/${reportV}/lineage`);
    expect(up.json.upstream.map((u: any) => [u.depth, u.artifact_version.id])).toEqual([
      [1, tv],
      [2, loadV],
    ]);
    expect(up.json.downstream).toEqual([]);
    const down = await get(`/api/v1/artifact-versions/${loadV}/lineage`);
    expect(down.json.upstream).toEqual([]);
    expect(down.json.downstream.map((d: any) => [d.depth, d.step_run.id, d.produced.map((x: any) => x.id)])).toEqual([
      [1, steps.transform.id, [tv]],
      [2, steps.report.id, [reportV]],
    ]);

    // download
    const dl = await get(`/api/v1/artifact-versions/${reportV}/download`);
    expect(dl.status).toBe(200);
    expect(dl.body).toBe('sum:60');
    expect(dl.type).toMatch(/^text\/plain/);
    expect(Number((await app.inject({ method: 'GET', url: `/api/v1/artifact-versions/${reportV}/download` })).headers['content-length'])).toBe(6);
    const byPath = await get(`/api/v1/artifact-versions/${tv}/download?path=data.json`);
    expect(JSON.parse(byPath.body)).toEqual({ ys: [10, 20, 30] });
    expect((await get(`/api/v1/artifact-versions/${reportV}/download?path=nope.txt`)).status).toBe(404);

    // 404s
    for (const url of [
      '/api/v1/pipeline-runs/nope',
      '/api/v1/step-runs/nope',
      '/api/v1/artifact-versions/nope',
      '/api/v1/artifact-versions/nope/lineage',
      '/api/v1/artifact-versions/nope/download',
    ]) {
      const r = await get(url);
      expect(r.status, url).toBe(404);
      expect(r.json.error_code, url).toBe('RESOURCE_DOES_NOT_EXIST');
    }
  });

  const upload = (spec: unknown, ...files: (string | Buffer)[]) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/artifact-versions',
      headers: { 'content-type': 'application/vnd.flywheel.artifact-upload' },
      payload: Buffer.concat([Buffer.from(`${JSON.stringify(spec)}\n`), ...files.map((f) => Buffer.from(f))]),
    });
  const spec = (files: { path: string; size: number }[], extra: Record<string, unknown> = {}) => ({
    name: 'up/loaded',
    type: 'string',
    materializer: { name: 'string', version: '1' },
    files,
    ...extra,
  });

  it('stores an uploaded artifact version and refuses damaged or invalid uploads', async () => {
    const ok = await upload(spec([{ path: 'data.txt', size: 5 }], { metadata: { k: 'v' } }), 'hello');
    expect(ok.statusCode).toBe(200);
    const v = ok.json().artifact_version;
    expect(v).toMatchObject({ name: 'up/loaded', version: 1, type: 'string', materializer: 'string@1', size: 5, producer_step_run_id: null, metadata: { k: 'v', visualizations: [] } });
    expect((await get(`/api/v1/artifact-versions/${v.id}/download`)).body).toBe('hello');
    expect((await get(`/api/v1/artifact-versions/${v.id}/files`)).json).toEqual({ content_hash: v.content_hash, size: 5, files: [{ path: 'data.txt', size: 5 }] });
    expect((await get('/api/v1/artifact-versions/resolve?ref=up%2Floaded')).json.artifact_version.id).toBe(v.id);
    expect((await get('/api/v1/artifact-versions/resolve?ref=up%2Floaded&version=1')).json.artifact_version.id).toBe(v.id);
    expect((await get('/api/v1/artifact-versions/resolve?ref=up%2Floaded:2')).status).toBe(404);
    const again = await upload(spec([{ path: 'data.txt', size: 5 }], { content_hash: v.content_hash }), 'hello');
    expect(again.json().artifact_version).toMatchObject({ version: 2, content_hash: v.content_hash });

    const bad = async (res: Awaited<ReturnType<typeof upload>>, code: string, text: string | RegExp) => {
      expect(res.json().error_code).toBe(code);
      expect(res.json().message).toMatch(text);
    };
    await bad(await upload(spec([{ path: 'data.txt', size: 9 }]), 'hello'), 'INVALID_PARAMETER_VALUE', /ended inside 'data.txt' \(4 of 9 bytes missing\)/);
    await bad(await upload(spec([{ path: 'data.txt', size: 2 }]), 'hello'), 'INVALID_PARAMETER_VALUE', /more bytes than its spec lists/);
    await bad(await upload(spec([{ path: '../x', size: 1 }]), 'h'), 'INVALID_PARAMETER_VALUE', /path/);
    await bad(await upload(spec([{ path: 'a', size: 1 }, { path: 'a', size: 1 }]), 'hh'), 'INVALID_PARAMETER_VALUE', /twice/);
    await bad(await upload(spec([{ path: 'a', size: 1 }, { path: 'a/b', size: 1 }]), 'hh'), 'INVALID_PARAMETER_VALUE', /also a file/);
    await bad(await upload(spec([{ path: 'a/b', size: 1 }, { path: 'a', size: 1 }]), 'hh'), 'INVALID_PARAMETER_VALUE', /as a file and as a directory/);
    await bad(await upload(spec([{ path: 'data.txt', size: 5 }], { content_hash: '0'.repeat(64) }), 'hello'), 'DATA_LOSS', /not to the announced/);
    await bad(await upload(spec([], { name: 'bad:name' })), 'INVALID_PARAMETER_VALUE', /Invalid artifact name/);
    await bad(await upload(spec([], { metadata: { visualizations: 1 } })), 'INVALID_PARAMETER_VALUE', /reserved/);
    await bad(await upload(spec([], { metadata: [1] })), 'INVALID_PARAMETER_VALUE', /metadata/);
    await bad(await upload(spec([], { extra: 1 })), 'INVALID_PARAMETER_VALUE', /Invalid artifact upload/);
    await bad(await upload(spec([], { visualizations: [{ kind: 'image', mimeType: 'image/png', path: 'missing.png' }] })), 'INVALID_PARAMETER_VALUE', /not a file of the artifact/);
    await bad(await upload(spec([], { visualizations: [{ kind: 'script', src: 'x' }] })), 'INVALID_PARAMETER_VALUE', /visualizations/);
    const notJson = await app.inject({ method: 'POST', url: '/api/v1/artifact-versions', headers: { 'content-type': 'application/vnd.flywheel.artifact-upload' }, payload: 'nope\n' });
    await bad(notJson, 'INVALID_PARAMETER_VALUE', /not JSON/);
    const wrongType = await app.inject({ method: 'POST', url: '/api/v1/artifact-versions', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(wrongType.statusCode).toBe(400);
    // Nothing half-recorded.
    expect((await get('/api/v1/artifact-versions?name=up%2Floaded')).json.artifact_versions).toHaveLength(2);
  });

  it('prunes through POST /api/v1/artifact-versions/prune', async () => {
    await runLocal(chain, opts);
    await runLocal(chain, { ...opts, cache: false });
    const dry = await app.inject({ method: 'POST', url: '/api/v1/artifact-versions/prune', payload: { keep_last: 1, dry_run: true } });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({ dry_run: true, keep_last: 1 });
    // Run 1's three versions go; their contents stay, as run 2 produced the same.
    expect(dry.json().deleted.map((d: any) => `${d.name}:${d.version}`).sort()).toEqual(['chain/load/output:1', 'chain/report/output:1', 'chain/transform/output:1']);
    expect(dry.json().removed_blobs).toEqual([]);
    expect((await get('/api/v1/artifact-versions')).json.artifact_versions).toHaveLength(6);
    const res = await app.inject({ method: 'POST', url: '/api/v1/artifact-versions/prune', payload: { keep_last: 0, older_than: '1h' } });
    expect(res.json().deleted).toEqual([]);
    expect(res.json().kept.every((k: any) => k.reasons.includes('newer than 1h'))).toBe(true);
    const badDuration = await app.inject({ method: 'POST', url: '/api/v1/artifact-versions/prune', payload: { older_than: 'soon' } });
    expect(badDuration.json().error_code).toBe('INVALID_PARAMETER_VALUE');
  });

  it('answers empty lists on an empty store', async () => {
    expect((await get('/api/v1/pipelines')).json).toEqual({ pipelines: [] });
    expect((await get('/api/v1/pipeline-runs')).json).toEqual({ pipeline_runs: [] });
    expect((await get('/api/v1/artifacts')).json).toEqual({ artifacts: [] });
    expect((await get('/api/v1/artifact-versions')).json).toEqual({ artifact_versions: [] });
  });
});
