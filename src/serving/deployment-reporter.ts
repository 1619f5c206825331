import pino from 'pino';
import type { DeploymentInfo, DeploymentReporter } from './contracts.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, SqlServingStore, type DeploymentRegistration } from './sql-serving-store.js';

/**
 * Tells the Flywheel server about a serving process: registers it as a deployment, heartbeats while it
 * runs, reports version switches, and marks it stopped. It never throws into the serving path: a server that
 * is down is logged (once per outage) and tried again at the next heartbeat; a server that forgot the
 * deployment (a 404 on heartbeat) gets a fresh registration.
 */

export interface DeploymentReporterOptions {
  /**
   * `http(s)://…` → the server's `/api/v1/deployments`; a SQLite path, `sqlite:` or `postgresql://` URI → that
   * store directly; unset → nothing is reported (logged once).
   */
  trackingUri?: string;
  /** Default 10 s. The server reports the deployment LOST after 3 intervals without a heartbeat. */
  heartbeatIntervalMs?: number;
  /** Per request; default 10 s. */
  requestTimeoutMs?: number;
  /** Default FLYWHEEL_TRACKING_TOKEN, then MLFLOW_TRACKING_TOKEN. */
  token?: string;
  logger?: ReporterLogger;
  fetch?: typeof fetch;
}

export interface ReporterLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface DeploymentReporterState {
  /** The server has acknowledged the registration (and not forgotten it since). */
  registered: boolean;
  /** Reports that failed (each retried at the next heartbeat). */
  failures: number;
  lastError?: string;
}

export interface DeploymentReporterHandle extends DeploymentReporter {
  state(): DeploymentReporterState;
}

/** What a reporter sends; the HTTP and the embedded-store backends implement it. */
interface DeploymentBackend {
  readonly description: string;
  register(d: DeploymentRegistration): Promise<void>;
  /** Resolves false when the server does not know the deployment (register again). */
  heartbeat(name: string, change: { model_version?: string | null; traffic?: Record<string, unknown> | null }): Promise<boolean>;
  stop(name: string): Promise<void>;
  close(): Promise<void>;
}

/** A deployment name from the served model: its registered name (`models:/fraud@champion` → `fraud`), else the URI; URL-safe. */
export function deploymentNameFor(modelUri: string, modelName?: string | null): string {
  const registered = /^models:\/+([^@/]+)/i.exec(modelUri)?.[1];
  const base = modelName || registered || modelUri;
  const safe = base.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').replace(/-+$/, '').slice(0, 256);
  return safe || 'model';
}

export function createDeploymentReporter(options: DeploymentReporterOptions = {}): DeploymentReporterHandle {
  const logger = options.logger ?? pino({ name: 'flywheel-deployment' }, pino.destination(2));
  const uri = options.trackingUri;
  const backend = !uri ? undefined : /^https?:\/\//i.test(uri) ? httpBackend(uri, options) : storeBackend(uri);
  return new Reporter(backend, options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS, logger);
}

class Reporter implements DeploymentReporterHandle {
  private info?: DeploymentInfo;
  private registered = false;
  private stopped = false;
  private failures = 0;
  private lastError?: string;
  private failing = false;
  /** A version/traffic change not yet acknowledged: sent with the next heartbeat. */
  private pending: { model_version?: string | null; traffic?: Record<string, unknown> | null } = {};
  private timer?: NodeJS.Timeout;
  /** Reports run one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly backend: DeploymentBackend | undefined,
    private readonly intervalMs: number,
    private readonly logger: ReporterLogger,
  ) {}

  state(): DeploymentReporterState {
    return { registered: this.registered, failures: this.failures, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  start(info: DeploymentInfo): Promise<void> {
    this.info = { ...info };
    this.stopped = false;
    if (!this.backend) {
      this.logger.info({ deployment: info.name }, 'no tracking URI: the deployment is not registered with a Flywheel server');
      return Promise.resolve();
    }
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.enqueue(() => this.beat()), this.intervalMs);
    this.timer.unref();
    return this.enqueue(() => this.register());
  }

  update(change: Partial<Pick<DeploymentInfo, 'modelVersion' | 'traffic'>>): Promise<void> {
    if (!this.info) return Promise.resolve();
    // A new object each time: a report in flight knows whether what it sent is still the latest.
    if (change.modelVersion !== undefined) {
      this.info.modelVersion = change.modelVersion;
      this.pending = { ...this.pending, model_version: change.modelVersion };
    }
    if (change.traffic !== undefined) {
      this.info.traffic = change.traffic;
      this.pending = { ...this.pending, traffic: change.traffic };
    }
    if (!this.backend || this.stopped) return Promise.resolve();
    return this.enqueue(() => this.beat());
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (!this.backend || !this.info || this.stopped) return Promise.resolve();
    this.stopped = true;
    const name = this.info.name;
    return this.enqueue(async () => {
      await this.backend!.stop(name);
      this.registered = false;
    }).then(() => this.backend!.close().catch(() => {}));
  }

  /** Runs `op` after the ones before it; a failure is logged and counted, never thrown. */
  private enqueue(op: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(async () => {
      try {
        await op();
        if (this.failing) this.logger.info({ deployment: this.info?.name }, 'deployment reporting works again');
        this.failing = false;
        this.lastError = undefined;
      } catch (e) {
        this.failures++;
        this.lastError = (e as Error)?.message ?? String(e);
        // Once per outage: a down server does not fill the log with a line per heartbeat.
        if (!this.failing) {
          this.logger.warn(
            { deployment: this.info?.name, server: this.backend?.description, err: this.lastError },
            'deployment report failed; retrying at every heartbeat',
          );
        }
        this.failing = true;
      }
    });
    return this.chain;
  }

  private async register(): Promise<void> {
    const info = this.info;
    if (!info || this.stopped) return;
    const sent = this.pending;
    await this.backend!.register({
      name: info.name,
      model_uri: info.modelUri,
      model_name: info.modelName,
      model_version: info.modelVersion,
      endpoint: info.endpoint,
      traffic: info.traffic ?? null,
      heartbeat_interval_ms: this.intervalMs,
    });
    this.registered = true;
    // The registration carried the current version and traffic (unless they changed meanwhile).
    if (this.pending === sent) this.pending = {};
  }

  private async beat(): Promise<void> {
    if (!this.info || this.stopped) return;
    if (!this.registered) return this.register();
    const change = this.pending;
    const known = await this.backend!.heartbeat(this.info.name, change);
    if (!known) {
      this.registered = false;
      return this.register();
    }
    if (this.pending === change) this.pending = {};
  }
}

class NotFoundError extends Error {}

function httpBackend(baseUrl: string, options: DeploymentReporterOptions): DeploymentBackend {
  const base = `${baseUrl.replace(/\/+$/, '')}/api/v1/deployments`;
  const fetchImpl = options.fetch ?? fetch;
  const token = options.token ?? process.env.FLYWHEEL_TRACKING_TOKEN ?? process.env.MLFLOW_TRACKING_TOKEN;
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const post = async (path: string, body: unknown) => {
    const res = await fetchImpl(`${base}${path}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.requestTimeoutMs ?? 10_000),
    });
    const text = await res.text().catch(() => '');
    if (res.status === 404) throw new NotFoundError(text);
    if (!res.ok) throw new Error(`${base}${path} answered ${res.status}: ${text.slice(0, 300)}`);
  };
  return {
    description: baseUrl,
    async register(d) {
      const { heartbeat_interval_ms, ...rest } = d;
      await post('', { ...rest, heartbeat_interval_seconds: heartbeat_interval_ms / 1000 });
    },
    async heartbeat(name, change) {
      try {
        await post(`/${encodeURIComponent(name)}/heartbeat`, change);
        return true;
      } catch (e) {
        if (e instanceof NotFoundError) return false;
        throw e;
      }
    },
    async stop(name) {
      try {
        await post(`/${encodeURIComponent(name)}/stop`, {});
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
    },
    close: async () => {},
  };
}

/** Reports into a store directly (embedded: no server), opened at the first report. */
function storeBackend(uri: string): DeploymentBackend {
  let opened: Promise<{ serving: SqlServingStore; close(): Promise<void> }> | undefined;
  const get = () =>
    (opened ??= (async () => {
      const { openMigratedStore } = await import('../store/index.js');
      const store = await openMigratedStore(uri);
      return { serving: new SqlServingStore(store), close: () => store.close() };
    })().catch((e: unknown) => {
      opened = undefined;
      throw e;
    }));
  return {
    description: uri.replace(/\/\/[^@/]*@/, '//***@'),
    async register(d) {
      await (await get()).serving.registerDeployment(d);
    },
    async heartbeat(name, change) {
      try {
        await (await get()).serving.heartbeat(name, change);
        return true;
      } catch (e) {
        if ((e as { code?: string }).code === 'RESOURCE_DOES_NOT_EXIST') return false;
        throw e;
      }
    },
    async stop(name) {
      await (await get()).serving.stopDeployment(name).catch((e: unknown) => {
        if ((e as { code?: string }).code !== 'RESOURCE_DOES_NOT_EXIST') throw e;
      });
    },
    async close() {
      const o = opened;
      opened = undefined;
      if (o) await (await o.catch(() => undefined))?.close();
    },
  };
}
