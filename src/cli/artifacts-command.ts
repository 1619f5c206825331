import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { PruneEntry, PruneResult } from '../pipelines/artifact-admin.js';
import { CliError, formatTime, toFields, toJson, toTable, type CliIO } from './output.js';
import { Flywheel } from '../client/index.js';
import { defaultTrackingUri } from '../client/backend.js';
import { trackingOptions, type TrackingFlags } from './tracking-options.js';

interface ArtifactFlags extends TrackingFlags {
  artifactRoot?: string;
}

/** The tracking options plus, for an embedded store, where its artifact files are (as `pipeline run` takes it). */
function artifactOptions(cmd: Command): Command {
  return trackingOptions(cmd).option(
    '--artifact-root <dir>',
    'embedded store only: where artifact versions are stored (default: FLYWHEEL_ARTIFACTS_DESTINATION, else artifacts/ beside the SQLite file)',
  );
}

/** Runs `fn` with a client for `--tracking-uri` (and `--artifact-root`), then closes it. */
async function withClient<T>(flags: ArtifactFlags, fn: (client: Flywheel) => Promise<T>): Promise<T> {
  const client = await Flywheel.connect({
    trackingUri: flags.trackingUri ?? defaultTrackingUri(),
    ...(flags.artifactRoot ? { artifactsDestination: flags.artifactRoot } : {}),
  });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** `1.5 MB`, `512 B`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const nonNegativeInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got '${v}'`);
  return n;
};

/** `<name>:<version>` as the CLI and SDK write it. */
const label = (v: { name: string; version: number }) => `${v.name}:${v.version}`;

function pruneLines(title: string, entries: PruneEntry[]): string {
  if (!entries.length) return '';
  return `${title}\n${entries.map((e) => `  ${label(e)}  ${e.id}  ${formatBytes(e.size)}  ${e.reasons.join('; ')}`).join('\n')}\n`;
}

function pruneReport(r: PruneResult): string {
  const verb = r.dry_run ? 'Would delete' : 'Deleted';
  let text = pruneLines(`${r.dry_run ? 'WOULD DELETE' : 'DELETED'} (${r.deleted.length})`, r.deleted);
  text += pruneLines(`KEPT (${r.kept.length})`, r.kept);
  text += `${verb} ${r.deleted.length} artifact version(s) and ${r.removed_blobs.length} stored content(s), ${formatBytes(r.freed_bytes)}; kept ${r.kept.length}.\n`;
  return text;
}

/** `flywheel artifacts list|show|download|prune`. */
export function registerArtifactCommands(program: Command, io: CliIO): void {
  const artifacts = program.command('artifacts').description('List, inspect, download and prune artifact versions (pipeline outputs and saved artifacts)');

  artifactOptions(
    artifacts
      .command('list')
      .description('List artifacts, each with its latest version')
      .option('--name <prefix>', 'only names starting with this prefix'),
  ).action(async (flags: ArtifactFlags & { name?: string }) => {
    const list = await withClient(flags, async (c) => (await c.pipelines()).listArtifacts({ prefix: flags.name }));
    if (flags.json) return io.stdout(toJson(list));
    io.stdout(
      toTable(
        ['NAME', 'LATEST', 'VERSIONS', 'TYPE', 'SIZE', 'CREATED (UTC)', 'ID'],
        list.map((a) => [
          a.name,
          a.latest_version.version,
          a.version_count,
          a.latest_version.type,
          formatBytes(a.latest_version.size),
          formatTime(a.latest_version.created),
          a.latest_version.id,
        ]),
      ),
    );
  });

  artifactOptions(
    artifacts
      .command('show')
      .description('Show an artifact version: metadata, producer, consumers, visualizations')
      .argument('<artifact>', 'name (latest version), name:version, or artifact version id'),
  ).action(async (ref: string, flags: ArtifactFlags) => {
    const { version, visualizations } = await withClient(flags, async (c) => {
      const client = await c.pipelines();
      const v = await client.getArtifactVersion(ref);
      return { version: v, visualizations: await client.visualizations(v.id) };
    });
    if (flags.json) return io.stdout(toJson({ ...version, visualizations }));
    const { visualizations: _v, ...metadata } = (version.metadata ?? {}) as Record<string, unknown>;
    const producer = version.producer;
    let text = toFields([
      ['id', version.id],
      ['name', version.name],
      ['version', version.version],
      ['type', version.type],
      ['materializer', version.materializer],
      ['size', `${formatBytes(version.size)} (${version.size} bytes)`],
      ['content hash', version.content_hash],
      ['stored at', version.uri],
      ['created (UTC)', formatTime(version.created)],
      ['producer', producer ? `step '${producer.step_name}' (step run ${producer.id}, pipeline run ${producer.pipeline_run_id}, ${producer.status})` : 'saved outside a pipeline'],
    ]);
    if (Object.keys(metadata).length) text += `\nMETADATA\n${toTable(['KEY', 'VALUE'], Object.entries(metadata).map(([k, v]) => [k, JSON.stringify(v)]))}`;
    text += version.consumers.length
      ? `\nCONSUMERS\n${toTable(['STEP', 'STEP RUN', 'PIPELINE RUN', 'STATUS'], version.consumers.map((s) => [s.step_name, s.id, s.pipeline_run_id, s.status]))}`
      : '\nCONSUMERS\n(none)\n';
    text += visualizations.length
      ? `\nVISUALIZATIONS\n${toTable(['#', 'KIND', 'TYPE', 'TITLE'], visualizations.map((v) => [v.index, v.kind, v.mime_type ?? (v.kind === 'html' ? 'text/html (sandboxed)' : ''), v.title]))}`
      : '\nVISUALIZATIONS\n(none)\n';
    io.stdout(text);
  });

  artifactOptions(
    artifacts
      .command('download')
      .description("Download an artifact version's files (checked against its content hash)")
      .argument('<artifact>', 'name (latest version), name:version, or artifact version id')
      .option('-o, --output <dir>', 'directory to write the files into (default: ./<name>-v<version>)'),
  ).action(async (ref: string, flags: ArtifactFlags & { output?: string }) => {
    const result = await withClient(flags, async (c) => {
      const client = await c.pipelines();
      const v = await client.getArtifactVersion(ref);
      const dir = resolve(flags.output ?? `${v.name.replace(/\//g, '_')}-v${v.version}`);
      return client.downloadArtifact(v.id, undefined, dir);
    });
    if (flags.json) return io.stdout(toJson({ artifact_version: result.artifact_version, dir: result.dir, files: result.files }));
    const v = result.artifact_version;
    io.stdout(`Downloaded ${label(v)} (${result.files.length} file(s), ${formatBytes(v.size)}) to ${result.dir}\n`);
  });

  artifactOptions(
    artifacts
      .command('prune')
      .description(
        'Delete artifact versions (and their stored files) that no registered model version and no kept run uses. ' +
          'Kept runs: the latest --keep-last runs of each pipeline and every running one; artifacts saved outside ' +
          'pipelines keep their latest --keep-last versions.',
      )
      .option('--dry-run', 'show what would be deleted; change nothing')
      .option('--keep-last <n>', 'runs of each pipeline (and versions of each saved artifact) to keep', nonNegativeInt, 5)
      .option('--older-than <duration>', 'delete only versions older than this (e.g. 30d, 12h, 1d12h)')
      .option('-y, --yes', 'delete without asking (required unless --dry-run)'),
  ).action(async (flags: ArtifactFlags & { dryRun?: boolean; keepLast: number; olderThan?: string; yes?: boolean }) => {
    const { parseDuration } = await import('../pipelines/artifact-admin.js');
    const olderThanMs = flags.olderThan !== undefined ? parseDuration(flags.olderThan) : undefined;
    const dryRun = flags.dryRun === true || flags.yes !== true;
    const result = await withClient(flags, async (c) =>
      (await c.pipelines()).pruneArtifacts({ keepLast: flags.keepLast, olderThanMs, dryRun }),
    );
    if (flags.json) io.stdout(toJson(result));
    else io.stdout(pruneReport(result));
    if (!flags.dryRun && !flags.yes && result.deleted.length) {
      throw new CliError('Nothing was deleted: pass --yes to delete the versions listed above (or --dry-run to only show them).', 1);
    }
  });
}
