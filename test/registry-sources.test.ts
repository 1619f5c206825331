import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyArtifactUri } from '../src/artifacts/uri.js';
import { notFound } from '../src/core/index.js';
import { resolveModelSource } from '../src/registry/index.js';
import { DIALECTS } from './helpers/stores.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** Model version sources: the shapes of security-cases.md ("model version source") are all refused. */
const PROMPT_TAG = [{ key: 'mlflow.prompt.is_prompt', value: 'true' }];

function refusedSources(runId: string, artifactUri: string): string[] {
  return [
    'file:///etc/',
    'file:///etc/passwd',
    'file://./etc',
    'file://host/../..',
    'file:/etc/passwd',
    '/etc/passwd',
    '/tmp',
    'C:\\Windows\\system32',
    'C:/Windows',
    's3://b/../../..',
    's3://b/x/%2e%2e/%2e%2e/y',
    '//proc/self/environ',
    '//host/share/model',
    'mlflow-artifacts:/x#/../../etc',
    'http://host#/abc/etc/',
    `runs:/${runId}/model#../../etc`,
    'mlflow-artifacts:/a/%2e%2e/%2e%2e/etc',
    'mlflow-artifacts:/a/%252e%252e/%252e%252e/etc',
    'mlflow-artifacts:/a/%25252e%25252e/x',
    'http://host/;..%2F..%2Fetc',
    'http://example.com/model',
    'https://169.254.169.254/latest/meta-data',
    'http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/x',
    '../../../etc',
    './model',
    'model',
    '..%2f..%2fetc',
    'mlflow-artifacts:/..%2f..%2fetc',
    'mlflow-artifacts:/a%00b',
    'mlflow-artifacts:/a\u0000b',
    'mlflow-artifacts:/a%3f/../..',
    'mlflow-artifacts:/a;b',
    'mlflow-artifacts:/a?x=1',
    'mlflow-artifacts:/../etc',
    `runs:/${runId}/../../etc`,
    `runs:/${runId}/model%2f..%2f..%2f..`,
    `runs:/${runId}/model/%252e%252e/%252e%252e`,
    `runs:/../${runId}/model`,
    'runs:/not a run/model',
    'models:/m-abc/../../x',
    'models:/clf/1/../../x',
    'models:/clf@champion/../x',
    'models:/..%2f..%2fetc/1',
    `${artifactUri}/../../other`,
    `${artifactUri}/model%2f..%2f..`,
    's3://bucket/model',
    'dbfs:/databricks/model',
    'ftp://host/model',
    '',
  ];
}

describe.each(DIALECTS)('model version sources on %s', (dialect) => {
  let s: TestServer;
  let runId: string;
  let artifactUri: string;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    const exp = (await s.call('POST', 'experiments/create', { name: 'src' })).json.experiment_id;
    const run = (await s.call('POST', 'runs/create', { experiment_id: exp })).json.run;
    runId = run.info.run_id;
    artifactUri = run.info.artifact_uri;
    await s.call('POST', 'registered-models/create', { name: 'm' });
  });
  afterAll(() => s.close());

  it('refuses every unsafe shape with 400, with or without a prompt tag, with or without run_id', async () => {
    for (const source of refusedSources(runId, artifactUri)) {
      for (const tags of [undefined, PROMPT_TAG]) {
        for (const run_id of [undefined, runId]) {
          const res = await s.call('POST', 'model-versions/create', { name: 'm', source, tags, run_id });
          expect([res.status, res.json?.error_code], `${source} tags=${!!tags} run_id=${!!run_id}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
        }
      }
    }
    expect((await s.call('GET', 'model-versions/search', { filter: "name = 'm'" })).json.model_versions).toBeUndefined();
  });

  it('accepts sources inside the server-controlled store, trailing and repeated slashes included', async () => {
    const ok = ['mlflow-artifacts:/models', 'mlflow-artifacts:/models//a/', `runs:/${runId}/model/`, `runs:/${runId}/model`, `${artifactUri}/model`];
    for (const source of ok) {
      const res = await s.call('POST', 'model-versions/create', { name: 'm', source, run_id: runId, tags: PROMPT_TAG });
      expect(res.status, source).toBe(200);
    }
    expect((await s.call('GET', 'model-versions/get-download-uri', { name: 'm', version: '3' })).json.artifact_uri).toBe(`${artifactUri}/model`);
    // A runs:/ source whose run does not exist, and a run_id that does not exist, are refused.
    const missingRun = '0123456789abcdef0123456789abcdef';
    expect((await s.call('POST', 'model-versions/create', { name: 'm', source: `runs:/${missingRun}/model` })).status).toBe(404);
    expect((await s.call('POST', 'model-versions/create', { name: 'm', source: 'mlflow-artifacts:/x', run_id: missingRun })).status).toBe(404);
  });
});

describe('resolveModelSource with a local (file:) artifact store', () => {
  const root = mkdtempSync(join(tmpdir(), 'flywheel-src-'));
  const runUri = pathToFileURL(join(root, '1', 'abc', 'artifacts')).href;
  const ctx = {
    getRunArtifactUri: async (id: string) => {
      if (id !== 'abc') throw notFound(`Run '${id}' not found`);
      return runUri;
    },
    getLoggedModelArtifactUri: async () => pathToFileURL(join(root, '1', 'models', 'm-1', 'artifacts')).href,
    classify: (uri: string) => classifyArtifactUri(uri, { root }),
  };

  it("accepts file: only inside the given run's own local artifact location", async () => {
    expect((await resolveModelSource(`${runUri}/model`, 'abc', ctx)).artifactUri).toBe(`${runUri}/model`);
    expect((await resolveModelSource('runs:/abc/model', undefined, ctx)).artifactUri).toBe(`${runUri}/model`);
    await expect(resolveModelSource(`${runUri}/model`, undefined, ctx)).rejects.toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });
    await expect(resolveModelSource(pathToFileURL(join(root, '2', 'x')).href, 'abc', ctx)).rejects.toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });
    await expect(resolveModelSource(`${runUri}/../../../x`, 'abc', ctx)).rejects.toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });
    await expect(resolveModelSource(join(root, '1', 'abc', 'artifacts', 'model'), 'abc', ctx)).rejects.toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });
    await expect(resolveModelSource('file:///etc/passwd', 'abc', ctx)).rejects.toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });
  });
});
