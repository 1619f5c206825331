import { createServer, request, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../src/cli/program.js';
import type { DeploymentInfo } from '../src/serving/contracts.js';
import { createDeploymentReporter, deploymentNameFor } from '../src/serving/deployment-reporter.js';
import { SqlServingStore } from '../src/serving/sql-serving-store.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { DIALECTS, freshStore } from './helpers/stores.js';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

const quietLogger = () => ({ warn: vi.fn(), info: vi.fn() });

const info = (name: string, over: Partial<DeploymentInfo> = {}): DeploymentInfo => ({
  name,
  modelUri: 'models:/fraud@champion',
  modelName: 'fraud',
  modelVersion: '1',
  endpoint: 'http://127.0.0.1:8080',
  ...over,
});

/** An HTTP proxy that cuts connections until it is pointed at a server. */
async function startProxy(): Promise<{ url: string; target: string | null; close(): Promise<void> }> {
  const state = { target: null as string | null };
  const server: Server = createServer((req, res) => {
    if (!state.target) return void req.socket.destroy();
    const to = new URL(req.url ?? '/', state.target);
    const up = request(to, { method: req.method, headers: { ...req.headers, host: to.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get target() {
      return state.target;
    },
    set target(t) {
      state.target = t;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe.each(DIALECTS)('deployments (%s)', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect);
  });
  afterAll(async () => server.close());

  const get = async (name: string) => (await server.call('GET', `/api/v1/deployments/${name}`)).json.deployment;

  it('registers, heartbeats, follows a version change, lists via API and CLI, and stops', async () => {
    const reporter = createDeploymentReporter({ trackingUri: server.url, heartbeatIntervalMs: 1000, logger: quietLogger() });
    await reporter.start(info('fraud-prod', { traffic: { champion: 90, challenger: 10 } }));
    expect(reporter.state()).toMatchObject({ registered: true, failures: 0 });
    const registered = await get('fraud-prod');
    expect(registered).toMatchObject({
      name: 'fraud-prod',
      model_uri: 'models:/fraud@champion',
      model_name: 'fraud',
      model_version: '1',
      endpoint: 'http://127.0.0.1:8080',
      traffic: { champion: 90, challenger: 10 },
      status: 'RUNNING',
      heartbeat_interval_ms: 1000,
    });
    // Heartbeats move last_heartbeat forward.
    await vi.waitFor(async () => expect((await get('fraud-prod')).last_heartbeat).toBeGreaterThan(registered.last_heartbeat), { timeout: 10_000, interval: 100 });

    await reporter.update({ modelVersion: '2' });
    const swapped = await get('fraud-prod');
    expect(swapped).toMatchObject({ model_version: '2', status: 'RUNNING' });
    expect(swapped.history.map((e: any) => [e.kind, e.from_version, e.to_version])).toEqual([
      ['version_changed', '1', '2'],
      ['registered', null, '1'],
    ]);

    const listed = await server.call('GET', '/api/v1/deployments');
    expect(listed.status).toBe(200);
    expect(listed.json.deployments.map((d: any) => [d.name, d.status, d.model_version])).toContainEqual(['fraud-prod', 'RUNNING', '2']);

    const table = await cli('deployments', 'list', '--tracking-uri', server.url);
    expect(table.code).toBe(0);
    const lines = table.out.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATUS\s+MODEL\s+VERSION\s+ENDPOINT\s+LAST HEARTBEAT \(UTC\)$/);
    expect(lines.find((l) => l.startsWith('fraud-prod'))?.split(/\s+/).slice(0, 5)).toEqual(['fraud-prod', 'RUNNING', 'fraud', '2', 'http://127.0.0.1:8080']);
    const json = JSON.parse((await cli('deployments', 'list', '--model', 'fraud', '--json', '--tracking-uri', server.url)).out);
    expect(json.map((d: any) => d.name)).toEqual(['fraud-prod']);
    const shown = await cli('deployments', 'show', 'fraud-prod', '--tracking-uri', server.url);
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/status:\s+RUNNING/);
    expect(shown.out).toMatch(/version_changed\s+1\s+2/);

    await reporter.stop();
    expect(await get('fraud-prod')).toMatchObject({ status: 'STOPPED' });
    expect((await get('fraud-prod')).history[0].kind).toBe('stopped');
    const missing = await cli('deployments', 'show', 'nope', '--tracking-uri', server.url);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('RESOURCE_DOES_NOT_EXIST');
  });

  it('reports a deployment LOST after three missed heartbeats, and RUNNING again on the next one', async () => {
    const reg = await server.call('POST', '/api/v1/deployments', {
      name: 'flaky',
      model_uri: 'runs:/abc/model',
      endpoint: 'http://10.0.0.7:8080',
      heartbeat_interval_seconds: 0.02,
    });
    expect(reg.status).toBe(200);
    expect(reg.json.deployment).toMatchObject({ status: 'RUNNING', model_name: null, model_version: null });
    await vi.waitFor(async () => expect((await get('flaky')).status).toBe('LOST'), { timeout: 5000, interval: 20 });
    const listed = await server.call('GET', '/api/v1/deployments');
    expect(listed.json.deployments.find((d: any) => d.name === 'flaky').status).toBe('LOST');
    expect((await cli('deployments', 'list', '--tracking-uri', server.url)).out).toMatch(/^flaky\s+LOST\s/m);

    const beat = await server.call('POST', '/api/v1/deployments/flaky/heartbeat', { model_version: '7' });
    expect(beat.status).toBe(200);
    expect(beat.json.deployment).toMatchObject({ status: 'RUNNING', model_version: '7' });
    await server.call('POST', '/api/v1/deployments/flaky/stop', {});
    expect((await get('flaky')).status).toBe('STOPPED');
  });

  it('answers bad input with 400 INVALID_PARAMETER_VALUE and unknown deployments with 404, never 500', async () => {
    const ok = { name: 'x', model_uri: 'm', endpoint: 'http://h:1' };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...ok, name: undefined }, /'name'/],
      [{ ...ok, name: 'has spaces/and slashes' }, /'name'/],
      [{ ...ok, name: 'x'.repeat(300) }, /'name'/],
      [{ ...ok, model_uri: '' }, /'model_uri'/],
      [{ ...ok, endpoint: 42 }, /'endpoint'/],
      [{ ...ok, traffic: [1, 2] }, /'traffic'/],
      [{ ...ok, heartbeat_interval_seconds: 0 }, /'heartbeat_interval_seconds'/],
      [{ ...ok, model_version: 3 }, /'model_version'/],
    ];
    for (const [body, message] of cases) {
      const res = await server.call('POST', '/api/v1/deployments', body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(message) });
    }
    const malformed = await fetch(`${server.url}/api/v1/deployments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error_code: string }).error_code).toBe('INVALID_PARAMETER_VALUE');

    for (const path of ['/api/v1/deployments/ghost/heartbeat', '/api/v1/deployments/ghost/stop']) {
      const res = await server.call('POST', path, {});
      expect(res.status).toBe(404);
      expect(res.json.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    }
    expect((await server.call('GET', '/api/v1/deployments/ghost')).json.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect((await server.call('GET', '/api/v1/deployments/%20bad')).status).toBe(400);
    await server.call('POST', '/api/v1/deployments', ok);
    const badBeat = await server.call('POST', '/api/v1/deployments/x/heartbeat', { model_version: { v: 1 } });
    expect(badBeat).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE' } });
    for (const query of [{ max_results: 0 }, { max_results: 'many' }, { page_token: '!!' }]) {
      const res = await server.call('GET', '/api/v1/deployments', query);
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect(res.json.error_code).toBe('INVALID_PARAMETER_VALUE');
    }
  });

  it('pages the deployment list', async () => {
    for (const n of ['page-a', 'page-b', 'page-c']) {
      await server.call('POST', '/api/v1/deployments', { name: n, model_uri: 'm', model_name: 'paged', endpoint: 'http://h:1' });
    }
    const first = await server.call('GET', '/api/v1/deployments', { model_name: 'paged', max_results: 2 });
    expect(first.json.deployments.map((d: any) => d.name)).toEqual(['page-a', 'page-b']);
    const second = await server.call('GET', '/api/v1/deployments', { model_name: 'paged', max_results: 2, page_token: first.json.next_page_token });
    expect(second.json.deployments.map((d: any) => d.name)).toEqual(['page-c']);
    expect(second.json.next_page_token).toBeUndefined();
  });

  it('reports into a store directly when the tracking URI is a store, readable by the CLI', async () => {
    const ts = await freshStore(dialect);
    try {
      const reporter = createDeploymentReporter({ trackingUri: ts.uri, heartbeatIntervalMs: 1000, logger: quietLogger() });
      await reporter.start(info('embedded'));
      await reporter.update({ modelVersion: '4' });
      // Seen from a day later without heartbeats: LOST while RUNNING, but a stopped deployment stays STOPPED.
      const serving = new SqlServingStore(ts.store);
      const dayLater = Date.now() + 86_400_000;
      expect((await serving.getDeployment('embedded', dayLater)).status).toBe('LOST');
      const json = JSON.parse((await cli('deployments', 'list', '--json', '--tracking-uri', ts.uri)).out);
      expect(json).toEqual([expect.objectContaining({ name: 'embedded', status: 'RUNNING', model_version: '4' })]);
      await reporter.stop();
      const shown = JSON.parse((await cli('deployments', 'show', 'embedded', '--json', '--tracking-uri', ts.uri)).out);
      expect(shown.status).toBe('STOPPED');
      expect((await serving.listDeployments({ offset: 0, limit: 10 }, dayLater)).map((d) => d.status)).toEqual(['STOPPED']);
      expect(shown.history.map((e: any) => e.kind)).toEqual(['stopped', 'version_changed', 'registered']);
    } finally {
      await ts.dispose();
    }
  });
});

describe('deployment reporter faults', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
  });
  afterAll(async () => server.close());

  it('never throws while the server is down, logs once, and registers when the server is back', async () => {
    const proxy = await startProxy();
    const logger = quietLogger();
    const reporter = createDeploymentReporter({ trackingUri: proxy.url, heartbeatIntervalMs: 200, logger });
    try {
      await expect(reporter.start(info('late'))).resolves.toBeUndefined();
      await expect(reporter.update({ modelVersion: '2' })).resolves.toBeUndefined();
      await vi.waitFor(() => expect(reporter.state().failures).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
      expect(reporter.state().registered).toBe(false);
      expect(logger.warn).toHaveBeenCalledTimes(1);

      proxy.target = server.url;
      await vi.waitFor(() => expect(reporter.state().registered).toBe(true), { timeout: 10_000 });
      expect((await server.call('GET', '/api/v1/deployments/late')).json.deployment).toMatchObject({ status: 'RUNNING', model_version: '2' });
      expect(logger.info).toHaveBeenCalledWith(expect.anything(), expect.stringMatching(/works again/));
    } finally {
      await reporter.stop();
      await proxy.close();
    }
    expect((await server.call('GET', '/api/v1/deployments/late')).json.deployment.status).toBe('STOPPED');
  });

  it('registers again when the server has forgotten the deployment', async () => {
    const other = await startTestServer('sqlite');
    const proxy = await startProxy();
    proxy.target = server.url;
    const reporter = createDeploymentReporter({ trackingUri: proxy.url, heartbeatIntervalMs: 200, logger: quietLogger() });
    try {
      await reporter.start(info('moved', { modelVersion: '5' }));
      proxy.target = other.url;
      await vi.waitFor(async () => expect((await other.call('GET', '/api/v1/deployments/moved')).status).toBe(200), { timeout: 10_000 });
      expect((await other.call('GET', '/api/v1/deployments/moved')).json.deployment).toMatchObject({ model_version: '5', status: 'RUNNING' });
    } finally {
      await reporter.stop();
      await proxy.close();
      await other.close();
    }
  });

  it('names deployments after the model, URL-safe', () => {
    expect(deploymentNameFor('models:/fraud@champion')).toBe('fraud');
    expect(deploymentNameFor('models:/fraud/3')).toBe('fraud');
    expect(deploymentNameFor('runs:/abc123/model', null)).toBe('runs-abc123-model');
    expect(deploymentNameFor('/tmp/my model', null)).toBe('tmp-my-model');
    expect(deploymentNameFor('x', 'Fraud Detector')).toBe('Fraud-Detector');
  });
});
