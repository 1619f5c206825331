import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/server/index.js';
import { allowedHostsFor } from '../src/server/host-check.js';

function get(url: string, host: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: '/api/2.0/mlflow/experiments/get?experiment_id=0', headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Host allow-list (DNS rebinding)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flywheel-host-'));
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({
      backendStoreUri: `sqlite:${join(dir, 'f.db')}`,
      artifactsDestination: join(dir, 'artifacts'),
      port: 0,
      logLevel: 'silent',
      allowedHosts: ['flywheel.internal'],
    });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers loopback names and allowed hosts on a loopback server, and refuses others', async () => {
    const port = new URL(server.url).port;
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `flywheel.internal:${port}`, 'LOCALHOST']) {
      expect((await get(server.url, host)).status, host).toBe(200);
    }
    for (const host of [`evil.example:${port}`, 'attacker.test']) {
      const res = await get(server.url, host);
      expect(res.status, host).toBe(403);
      expect(JSON.parse(res.body).error_code).toBe('PERMISSION_DENIED');
    }
  });

  it('answers every host on a public address unless told otherwise', () => {
    expect(allowedHostsFor('0.0.0.0')).toBeUndefined();
    expect(allowedHostsFor('0.0.0.0', ['mlflow.example.com'])).toContain('mlflow.example.com');
    expect(allowedHostsFor('127.0.0.1', ['*'])).toBeUndefined();
    expect(allowedHostsFor('::1')).toEqual(['localhost', '127.0.0.1', '::1']);
  });
});
