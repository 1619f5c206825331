import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel } from '../src/index.js';

const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;

/** The environment of the child, without FLYWHEEL_* settings of whoever runs the tests. */
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLYWHEEL_')));

function flywheel(args: string[], cwd?: string) {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves with the URL of the "Flywheel listening on …" line; rejects if the process exits first. */
function listeningUrl(child: ReturnType<typeof flywheel>): Promise<string> {
  let output = '';
  child.stderr.on('data', (c) => (output += c));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      output += `${line}\n`;
      const m = /Flywheel listening on (http:\/\/[^\s"]+)/.exec(line);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${output}`)));
  });
}

const exitOf = (child: ReturnType<typeof flywheel>) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));

describe('flywheel (as a process)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-cli-proc-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints --help and --version', () => {
    const help = spawnSync(process.execPath, ['--import', 'tsx', MAIN, '--help'], { encoding: 'utf8', env: cleanEnv() });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: flywheel');
    const version = spawnSync(process.execPath, ['--import', 'tsx', MAIN, '--version'], { encoding: 'utf8', env: cleanEnv() });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('server starts, answers /health and the API, and stops cleanly on SIGTERM', async () => {
    const store = join(dir, 'srv', 'flywheel.db');
    const child = flywheel(['server', '--backend-store-uri', store, '--artifacts-destination', join(dir, 'srv', 'artifacts'), '--port', '0']);
    const exited = exitOf(child);
    try {
      const url = await listeningUrl(child);
      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
      expect(await health.text()).toBe('OK');
      const fw = await Flywheel.connect(url);
      expect((await fw.getExperiment('0')).name).toBe('Default');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toEqual({ code: 0, signal: null });
  });

  it('server takes its settings from FLYWHEEL_* variables', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'server'], {
      env: {
        ...cleanEnv(),
        FLYWHEEL_BACKEND_STORE_URI: join(dir, 'env', 'flywheel.db'),
        FLYWHEEL_ARTIFACTS_DESTINATION: join(dir, 'env', 'artifacts'),
        FLYWHEEL_HOST: '127.0.0.1',
        FLYWHEEL_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = exitOf(child);
    try {
      const url = await listeningUrl(child);
      expect((await fetch(`${url}/health`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    await exited;
    const fw = await Flywheel.connect(join(dir, 'env', 'flywheel.db'));
    expect((await fw.getExperiment('0')).name).toBe('Default');
    await fw.close();
  });

  it('server exits 1 with a clear message, no stack, when a migration cannot run', async () => {
    const store = join(dir, 'future.db');
    expect(spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'db', 'upgrade', store], { env: cleanEnv() }).status).toBe(0);
    const sqlite = new BetterSqlite3(store);
    sqlite.prepare('INSERT INTO flywheel_migrations (name, timestamp) VALUES (?, ?)').run('999-from-the-future', new Date().toISOString());
    sqlite.close();

    const child = flywheel(['server', '--backend-store-uri', store, '--artifacts-destination', join(dir, 'fa'), '--port', '0']);
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const { code } = await exitOf(child);
    expect(code).toBe(1);
    expect(output).toMatch(/Flywheel could not start: .*cannot be migrated/);
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('server exits 1 when the store cannot be opened', async () => {
    const notAFile = join(dir, 'a-directory');
    mkdirSync(notAFile);
    const child = flywheel(['server', '--backend-store-uri', notAFile, '--artifacts-destination', join(dir, 'fb'), '--port', '0']);
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const { code } = await exitOf(child);
    expect(code).toBe(1);
    expect(output).toContain('Flywheel could not start');
    expect(output).not.toMatch(/\n\s+at /);
  });
});
