import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './helpers/stores.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** The registry as an MLflow 2.x client drives it, then Flywheel's promotion history and lineage. */
describe.each(DIALECTS)('model registry flow on %s', (dialect) => {
  let s: TestServer;
  let runId: string;
  let artifactUri: string;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    const exp = (await s.call('POST', 'experiments/create', { name: 'reg-flow' })).json.experiment_id;
    const run = (await s.call('POST', 'runs/create', { experiment_id: exp })).json.run;
    runId = run.info.run_id;
    artifactUri = run.info.artifact_uri;
    const rel = artifactUri.replace(/^mlflow-artifacts:\//, '');
    const put = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${rel}/model/MLmodel`, s.url), { method: 'PUT', body: 'flavors: {}\n' });
    expect(put.status).toBe(200);
  });
  afterAll(() => s.close());

  const mv = (name: string, source: string, extra: Record<string, unknown> = {}) =>
    s.call('POST', 'model-versions/create', { name, source, run_id: runId, ...extra });

  it('create, versions, download uri, aliases, stages, search, delete', async () => {
    const created = await s.call('POST', 'registered-models/create', { name: 'clf', description: 'd', tags: [{ key: 'team', value: 'a' }] });
    expect(created.status).toBe(200);
    expect(created.json.registered_model).toMatchObject({ name: 'clf', description: 'd', tags: [{ key: 'team', value: 'a' }] });
    expect(typeof created.json.registered_model.creation_timestamp).toBe('number');

    const v1 = await mv('clf', `runs:/${runId}/model`, { tags: [{ key: 'k', value: 'v' }] });
    expect(v1.status).toBe(200);
    expect(v1.json.model_version).toMatchObject({ name: 'clf', version: '1', current_stage: 'None', status: 'READY', run_id: runId, source: `runs:/${runId}/model`, tags: [{ key: 'k', value: 'v' }] });
    expect(v1.json.model_version.aliases).toBeUndefined();
    // MLflow 2.x clients resolve runs:/ themselves and send the run's artifact URI with run_id.
    const v2 = await mv('clf', `${artifactUri}/model`);
    expect(v2.json.model_version.version).toBe('2');

    expect((await s.call('GET', 'model-versions/get-download-uri', { name: 'clf', version: '1' })).json).toEqual({ artifact_uri: `${artifactUri}/model` });
    expect((await s.call('GET', 'model-versions/get-download-uri', { name: 'clf', version: 2 })).json.artifact_uri).toBe(`${artifactUri}/model`);

    expect((await s.call('POST', 'registered-models/alias', { name: 'clf', alias: 'champion', version: '1' })).status).toBe(200);
    const byAlias = await s.call('GET', 'registered-models/alias', { name: 'clf', alias: 'champion' });
    expect(byAlias.json.model_version).toMatchObject({ version: '1', aliases: ['champion'] });
    expect((await s.call('GET', 'registered-models/get', { name: 'clf' })).json.registered_model.aliases).toEqual([{ alias: 'champion', version: '1' }]);

    const t1 = await s.call('POST', 'model-versions/transition-stage', { name: 'clf', version: '1', stage: 'production', archive_existing_versions: false });
    expect(t1.json.model_version.current_stage).toBe('Production');
    const t2 = await s.call('POST', 'model-versions/transition-stage', { name: 'clf', version: '2', stage: 'Production', archive_existing_versions: true });
    expect(t2.json.model_version.current_stage).toBe('Production');
    expect((await s.call('GET', 'model-versions/get', { name: 'clf', version: '1' })).json.model_version.current_stage).toBe('Archived');
    const got = (await s.call('GET', 'registered-models/get', { name: 'clf' })).json.registered_model;
    expect(got.latest_versions.map((v: any) => [v.version, v.current_stage])).toEqual([['2', 'Production'], ['1', 'Archived']]);
    const latest = await s.call('POST', 'registered-models/get-latest-versions', { name: 'clf', stages: ['production'] });
    expect(latest.json.model_versions.map((v: any) => v.version)).toEqual(['2']);

    await s.call('POST', 'registered-models/create', { name: 'other', tags: [{ key: 'team', value: 'b' }] });
    const search = async (params: Record<string, unknown>) => (await s.call('GET', 'registered-models/search', params)).json;
    expect((await search({ filter: "name = 'clf'" })).registered_models.map((m: any) => m.name)).toEqual(['clf']);
    expect((await search({ filter: "name LIKE 'c%'" })).registered_models.map((m: any) => m.name)).toEqual(['clf']);
    expect((await search({ filter: "name ILIKE 'CL%'" })).registered_models.map((m: any) => m.name)).toEqual(['clf']);
    expect((await search({ filter: "tags.team = 'b'" })).registered_models.map((m: any) => m.name)).toEqual(['other']);
    expect((await search({ filter: "name != 'clf'" })).registered_models.map((m: any) => m.name)).toEqual(['other']);
    const page1 = await search({ max_results: 1 });
    expect(page1.registered_models.map((m: any) => m.name)).toEqual(['clf']);
    const page2 = await search({ max_results: 1, page_token: page1.next_page_token });
    expect(page2.registered_models.map((m: any) => m.name)).toEqual(['other']);
    expect(page2.next_page_token).toBeUndefined();

    const vsearch = async (filter: string) => ((await s.call('GET', 'model-versions/search', { filter })).json.model_versions ?? []).map((v: any) => `${v.name}/${v.version}`);
    expect(await vsearch(`run_id = '${runId}'`)).toEqual(['clf/2', 'clf/1']);
    expect(await vsearch(`run_id IN ('${runId}', 'zzz')`)).toEqual(['clf/2', 'clf/1']);
    expect(await vsearch("name = 'clf' and version_number = 1")).toEqual(['clf/1']);
    expect(await vsearch("tags.k = 'v'")).toEqual(['clf/1']);
    expect(await vsearch("source_path LIKE 'runs:/%'")).toEqual(['clf/1']);

    await s.call('POST', 'model-versions/set-tag', { name: 'clf', version: '2', key: 'x', value: 'y' });
    expect((await s.call('DELETE', 'model-versions/delete-tag', { name: 'clf', version: '2', key: 'x' })).status).toBe(200);
    await s.call('POST', 'registered-models/set-tag', { name: 'clf', key: 'x', value: 'y' });
    expect((await s.call('DELETE', 'registered-models/delete-tag', { name: 'clf', key: 'x' })).status).toBe(200);
    expect((await s.call('PATCH', 'model-versions/update', { name: 'clf', version: '2', description: 'two' })).json.model_version.description).toBe('two');
    expect((await s.call('PATCH', 'registered-models/update', { name: 'clf', description: 'new' })).json.registered_model.description).toBe('new');

    // Deleting a version drops its aliases, and its number is never handed out again.
    expect((await s.call('DELETE', 'model-versions/delete', { name: 'clf', version: '1' })).status).toBe(200);
    expect((await s.call('GET', 'registered-models/alias', { name: 'clf', alias: 'champion' })).status).toBe(404);
    expect((await s.call('GET', 'registered-models/get', { name: 'clf' })).json.registered_model.aliases).toBeUndefined();
    expect((await s.call('GET', 'model-versions/get', { name: 'clf', version: '1' })).status).toBe(404);
    expect(await vsearch("name = 'clf'")).toEqual(['clf/2']);
    expect((await mv('clf', `runs:/${runId}/model`)).json.model_version.version).toBe('3');

    const renamed = await s.call('POST', 'registered-models/rename', { name: 'clf', new_name: 'clf2' });
    expect(renamed.json.registered_model.name).toBe('clf2');
    expect((await s.call('GET', 'model-versions/get', { name: 'clf2', version: '2' })).json.model_version.name).toBe('clf2');
    expect((await s.call('POST', 'registered-models/rename', { name: 'clf2', new_name: 'other' })).json.error_code).toBe('RESOURCE_ALREADY_EXISTS');
    expect((await s.call('DELETE', 'registered-models/delete', { name: 'clf2' })).status).toBe(200);
    expect((await s.call('GET', 'registered-models/get', { name: 'clf2' })).status).toBe(404);
    expect((await s.call('GET', 'model-versions/get', { name: 'clf2', version: '2' })).status).toBe(404);
  });

  it('promotion history: alias set, move, delete, rollback, stage transitions; concurrent moves stay consistent', async () => {
    await s.call('POST', 'registered-models/create', { name: 'promo' });
    for (let i = 0; i < 3; i++) await mv('promo', `runs:/${runId}/model`);
    const as = (user: string) => ({ 'x-flywheel-user': user });
    await s.call('POST', 'registered-models/alias', { name: 'promo', alias: 'champion', version: '1' }, as('ana'));
    await s.call('POST', 'registered-models/alias', { name: 'promo', alias: 'champion', version: '2', reason: 'better auc' }, as('bo'));
    await s.call('POST', 'model-versions/transition-stage', { name: 'promo', version: '2', stage: 'Staging', archive_existing_versions: false }, as('cy'));

    const hist = (await s.call('GET', '/api/v1/registered-models/promo/promotions')).json.promotions;
    expect(hist.map((e: any) => [e.kind, e.alias ?? e.stage, e.from_version, e.to_version, e.actor])).toEqual([
      ['stage', 'Staging', undefined, '2', 'cy'],
      ['alias', 'champion', '1', '2', 'bo'],
      ['alias', 'champion', undefined, '1', 'ana'],
    ]);
    expect(hist[1].reason).toBe('better auc');
    expect(hist[0].timestamp).toBeGreaterThanOrEqual(hist[2].timestamp);

    const rb = await s.call('POST', '/api/v1/registered-models/promo/aliases/champion/rollback', {}, as('dee'));
    expect(rb.status).toBe(200);
    expect(rb.json.model_version).toMatchObject({ version: '1', aliases: ['champion'] });
    const after = (await s.call('GET', '/api/v1/registered-models/promo/promotions')).json.promotions;
    expect(after[0]).toMatchObject({ kind: 'alias', alias: 'champion', from_version: '2', to_version: '1', actor: 'dee' });
    expect((await s.call('POST', '/api/v1/registered-models/promo/aliases/nope/rollback', {})).status).toBe(404);

    await s.call('DELETE', 'registered-models/alias', { name: 'promo', alias: 'champion' });
    const del = (await s.call('GET', '/api/v1/registered-models/promo/promotions')).json.promotions[0];
    expect(del).toMatchObject({ kind: 'alias', alias: 'champion', from_version: '1' });
    expect(del.to_version).toBeUndefined();
    expect((await s.call('GET', '/api/v1/registered-models/nope/promotions')).status).toBe(404);

    // Concurrent moves: each event's from_version is the previous event's to_version.
    await s.call('POST', 'registered-models/alias', { name: 'promo', alias: 'race', version: '1' });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => s.call('POST', 'registered-models/alias', { name: 'promo', alias: 'race', version: String((i % 3) + 1) })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const race = (await s.call('GET', '/api/v1/registered-models/promo/promotions')).json.promotions.filter((e: any) => e.alias === 'race').reverse();
    expect(race).toHaveLength(21);
    for (let i = 1; i < race.length; i++) expect(race[i].from_version).toBe(race[i - 1].to_version);
    const final = (await s.call('GET', 'registered-models/alias', { name: 'promo', alias: 'race' })).json.model_version.version;
    expect(final).toBe(race[race.length - 1].to_version);
  });

  it('lineage: version → run, run → versions', async () => {
    await s.call('POST', 'registered-models/create', { name: 'lin' });
    const dataset = { name: 'train', digest: 'abc', source_type: 'local', source: '{"uri":"train.csv"}' };
    await s.call('POST', 'runs/log-inputs', { run_id: runId, datasets: [{ dataset, tags: [{ key: 'mlflow.data.context', value: 'training' }] }] });
    await mv('lin', `runs:/${runId}/model`);
    const lin = await s.call('GET', '/api/v1/model-versions/lin/1/lineage');
    expect(lin.status).toBe(200);
    expect(lin.json.lineage.datasets).toEqual([{ ...dataset, context: 'training' }]);
    expect(lin.json.lineage).toMatchObject({ name: 'lin', version: '1', run_id: runId, source: `runs:/${runId}/model`, artifact_uri: `${artifactUri}/model`, experiment_id: expect.any(String) });
    expect((await s.call('GET', '/api/v1/model-versions/lin/9/lineage')).status).toBe(404);
    const byRun = await s.call('GET', `/api/v1/runs/${runId}/model-versions`);
    expect(byRun.json.model_versions.map((v: any) => `${v.name}/${v.version}`)).toEqual(expect.arrayContaining(['lin/1', 'promo/1', 'promo/2', 'promo/3']));
    expect((await s.call('GET', '/api/v1/runs/0123456789abcdef0123456789abcdef/model-versions')).status).toBe(404);
  });

  it('logged model sources resolve to the logged model artifact location', async () => {
    const exp = (await s.call('POST', 'experiments/create', { name: 'reg-lm' })).json.experiment_id;
    const model = (await s.call('POST', 'logged-models', { experiment_id: exp, name: 'lm' })).json.model;
    await s.call('POST', 'registered-models/create', { name: 'lm-reg' });
    const v = await s.call('POST', 'model-versions/create', { name: 'lm-reg', source: `models:/${model.info.model_id}` });
    expect(v.status).toBe(200);
    expect((await s.call('GET', 'model-versions/get-download-uri', { name: 'lm-reg', version: '1' })).json.artifact_uri).toBe(model.info.artifact_uri);
    expect((await s.call('POST', 'model-versions/create', { name: 'lm-reg', source: 'mlflow-artifacts:/models/x' })).status).toBe(200);
  });
});

describe('registering a version from another registered version', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('accepts models:/<name>/<version|stage|latest> and models:/<name>@<alias> and shares the files', async () => {
    const run = (await s.call('POST', 'runs/create', { experiment_id: '0' })).json.run.info;
    await s.call('POST', 'registered-models/create', { name: 'src' });
    const v1 = await s.call('POST', 'model-versions/create', { name: 'src', source: `runs:/${run.run_id}/model`, run_id: run.run_id });
    expect(v1.status).toBe(200);
    await s.call('POST', 'registered-models/alias', { name: 'src', alias: 'champion', version: '1' });
    await s.call('POST', 'model-versions/transition-stage', { name: 'src', version: '1', stage: 'Production', archive_existing_versions: false });
    await s.call('POST', 'registered-models/create', { name: 'copy' });
    for (const source of ['models:/src/1', 'models:/src@champion', 'models:/src/Production', 'models:/src/latest']) {
      const v = await s.call('POST', 'model-versions/create', { name: 'copy', source });
      expect(v.status, source).toBe(200);
      const uri = await s.call('GET', 'model-versions/get-download-uri', { name: 'copy', version: v.json.model_version.version });
      expect(uri.json.artifact_uri, source).toBe(`${run.artifact_uri}/model`);
    }
    expect((await s.call('POST', 'model-versions/create', { name: 'copy', source: 'models:/src@nope' })).status).toBe(404);
    expect((await s.call('POST', 'model-versions/create', { name: 'copy', source: 'models:/src/9' })).status).toBe(404);
    expect((await s.call('POST', 'model-versions/create', { name: 'copy', source: 'models:/src/1/../../x' })).status).toBe(400);
  });
});
