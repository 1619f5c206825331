import http from 'node:http';

export interface MetricPoint {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

type Query = Record<string, string | number | string[]>;

/**
 * One client on one keep-alive connection, requests strictly one after another, as a training script or a
 * browser tab talks to the server. node:http rather than fetch: less client overhead per request, so
 * sub-millisecond server latencies stay visible.
 */
export class BenchClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private readonly base: URL;

  constructor(url: string) {
    this.base = new URL(url);
  }

  post(path: string, body: unknown): Promise<any> {
    return this.request('POST', path, typeof body === 'string' ? body : JSON.stringify(body));
  }

  get(path: string, query: Query = {}): Promise<any> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
    return this.request('GET', `${path}?${qs}`);
  }

  close(): void {
    this.agent.destroy();
  }

  private request(method: string, path: string, body?: string): Promise<any> {
    const headers: http.OutgoingHttpHeaders = {};
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    return new Promise((resolve, reject) => {
      const req = http.request(
        { hostname: this.base.hostname, port: this.base.port, path, method, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) return reject(new Error(`${method} ${path} → ${res.statusCode}: ${text.slice(0, 500)}`));
            try {
              resolve(text ? JSON.parse(text) : {});
            } catch (e) {
              reject(e);
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  // The few MLflow calls the benchmarks set up data with.

  async createExperiment(name: string): Promise<string> {
    return (await this.post('/api/2.0/mlflow/experiments/create', { name })).experiment_id;
  }

  async createRun(experimentId: string, runName?: string): Promise<string> {
    const res = await this.post('/api/2.0/mlflow/runs/create', { experiment_id: experimentId, run_name: runName, start_time: Date.now() });
    return res.run.info.run_id;
  }

  async logBatch(runId: string, metrics: MetricPoint[]): Promise<void> {
    await this.post('/api/2.0/mlflow/runs/log-batch', { run_id: runId, metrics });
  }
}

/** `count` points of one metric, steps from `firstStep`, logged in batches of 1000 (the log-batch limit). */
export async function logHistory(client: BenchClient, runId: string, key: string, count: number, firstStep = 0): Promise<void> {
  const t0 = Date.now();
  for (let start = 0; start < count; start += 1000) {
    const metrics: MetricPoint[] = [];
    for (let i = start; i < Math.min(count, start + 1000); i++) {
      const step = firstStep + i;
      metrics.push({ key, value: Math.exp(-step / count) + Math.random() * 0.01, timestamp: t0 + step, step });
    }
    await client.logBatch(runId, metrics);
  }
}

/** A unique experiment name, so benchmarks can share one PostgreSQL database. */
export const experimentName = (bench: string) => `bench-${bench}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
