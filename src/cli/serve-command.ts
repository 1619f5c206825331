/**
 * `flywheel models serve`: one model URI behind MLflow's scoring protocol and the Open Inference Protocol v2.
 * With `--workers N` the process forks N workers (node:cluster) that share the port, each with its own model.
 */
import cluster from 'node:cluster';
import { Option, type Command } from 'commander';
import type { Logger } from 'pino';
import { defaultTrackingUri } from '../client/backend.js';
import { createCliLogger } from './cli-logger.js';
import { CliError } from './output.js';

interface ServeFlags {
  modelUri: string;
  host: string;
  port: number;
  workers: number;
  maxBatchSize: number;
  maxBatchWaitMs: number;
  pollIntervalMs: number;
  bodyLimitMb: number;
  trackingUri?: string;
  allowJs?: boolean;
  logLevel: string;
  deploymentName?: string;
  publicUrl?: string;
  inferenceLog: boolean;
  inferenceLogFile?: string;
  report: boolean;
  challenger?: string;
  challengerWeight: number;
  shadow?: string;
  metricsPort?: number;
}

const int = (min: number, what: string) => (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new CliError(`Invalid ${what} '${value}': expected an integer ≥ ${min}`);
  return n;
};

/** Where the server listens is printed even at --log-level warn (scripts wait for it); only 'silent' hides it. */
const announce = (logger: Logger, level: string): Logger => (level === 'silent' ? logger : logger.child({}, { level: 'info' }));

/** Adds `serve` to the `models` command. */
export function registerServeCommand(models: Command): void {
  models
    .command('serve')
    .description('Serve a model over HTTP: MLflow scoring protocol (/invocations) and Open Inference Protocol v2, with batching, metrics and hot swap when an alias moves')
    .requiredOption('-m, --model-uri <uri>', 'models:/<name>@<alias> (followed when it moves), models:/<name>/<version>, runs:/<run_id>/<path>, or a model directory')
    .addOption(new Option('--host <host>', 'address to listen on (0.0.0.0 for all)').env('FLYWHEEL_SERVE_HOST').default('127.0.0.1'))
    .addOption(new Option('-p, --port <port>', 'port to listen on (0 = any free port)').env('FLYWHEEL_SERVE_PORT').default(8080).argParser(int(0, 'port')))
    .addOption(new Option('--workers <n>', 'worker processes sharing the port, each with its own copy of the model').default(1).argParser(int(1, 'worker count')))
    .addOption(new Option('--max-batch-size <rows>', 'rows per model call when concurrent requests are batched').default(256).argParser(int(1, 'batch size')))
    .addOption(new Option('--max-batch-wait-ms <ms>', 'how long a request waits for others to batch with (0 = only those already arrived)').default(0).argParser(int(0, 'wait')))
    .addOption(new Option('--poll-interval-ms <ms>', 'how often an alias is checked for a move (0 = never)').default(5000).argParser(int(0, 'interval')))
    .addOption(new Option('--body-limit-mb <mb>', 'largest request body accepted (larger: 413)').default(50).argParser(int(1, 'body limit')))
    .addOption(
      new Option(
        '--tracking-uri <uri>',
        `registry for models:/ URIs, inference log and deployment: server URL or store; default FLYWHEEL_TRACKING_URI, MLFLOW_TRACKING_URI, else ${defaultTrackingUri({})}`,
      ),
    )
    .option('--challenger <uri>', 'traffic split: a second model answering --challenger-weight of the requests (labelled in metrics and the inference log)')
    .addOption(new Option('--challenger-weight <share>', 'share of requests (0–1) the challenger answers').default(0.1).argParser((v) => {
      const n = Number(v);
      if (!(n >= 0 && n <= 1) || v.trim() === '') throw new CliError(`Invalid challenger weight '${v}': expected a number from 0 to 1`);
      return n;
    }))
    .option('--shadow <uri>', 'shadow mode: also run every request on this model; its answers are logged, never returned')
    .addOption(new Option('--metrics-port <port>', 'with --workers > 1: the primary serves the sum of all workers’ /metrics on this port').argParser(int(0, 'port')))
    .option('--allow-js', 'allow running a js flavor model’s code (never for untrusted models)')
    .option('--public-url <url>', 'the URL clients reach this server at, as the deployment reports it (default: the listen address)')
    .option('--deployment-name <name>', 'name this deployment registers under (default: the model name)')
    .option('--no-inference-log', 'do not record predictions in the inference log')
    .option('--inference-log-file <path>', 'write the inference log to this JSONL file instead of the tracking URI')
    .option('--no-report', 'do not register this server as a deployment')
    .addOption(new Option('--log-level <level>', 'log level (info: one line per request)').env('FLYWHEEL_LOG_LEVEL').default('info')
      .choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']))
    .action(async (flags: ServeFlags) => {
      if (flags.workers > 1 && cluster.isPrimary) return runPrimary(flags);
      return runWorker(flags);
    });
}

/** Forks the workers, restarts one that dies while serving, and stops them all on SIGINT/SIGTERM. */
async function runPrimary(flags: ServeFlags): Promise<void> {
  const logger = createCliLogger(flags.logLevel);
  let listening = 0;
  let stopping = false;
  let url: string | undefined;
  // Worker slot of each process (slot 1 reports the deployment), so a replacement takes over its slot.
  const slots = new Map<number, string>();
  let restarts: number[] = [];
  const fork = (slot: string) => slots.set(cluster.fork({ FLYWHEEL_SERVE_WORKER_ID: slot }).id, slot);
  const started = new Promise<void>((resolve, reject) => {
    cluster.on('message', (_worker, msg: { type?: string; url?: string }) => {
      if (msg?.type !== 'flywheel-serving') return;
      url ??= msg.url;
      if (++listening === flags.workers) resolve();
    });
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      if (listening < flags.workers) {
        reject(new CliError(`a worker exited (${code ?? signal}) before serving; see its error above`, 1, true));
        return;
      }
      const now = Date.now();
      restarts = restarts.filter((t) => now - t < 60_000).concat(now);
      if (restarts.length > 10) {
        logger.error(`workers keep dying (${restarts.length} in a minute); stopping`);
        stopping = true;
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
        process.exitCode = 1;
        return;
      }
      logger.error(`worker ${worker.process.pid} died (${code ?? signal}); starting another`);
      fork(slots.get(worker.id) ?? '0');
    });
  });
  for (let i = 0; i < flags.workers; i++) fork(String(i + 1));
  const stopAll = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };
  try {
    await started;
  } catch (e) {
    stopAll();
    throw e;
  }
  if (flags.metricsPort !== undefined) await serveClusterMetrics(flags, logger);
  announce(logger, flags.logLevel).info(`Flywheel serving ${flags.modelUri} with ${flags.workers} workers, listening on ${url}`);
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    logger.info(`${signal} received, stopping the workers`);
    stopAll();
    let alive = Object.keys(cluster.workers ?? {}).length;
    if (alive === 0) process.exit(0);
    cluster.on('exit', () => {
      if (--alive === 0) process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** The primary's `/metrics`: every worker's metrics, summed. */
async function serveClusterMetrics(flags: ServeFlags, logger: Logger): Promise<void> {
  const { createServer } = await import('node:http');
  const { clusterRegistry } = await import('../serving/metrics.js');
  const registry = clusterRegistry();
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics here\n');
      return;
    }
    registry.clusterMetrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(flags.metricsPort, flags.host, resolve));
  server.unref();
  const { port } = server.address() as { port: number };
  announce(logger, flags.logLevel).info(`metrics of all workers on http://${flags.host}:${port}/metrics`);
}

async function runWorker(flags: ServeFlags): Promise<void> {
  // A line per request at info: written asynchronously so logging never holds up a prediction.
  const logger = createCliLogger(flags.logLevel, process.stdout, { async: true });
  const trackingUri = flags.trackingUri ?? defaultTrackingUri();
  // In a cluster only worker 1 registers the deployment; every worker records its own predictions.
  const workerId = process.env.FLYWHEEL_SERVE_WORKER_ID;
  const reports = flags.report && (!cluster.isWorker || workerId === '1');
  const { startServing } = await import('../serving/index.js');
  const { createInferenceLogSink } = await import('../serving/inference-log.js');
  const { createDeploymentReporter, deploymentNameFor } = await import('../serving/deployment-reporter.js');
  const sink = flags.inferenceLog
    ? createInferenceLogSink({ trackingUri: flags.inferenceLogFile ? undefined : trackingUri, file: flags.inferenceLogFile, logger })
    : undefined;
  const reporter = reports ? createDeploymentReporter({ trackingUri, logger }) : undefined;
  let server: Awaited<ReturnType<typeof startServing>>;
  try {
    server = await startServing({
      modelUri: flags.modelUri,
      trackingUri,
      host: flags.host,
      port: flags.port,
      maxBatchSize: flags.maxBatchSize,
      maxBatchWaitMs: flags.maxBatchWaitMs,
      pollIntervalMs: flags.pollIntervalMs,
      bodyLimitBytes: flags.bodyLimitMb * 1024 * 1024,
      allowJs: flags.allowJs ?? false,
      logger: logger as Logger,
      sink,
      reporter,
      deploymentName: flags.deploymentName ?? deploymentNameFor(flags.modelUri),
      publicUrl: flags.publicUrl,
      challengerUri: flags.challenger,
      challengerWeight: flags.challengerWeight,
      shadowUri: flags.shadow,
    });
  } catch (e) {
    await sink?.close().catch(() => undefined);
    const message = (e as Error).message;
    logger.error(`Flywheel could not serve ${flags.modelUri}: ${message}`);
    throw new CliError(message, 1, true);
  }
  const version = server.model.identity.version;
  if (cluster.isWorker) {
    const { shareWithPrimary } = await import('../serving/metrics.js');
    shareWithPrimary(server.metrics);
  }
  if (cluster.isWorker) process.send?.({ type: 'flywheel-serving', url: server.url });
  else announce(logger, flags.logLevel).info(`Flywheel serving ${flags.modelUri}${version ? ` (version ${version})` : ''}, listening on ${server.url}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopping = true;
    logger.info(`${signal} received, draining requests and shutting down (send it again to stop at once)`);
    server.close().then(
      () => {
        logger.info('Flywheel serving stopped');
        process.exit(0);
      },
      (e: unknown) => {
        logger.error(`shutdown failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
