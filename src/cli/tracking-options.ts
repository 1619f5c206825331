import { Option, type Command } from 'commander';
import { Flywheel } from '../client/index.js';
import { defaultTrackingUri } from '../client/backend.js';

export interface TrackingFlags {
  trackingUri?: string;
  json?: boolean;
}

/** The options every tracking command takes: where to connect, and JSON instead of a table. */
export function trackingOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--tracking-uri <uri>',
        'server URL (http://…) or store (SQLite path, sqlite:, postgresql://); default FLYWHEEL_TRACKING_URI, ' +
          `MLFLOW_TRACKING_URI, else ${defaultTrackingUri({})}`,
      ),
    )
    .option('--json', 'print JSON instead of a table');
}

/** Runs `fn` with a client for `--tracking-uri`, then closes it (an embedded store must be closed). */
export async function withClient<T>(flags: TrackingFlags, fn: (client: Flywheel) => Promise<T>): Promise<T> {
  const client = await Flywheel.connect({ trackingUri: flags.trackingUri ?? defaultTrackingUri() });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** `--view active|deleted|all`, shared by the list commands. */
export const viewOption = (what: string) =>
  new Option('--view <view>', `which ${what} to show`).choices(['active', 'deleted', 'all']).default('active');

/** MLflow's view type for a `--view` value. */
export function viewType(view: string | undefined): 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL' {
  return view === 'deleted' ? 'DELETED_ONLY' : view === 'all' ? 'ALL' : 'ACTIVE_ONLY';
}

/** Collects repeated `--tag key=value` flags into a record. */
export const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${v}'`);
  return n;
};

export function collectTag(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error(`Invalid tag '${value}': expected key=value`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}
