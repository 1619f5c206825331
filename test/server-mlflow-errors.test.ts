import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './helpers/stores.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * The tracking rows of shared/reference/mlflow-error-behaviour.md: the same requests, the same status and
 * error_code as MLflow's servers (3.x where the two differ).
 */
describe.each(DIALECTS)('MLflow edge cases on %s', (dialect) => {
  let s: TestServer;
  let runId: string;
  let expId: string;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    expId = (await s.call('POST', 'experiments/create', { name: 'probe' })).json.experiment_id;
    runId = (await s.call('POST', 'runs/create', { experiment_id: expId })).json.run.info.run_id;
  });
  afterAll(() => s.close());

  const ts = 1795904490684;
  const cases: [string, string, () => Record<string, unknown>, number, string | null][] = [
    ['1', 'GET experiments/get', () => ({ experiment_id: '999999' }), 404, 'RESOURCE_DOES_NOT_EXIST'],
    ['2', 'GET experiments/get', () => ({}), 400, 'INVALID_PARAMETER_VALUE'],
    ['3', 'GET experiments/get-by-name', () => ({ experiment_name: 'nope-1d406e' }), 404, 'RESOURCE_DOES_NOT_EXIST'],
    ['4', 'POST experiments/create', () => ({ name: 'probe' }), 400, 'RESOURCE_ALREADY_EXISTS'],
    ['5', 'POST experiments/create', () => ({}), 400, 'INVALID_PARAMETER_VALUE'],
    ['6', 'POST experiments/create', () => ({ name: 123 }), 400, 'INVALID_PARAMETER_VALUE'],
    ['7', 'GET runs/get', () => ({ run_id: '00000000000000000000000000000000' }), 404, 'RESOURCE_DOES_NOT_EXIST'],
    ['8', 'POST runs/log-metric', () => ({ run_id: runId, key: 'm', value: 'abc', timestamp: ts }), 400, 'INVALID_PARAMETER_VALUE'],
    ['9', 'POST runs/log-metric', () => ({ run_id: runId, key: 'm', value: 1.0 }), 400, 'INVALID_PARAMETER_VALUE'],
    ['10', 'POST runs/log-metric', () => ({ run_id: runId, key: 'bad key!', value: 1.0, timestamp: ts }), 400, 'INVALID_PARAMETER_VALUE'],
    ['11', 'POST runs/log-metric', () => ({ run_id: runId, key: 'nan', value: 'NaN', timestamp: ts }), 200, null],
    ['12', 'POST runs/log-metric', () => ({ run_id: runId, key: 'inf', value: 'Infinity', timestamp: ts }), 200, null],
    ['13', 'POST runs/log-parameter', () => ({ run_id: runId, key: 'p', value: '1' }), 200, null],
    ['14', 'POST runs/log-parameter', () => ({ run_id: runId, key: 'p', value: '2' }), 400, 'INVALID_PARAMETER_VALUE'],
    ['15', 'POST runs/log-parameter', () => ({ run_id: runId, key: 'long', value: 'x'.repeat(7000) }), 200, null],
    ['16', 'POST runs/log-batch', () => ({ run_id: runId, metrics: Array.from({ length: 1001 }, (_, i) => ({ key: 'b', value: 1, timestamp: ts + i })) }), 400, 'INVALID_PARAMETER_VALUE'],
    ['17', 'POST runs/log-batch', () => ({ run_id: runId, params: Array.from({ length: 101 }, (_, i) => ({ key: `k${i}`, value: 'v' })) }), 400, 'INVALID_PARAMETER_VALUE'],
    ['18', 'POST runs/log-batch', () => ({ run_id: runId, params: [{ key: 'd', value: '1' }, { key: 'd', value: '2' }] }), 400, 'INVALID_PARAMETER_VALUE'],
    ['19', 'POST runs/set-tag', () => ({ run_id: runId, key: 't', value: 'x'.repeat(9000) }), 200, null],
    ['20', 'POST runs/search', () => ({ experiment_ids: [expId], filter: "metrics.acc > 'x'" }), 400, 'INVALID_PARAMETER_VALUE'],
    ['21', 'POST runs/search', () => ({ experiment_ids: [expId], filter: "params.lr > '1'" }), 400, 'INVALID_PARAMETER_VALUE'],
    ['22', 'POST runs/search', () => ({ experiment_ids: [expId], filter: 'foo.bar = 1' }), 400, 'INVALID_PARAMETER_VALUE'],
    ['23', 'POST runs/search', () => ({ experiment_ids: [expId], max_results: 50001 }), 400, 'INVALID_PARAMETER_VALUE'],
    ['24', 'POST runs/search', () => ({ experiment_ids: [expId], order_by: ['metrics.acc sideways'] }), 400, 'INVALID_PARAMETER_VALUE'],
    ['25', 'POST runs/search', () => ({ experiment_ids: [expId], max_results: 1 }), 200, null],
    ['26', 'POST runs/update', () => ({ run_id: runId, status: 'BOGUS' }), 200, null],
    ['27', 'GET metrics/get-history', () => ({ run_id: runId, metric_key: 'absent' }), 200, null],
    ['28', 'GET metrics/get-history', () => ({ run_id: runId }), 400, 'INVALID_PARAMETER_VALUE'],
    ['38', 'POST logged-models', () => ({ experiment_id: expId }), 200, null],
  ];

  it.each(cases)('case %s: %s', async (_n, what, params, status, code) => {
    const [method, path] = what.split(' ');
    const res = await s.call(method, path, params());
    expect(res.status).toBe(status);
    expect(res.type).toMatch(/^application\/json/);
    if (code) {
      expect(res.json.error_code).toBe(code);
      expect(typeof res.json.message).toBe('string');
    } else {
      expect(res.json.error_code).toBeUndefined();
    }
  });

  it('answers the messages MLflow clients show users', async () => {
    expect((await s.call('GET', 'experiments/get', {})).json.message).toBe(
      "Missing value for required parameter 'experiment_id'. See the API docs for more information about request parameters.",
    );
    expect((await s.call('POST', 'experiments/create', { name: 123 })).json.message).toMatch(/^Invalid value 123 for parameter 'name' supplied: .*Hint: Value was of type 'int'/);
    expect((await s.call('GET', 'runs/get', { run_id: '0'.repeat(32) })).json.message).toBe(`Run with id=${'0'.repeat(32)} not found`);
    expect((await s.call('GET', 'experiments/get', { experiment_id: '999999' })).json.message).toBe('No Experiment with id=999999 exists');
    expect((await s.call('POST', 'runs/log-batch', { run_id: runId, params: [{ key: 'd', value: '1' }, { key: 'd', value: '2' }] })).json.message).toBe(
      "Duplicate parameter keys have been submitted: ['d']. Please ensure the request contains only one param value per param key.",
    );
  });

  it('keeps the documented side effects of the 200 cases', async () => {
    const run = (await s.call('GET', 'runs/get', { run_id: runId })).json.run;
    const metrics = Object.fromEntries(run.data.metrics.map((m: any) => [m.key, m.value]));
    expect(metrics.nan).toBe('NaN');
    expect(metrics.inf).toBe('Infinity');
    expect(run.data.params.find((p: any) => p.key === 'long').value).toHaveLength(6000);
    expect(run.data.tags.find((p: any) => p.key === 't').value).toHaveLength(8000);
    expect(run.info.status).toBe('RUNNING');
    expect(run.info.run_uuid).toBe(runId);
    expect((await s.call('GET', 'metrics/get-history', { run_id: runId, metric_key: 'absent' })).text).toBe('{}');
  });

  it('answers HTML 404 and 405 for unknown endpoints and methods, as Flask does', async () => {
    const nf = await s.call('POST', 'no-such-endpoint', {});
    expect(nf.status).toBe(404);
    expect(nf.type).toMatch(/^text\/html/);
    const na = await s.call('GET', 'runs/create', {});
    expect(na.status).toBe(405);
    expect(na.type).toMatch(/^text\/html/);
  });

  it('serves health, version and the empty artifact root', async () => {
    const h = await s.call('GET', '/health');
    expect([h.status, h.text]).toEqual([200, 'OK']);
    const v = await s.call('GET', '/version');
    expect(v.status).toBe(200);
    expect(v.text).toMatch(/^\d+\.\d+\.\d+/);
    const a = await s.call('GET', '/api/2.0/mlflow-artifacts/artifacts', { path: expId });
    expect([a.status, a.text]).toEqual([200, '{}']);
  });

  it('refuses POST bodies that are not application/json (drive-by CSRF)', async () => {
    const res = await fetch(new URL('/api/2.0/mlflow/experiments/create', s.url), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ name: 'csrf' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error_code).toBe('INVALID_PARAMETER_VALUE');
    expect((await s.call('GET', 'experiments/get-by-name', { experiment_name: 'csrf' })).status).toBe(404);
    const missingType = await fetch(new URL('/api/2.0/mlflow/experiments/create', s.url), { method: 'POST', body: new Uint8Array(Buffer.from('{"name":"x"}')) });
    expect(missingType.status).toBe(400);
  });

  it('accepts run_uuid for run_id, a JSON string body, ajax-api and 3.0 prefixes', async () => {
    expect((await s.call('GET', 'runs/get', { run_uuid: runId })).json.run.info.run_id).toBe(runId);
    const res = await fetch(new URL('/api/2.0/mlflow/runs/set-tag', s.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(JSON.stringify({ run_id: runId, key: 'double', value: 'encoded' })),
    });
    expect(res.status).toBe(200);
    expect((await s.call('GET', '/ajax-api/2.0/mlflow/runs/get', { run_id: runId })).json.run.data.tags).toContainEqual({ key: 'double', value: 'encoded' });
    expect((await s.call('POST', '/ajax-api/2.0/mlflow/experiments/search-datasets', { experiment_ids: [expId] })).status).toBe(200);
  });

  it('rejects malformed JSON, wrong shapes and over-size batches with 400, never 500', async () => {
    const bad = await fetch(new URL('/api/2.0/mlflow/runs/log-metric', s.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"run_id": ' });
    expect(bad.status).toBe(400);
    for (const body of [[1, 2], { run_id: runId, metrics: 'x' }, { run_id: runId, metrics: [null] }, { run_id: runId, params: [{ key: 'a' }] }, { run_id: [1] }]) {
      const r = await s.call('POST', 'runs/log-batch', body as any);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    const huge = await s.call('POST', 'runs/log-batch', { run_id: runId, tags: [{ key: 'big', value: 'x'.repeat(1_100_000) }] });
    expect(huge.status).toBe(400);
    expect((await s.call('POST', 'runs/create', {})).json.error_code).toBe('BAD_REQUEST');
    const escape = await fetch(new URL('/api/2.0/mlflow-artifacts/artifacts/%zz', s.url));
    expect(escape.status).toBe(400);
    expect(((await escape.json()) as any).error_code).toBe('INVALID_PARAMETER_VALUE');
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    const d = await fetch(new URL('/api/2.0/mlflow/runs/search', s.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
    expect(d.status).toBe(400);
  });
});
