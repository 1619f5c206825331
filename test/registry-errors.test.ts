import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './helpers/stores.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** Rows 29–35 of mlflow-error-behaviour.md, and the registry's input rules (§4.2–4.3). */
describe.each(DIALECTS)('registry errors on %s', (dialect) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    expect((await s.call('POST', 'registered-models/create', { name: 'probe-m' })).status).toBe(200);
  });
  afterAll(() => s.close());

  const expectError = (res: { status: number; json: any }, status: number, code: string, message?: string | RegExp) => {
    expect(res.status).toBe(status);
    expect(res.json.error_code).toBe(code);
    if (typeof message === 'string') expect(res.json.message).toBe(message);
    else if (message) expect(res.json.message).toMatch(message);
  };

  it('row 29: get of a missing model → 404', async () => {
    expectError(await s.call('GET', 'registered-models/get', { name: 'nope-1' }), 404, 'RESOURCE_DOES_NOT_EXIST', 'Registered Model with name=nope-1 not found');
  });
  it('row 30: duplicate create → 400 RESOURCE_ALREADY_EXISTS', async () => {
    expectError(await s.call('POST', 'registered-models/create', { name: 'probe-m' }), 400, 'RESOURCE_ALREADY_EXISTS', /Registered Model \(name=probe-m\) already exists/);
  });
  it("row 31: alias 'latest' (any case) is reserved", async () => {
    for (const alias of ['latest', 'LaTeSt']) {
      expectError(await s.call('POST', 'registered-models/alias', { name: 'probe-m', alias, version: '1' }), 400, 'INVALID_PARAMETER_VALUE', "'latest' alias name (case insensitive) is reserved.");
    }
  });
  it('row 32: alias to a missing version → 404', async () => {
    expectError(await s.call('POST', 'registered-models/alias', { name: 'probe-m', alias: 'champ', version: '7' }), 404, 'RESOURCE_DOES_NOT_EXIST', 'Model Version (name=probe-m, version=7) not found');
  });
  it('row 33: max_results 1001 → 400; 1000 and omitted are fine', async () => {
    expectError(await s.call('GET', 'registered-models/search', { max_results: 1001 }), 400, 'INVALID_PARAMETER_VALUE', /Invalid value "1001" for parameter 'max_results' supplied/);
    expect((await s.call('GET', 'registered-models/search', { max_results: 1000 })).status).toBe(200);
    expect((await s.call('GET', 'registered-models/search', {})).json.registered_models.map((m: any) => m.name)).toContain('probe-m');
    expectError(await s.call('GET', 'model-versions/search', { max_results: 200001 }), 400, 'INVALID_PARAMETER_VALUE');
    expect((await s.call('GET', 'model-versions/search', { max_results: 200000 })).status).toBe(200);
  });
  it('row 34: non-integer version → 400', async () => {
    expectError(await s.call('GET', 'model-versions/get', { name: 'probe-m', version: 'x' }), 400, 'INVALID_PARAMETER_VALUE', "Model version must be an integer, got 'x'");
  });
  it('row 35: bad stage → 400', async () => {
    expectError(
      await s.call('POST', 'model-versions/transition-stage', { name: 'probe-m', version: '1', stage: 'Prod', archive_existing_versions: false }),
      400,
      'INVALID_PARAMETER_VALUE',
      'Invalid Model Version stage: Prod. Value must be one of None, Staging, Production, Archived.',
    );
  });
  it('missing version → 404 with MLflow message; alias rules', async () => {
    expectError(await s.call('GET', 'model-versions/get', { name: 'probe-m', version: '3' }), 404, 'RESOURCE_DOES_NOT_EXIST', 'Model Version (name=probe-m, version=3) not found');
    for (const alias of ['v1', 'V22', 'a b', 'a.b', 'x'.repeat(256), '']) {
      const res = await s.call('POST', 'registered-models/alias', { name: 'probe-m', alias, version: '1' });
      expect(res.status, alias).toBe(400);
      expect(res.json.error_code).toBe('INVALID_PARAMETER_VALUE');
    }
    expectError(await s.call('POST', 'registered-models/create', { name: '' }), 400, 'INVALID_PARAMETER_VALUE');
    for (const name of ['my%20model', 'a/../b', 'a\u0000b', 'a\nb']) {
      expectError(await s.call('POST', 'registered-models/create', { name }), 400, 'INVALID_PARAMETER_VALUE');
    }
    expectError(await s.call('GET', 'registered-models/alias', { name: 'probe-m', alias: 'nope' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await s.call('GET', 'registered-models/get-latest-versions', { name: 'probe-m', stages: 'Prod' }), 400, 'INVALID_PARAMETER_VALUE');
    expectError(await s.call('GET', 'model-versions/search', { filter: "bogus = 'x'" }), 400, 'INVALID_PARAMETER_VALUE');
  });
});
