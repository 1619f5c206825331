import { Option, type Command } from 'commander';
import { CliError } from './output.js';
import { createCliLogger } from './cli-logger.js';

interface ServerFlags {
  backendStoreUri: string;
  artifactsDestination: string;
  defaultArtifactRoot?: string;
  host: string;
  allowedHosts?: string;
  port: number;
  serveArtifacts: boolean;
  logLevel: string;
}

export const SERVER_DEFAULTS = {
  backendStoreUri: './flywheel-data/flywheel.db',
  artifactsDestination: './flywheel-data/artifacts',
  host: '127.0.0.1',
  port: 5000,
} as const;

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new CliError(`Invalid port '${value}': expected an integer from 0 to 65535`);
  return port;
}

/** `flywheel server`: MLflow's flag names; flags override FLYWHEEL_* variables, which override the defaults. */
export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('Run the tracking server: MLflow REST API, artifact proxy and UI')
    .addOption(
      new Option('--backend-store-uri <uri>', 'SQLite file path, sqlite: URI or postgresql:// URI')
        .env('FLYWHEEL_BACKEND_STORE_URI')
        .default(SERVER_DEFAULTS.backendStoreUri),
    )
    .addOption(
      new Option('--artifacts-destination <dir>', 'directory the artifact proxy stores artifacts in')
        .env('FLYWHEEL_ARTIFACTS_DESTINATION')
        .default(SERVER_DEFAULTS.artifactsDestination),
    )
    .addOption(
      new Option(
        '--default-artifact-root <uri>',
        'artifact root of new experiments (default mlflow-artifacts:/ with the proxy, else the destination as file://)',
      ).env('FLYWHEEL_DEFAULT_ARTIFACT_ROOT'),
    )
    .addOption(new Option('--host <host>', 'address to listen on (0.0.0.0 for all)').env('FLYWHEEL_HOST').default(SERVER_DEFAULTS.host))
    .addOption(
      new Option('-p, --port <port>', 'port to listen on (0 = any free port)')
        .env('FLYWHEEL_PORT')
        .default(SERVER_DEFAULTS.port)
        .argParser(parsePort),
    )
    .addOption(
      new Option('--allowed-hosts <hosts>', 'comma-separated host names to answer besides the listen address (* for any); guards against DNS rebinding')
        .env('FLYWHEEL_ALLOWED_HOSTS'),
    )
    .option('--serve-artifacts', 'proxy artifact uploads and downloads through the server (default)')
    .option('--no-serve-artifacts', 'do not proxy artifacts; clients then need direct access to the artifact root')
    .addOption(new Option('--log-level <level>', 'log level').env('FLYWHEEL_LOG_LEVEL').default('info')
      .choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']))
    .action(async (flags: ServerFlags) => {
      await runServer({ ...flags, port: typeof flags.port === 'string' ? parsePort(flags.port) : flags.port, serveArtifacts: flags.serveArtifacts ?? true });
    });
}

async function runServer(flags: ServerFlags): Promise<void> {
  const logger = createCliLogger(flags.logLevel);
  const { startServer } = await import('../server/index.js');
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({
      backendStoreUri: flags.backendStoreUri,
      artifactsDestination: flags.artifactsDestination,
      ...(flags.defaultArtifactRoot ? { defaultArtifactRoot: flags.defaultArtifactRoot } : {}),
      host: flags.host,
      port: flags.port,
      serveArtifacts: flags.serveArtifacts,
      logLevel: flags.logLevel,
      ...(flags.allowedHosts ? { allowedHosts: flags.allowedHosts.split(',').map((h) => h.trim()).filter(Boolean) } : {}),
    });
  } catch (e) {
    // A store that cannot be opened or migrated, a port in use: the message says it all; no stack.
    logger.error(`Flywheel could not start: ${(e as Error).message}`);
    throw new CliError((e as Error).message, 1, true);
  }
  logger.info(`Flywheel listening on ${server.url}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopping = true;
    logger.info(`${signal} received, shutting down (send it again to stop at once)`);
    server.close().then(
      () => logger.info('Flywheel stopped'),
      (e: unknown) => {
        logger.error(`shutdown failed: ${(e as Error).message}`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
