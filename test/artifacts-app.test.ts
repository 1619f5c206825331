import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArtifactStore } from '../src/artifacts/index.js';
import { buildApp } from '../src/server/app.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { freshStore, type TestStore } from './helpers/stores.js';

/** The artifact routes inside the real app, with the real tracking store: the wiring an MLflow client sees. */
describe('artifacts in the app', () => {
  let base: string;
  let db: TestStore;
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'flywheel-art-app-'));
    writeFileSync(join(base, 'sentinel.txt'), 'sentinel');
    db = await freshStore('sqlite');
    const artifacts = createArtifactStore({ root: join(base, 'root') });
    const tracking = new SqlTrackingStore(db.store, {
      defaultArtifactRoot: artifacts.defaultArtifactRoot,
      validateArtifactLocation: (uri) => artifacts.validateArtifactLocation(uri),
    });
    await tracking.ensureDefaultExperiment();
    app = await buildApp({ tracking, artifacts, logger: false });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
    rmSync(base, { recursive: true, force: true });
  });

  function request(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) {
    return new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }
  const json = (method: string, path: string, body: unknown) =>
    request(method, path, JSON.stringify(body), { 'content-type': 'application/json' });

  it('logs, lists and downloads a run artifact through the proxy, as an MLflow client does', async () => {
    const exp = JSON.parse((await json('POST', '/api/2.0/mlflow/experiments/create', { name: 'art' })).text);
    const run = JSON.parse((await json('POST', '/api/2.0/mlflow/runs/create', { experiment_id: exp.experiment_id })).text).run;
    const uri: string = run.info.artifact_uri;
    expect(uri).toBe(`mlflow-artifacts:/${exp.experiment_id}/${run.info.run_id}/artifacts`);

    const remote = uri.replace('mlflow-artifacts:/', '');
    const put = await request('PUT', `/api/2.0/mlflow-artifacts/artifacts/${remote}/model/MLmodel`, 'flavors: {}\n', {
      'content-type': 'text/plain',
    });
    expect(put.status).toBe(200);
    expect(put.text).toBe('{}');

    const listed = await request('GET', `/api/2.0/mlflow-artifacts/artifacts?path=${remote}/model`);
    expect(JSON.parse(listed.text)).toEqual({ files: [{ path: 'MLmodel', is_dir: false, file_size: 12 }] });

    const runList = await request('GET', `/api/2.0/mlflow/artifacts/list?run_id=${run.info.run_id}&path=model`);
    expect(JSON.parse(runList.text)).toMatchObject({ root_uri: uri, files: [{ path: 'model/MLmodel', is_dir: false, file_size: 12 }] });

    const got = await request('GET', `/get-artifact?run_id=${run.info.run_id}&path=model/MLmodel`);
    expect(got.status).toBe(200);
    expect(got.text).toBe('flavors: {}\n');
    expect(got.headers['x-content-type-options']).toBe('nosniff');

    const mpu = await json('POST', `/api/2.0/mlflow-artifacts/mpu/create/${remote}/big.bin`, { path: 'big.bin', num_parts: 2 });
    expect(mpu.status).toBe(501);
    expect(JSON.parse(mpu.text).message).toMatch(/^Multipart upload is not supported/);
  });

  it('answers MLflow JSON 400 to traversal through the app, touching nothing outside the root', async () => {
    for (const [method, path] of [
      ['GET', '/api/2.0/mlflow-artifacts/artifacts/%2e%2e%2fsentinel.txt'],
      ['PUT', '/api/2.0/mlflow-artifacts/artifacts/%252e%252e%252fsentinel.txt'],
      ['DELETE', '/api/2.0/mlflow-artifacts/artifacts/..%2fsentinel.txt'],
      ['GET', '/api/2.0/mlflow-artifacts/artifacts?path=../'],
      ['GET', '/get-artifact?run_id=00000000000000000000000000000000&path=../sentinel.txt'],
    ] as const) {
      const r = await request(method, path, method === 'PUT' ? 'PWNED' : undefined);
      expect(r.status, `${method} ${path}`).toBe(400);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(r.text).error_code).toBe('INVALID_PARAMETER_VALUE');
    }
    expect(readFileSync(join(base, 'sentinel.txt'), 'utf8')).toBe('sentinel');
    expect(readdirSync(base).sort()).toEqual(['root', 'sentinel.txt']);
  });

  it('validates experiment artifact locations with the classifier', async () => {
    for (const loc of ['http://host#/abc/etc/', 'http:///#/../../../../etc/', 'file:///etc/', 'dbfs:/x', 'mlflow-artifacts:/x?query']) {
      const r = await json('POST', '/api/2.0/mlflow/experiments/create', { name: `bad-${loc}`, artifact_location: loc });
      expect(r.status, loc).toBe(400);
      expect(JSON.parse(r.text).error_code).toBe('INVALID_PARAMETER_VALUE');
    }
    const ok = await json('POST', '/api/2.0/mlflow/experiments/create', { name: 'on-s3', artifact_location: 's3://bucket/prefix' });
    expect(ok.status).toBe(200);
  });
});
