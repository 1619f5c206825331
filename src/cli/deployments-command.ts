import type { Command } from 'commander';
import { defaultTrackingUri, isRemoteTrackingUri } from '../client/backend.js';
import { HttpTransport } from '../client/http-transport.js';
import type { DeploymentEventView, DeploymentView } from '../serving/sql-serving-store.js';
import { formatTime, toFields, toJson, toTable, type CliIO } from './output.js';
import { trackingOptions, type TrackingFlags } from './tracking-options.js';

/** What the deployments commands read: the server's `/api/v1/deployments`, or the store directly. */
interface DeploymentSource {
  list(modelName: string | undefined): Promise<DeploymentView[]>;
  get(name: string): Promise<DeploymentView & { history: DeploymentEventView[] }>;
  close(): Promise<void>;
}

async function openSource(uri: string): Promise<DeploymentSource> {
  if (isRemoteTrackingUri(uri)) {
    const http = new HttpTransport({ baseUrl: uri });
    return {
      async list(modelName) {
        const out: DeploymentView[] = [];
        let token: string | undefined;
        do {
          const page = await http.json<{ deployments?: DeploymentView[]; next_page_token?: string }>('GET', '/api/v1/deployments', {
            query: { model_name: modelName, max_results: 1000, page_token: token },
            idempotent: true,
          });
          out.push(...(page.deployments ?? []));
          token = page.next_page_token;
        } while (token);
        return out;
      },
      async get(name) {
        const res = await http.json<{ deployment: DeploymentView & { history: DeploymentEventView[] } }>(
          'GET',
          `/api/v1/deployments/${encodeURIComponent(name)}`,
          { idempotent: true },
        );
        return res.deployment;
      },
      close: async () => {},
    };
  }
  const { openMigratedStore } = await import('../store/index.js');
  const { SqlServingStore } = await import('../serving/sql-serving-store.js');
  const store = await openMigratedStore(uri);
  const serving = new SqlServingStore(store);
  return {
    async list(modelName) {
      const out: DeploymentView[] = [];
      for (let offset = 0; ; offset += 1000) {
        const page = await serving.listDeployments({ offset, limit: 1000, modelName });
        out.push(...page);
        if (page.length < 1000) return out;
      }
    },
    get: (name) => serving.getDeployment(name),
    close: () => store.close(),
  };
}

async function withSource<T>(flags: TrackingFlags, fn: (s: DeploymentSource) => Promise<T>): Promise<T> {
  const source = await openSource(flags.trackingUri ?? defaultTrackingUri());
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

const modelOf = (d: DeploymentView) => d.model_name ?? d.model_uri;

/** `flywheel deployments list|show`. */
export function registerDeploymentCommands(program: Command, io: CliIO): void {
  const deployments = program.command('deployments').description('List and inspect model deployments (served models)');

  trackingOptions(
    deployments.command('list').description('List deployments by name (LOST: no heartbeat for 3 intervals)').option('--model <name>', 'only deployments of this registered model'),
  ).action(async (flags: TrackingFlags & { model?: string }) => {
    const list = await withSource(flags, (s) => s.list(flags.model));
    if (flags.json) return io.stdout(toJson(list));
    io.stdout(
      toTable(
        ['NAME', 'STATUS', 'MODEL', 'VERSION', 'ENDPOINT', 'LAST HEARTBEAT (UTC)'],
        list.map((d) => [d.name, d.status, modelOf(d), d.model_version ?? '', d.endpoint, formatTime(d.last_heartbeat)]),
      ),
    );
  });

  trackingOptions(deployments.command('show').description('Show a deployment and its history').argument('<name>', 'deployment name')).action(
    async (name: string, flags: TrackingFlags) => {
      const d = await withSource(flags, (s) => s.get(name));
      if (flags.json) return io.stdout(toJson(d));
      let text = toFields([
        ['name', d.name],
        ['status', d.status],
        ['model uri', d.model_uri],
        ['model', d.model_name ?? ''],
        ['version', d.model_version ?? ''],
        ['endpoint', d.endpoint],
        ['traffic', d.traffic ? JSON.stringify(d.traffic) : ''],
        ['heartbeat every', `${d.heartbeat_interval_ms / 1000}s`],
        ['last heartbeat (UTC)', formatTime(d.last_heartbeat)],
        ['created (UTC)', formatTime(d.created)],
        ['updated (UTC)', formatTime(d.updated)],
      ]);
      if (d.history.length) {
        text += `\nHISTORY (newest first)\n${toTable(
          ['TIME (UTC)', 'EVENT', 'FROM', 'TO'],
          d.history.map((e) => [formatTime(e.timestamp), e.kind, e.from_version ?? '', e.to_version ?? '']),
        )}`;
      }
      io.stdout(text);
    },
  );
}
