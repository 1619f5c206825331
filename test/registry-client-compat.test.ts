import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel } from '../src/index.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * What the MLflow 2.x Python client does to load `models:/<name>@<alias>` (pyfunc.load_model), replayed over raw
 * HTTP: alias → model_version, get-download-uri, list the model directory through the artifact proxy, GET each file.
 */
describe('MLflow 2.x client: loading models:/name@alias over raw HTTP', () => {
  let server: TestServer;
  let scratch: string;
  let runId: string;
  const files: Record<string, Buffer> = {
    MLmodel: Buffer.from('artifact_path: model\nflavors:\n  python_function: {}\n'),
    'conda.yaml': Buffer.from('name: env\n'),
    'python_model.pkl': Buffer.from([0x80, 0x04, 0x95, 0, 1, 2, 3, 0xff]),
  };

  beforeAll(async () => {
    server = await startTestServer();
    scratch = mkdtempSync(join(tmpdir(), 'flywheel-compat-'));
    const dir = join(scratch, 'model');
    mkdirSync(dir);
    for (const [f, bytes] of Object.entries(files)) writeFileSync(join(dir, f), bytes);
    const fw = new Flywheel({ trackingUri: server.url, maxRetries: 0 });
    const run = await fw.startRun();
    await run.logArtifacts(dir, 'model');
    await run.end();
    runId = run.runId;
    await fw.registerModel(`runs:/${runId}/model`, 'compat-model');
    await fw.setAlias('compat-model', 'champion', 1, { reason: 'compat' });
    await fw.close();
  });

  afterAll(async () => {
    await server?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  const get = async (path: string, query: Record<string, string> = {}) => {
    const url = new URL(path, server.url);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const res = await fetch(url, { headers: { 'User-Agent': 'mlflow-python-client/2.17.2' } });
    return res;
  };

  it('resolves the alias, the download URI, lists the directory and fetches the exact bytes', async () => {
    const byAlias = await get('/api/2.0/mlflow/registered-models/alias', { name: 'compat-model', alias: 'champion' });
    expect(byAlias.status).toBe(200);
    const { model_version } = (await byAlias.json()) as { model_version: { version: string; run_id: string; aliases: string[] } };
    expect(model_version).toMatchObject({ version: '1', run_id: runId, aliases: ['champion'] });

    const dl = await get('/api/2.0/mlflow/model-versions/get-download-uri', { name: 'compat-model', version: model_version.version });
    expect(dl.status).toBe(200);
    const { artifact_uri } = (await dl.json()) as { artifact_uri: string };
    const m = /^mlflow-artifacts:\/(.+)$/.exec(artifact_uri);
    expect(m, artifact_uri).not.toBeNull();
    const dir = m![1].replace(/^\/+/, '');
    expect(dir).toMatch(new RegExp(`${runId}/artifacts/model$`));

    const listing = await get('/api/2.0/mlflow-artifacts/artifacts', { path: dir });
    expect(listing.status).toBe(200);
    const { files: listed } = (await listing.json()) as { files: { path: string; is_dir: boolean; file_size?: number }[] };
    expect(listed.map((f) => f.path).sort()).toEqual(Object.keys(files).sort());
    for (const f of listed) {
      expect(f.is_dir).toBe(false);
      expect(Number(f.file_size)).toBe(files[f.path].length);
      const body = await get(`/api/2.0/mlflow-artifacts/artifacts/${dir}/${encodeURIComponent(f.path)}`);
      expect(body.status).toBe(200);
      expect(Buffer.from(await body.arrayBuffer()).equals(files[f.path])).toBe(true);
    }
  });

  it('answers an unknown alias with 404 RESOURCE_DOES_NOT_EXIST', async () => {
    const res = await get('/api/2.0/mlflow/registered-models/alias', { name: 'compat-model', alias: 'nobody' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error_code: string }).error_code).toBe('RESOURCE_DOES_NOT_EXIST');
  });
});
