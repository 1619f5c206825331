import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { defaultTrackingUri } from '../client/backend.js';
import type { ModelInput } from '../models/signature.js';
import type { ModelVersion, PromotionEvent, RegisteredModel } from '../registry/entities.js';
import { CliError, formatTime, toJson, toTable, type CliIO } from './output.js';
import { trackingOptions, withClient, type TrackingFlags } from './tracking-options.js';
import { registerServeCommand } from './serve-command.js';

/** `--tracking-uri` alone, for the commands whose output is not a table. */
function trackingUriOption(cmd: Command): Command {
  return cmd.addOption(
    new Option(
      '--tracking-uri <uri>',
      'server URL (http://…) or store (SQLite path, sqlite:, postgresql://); default FLYWHEEL_TRACKING_URI, ' +
        `MLFLOW_TRACKING_URI, else ${defaultTrackingUri({})}`,
    ),
  );
}

/** A string literal for an MLflow filter. */
const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

const aliasesOf = (m: RegisteredModel) => (m.aliases ?? []).map((a) => `${a.alias}=${a.version}`).join(', ');
const latestOf = (m: RegisteredModel) =>
  (m.latest_versions ?? [])
    .slice()
    .sort((a, b) => Number(b.version) - Number(a.version))
    .map((v) => `${v.version} (${v.current_stage})`)
    .join(', ');

/**
 * The rows of a predict input file: a list of records, or MLflow's scoring shapes
 * (`dataframe_split`, `dataframe_records`, `inputs`, `instances`), or a bare `{columns, data}` frame.
 */
export function parsePredictInput(value: unknown): ModelInput {
  if (Array.isArray(value)) return value;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = ['dataframe_split', 'dataframe_records', 'inputs', 'instances'].filter((k) => k in obj);
    if (keys.length > 1) throw new CliError(`Input has more than one of ${keys.join(', ')}: give exactly one`);
    if ('dataframe_split' in obj) {
      const split = obj.dataframe_split as Record<string, unknown> | null;
      if (!split || typeof split !== 'object' || !Array.isArray(split.data)) {
        throw new CliError("'dataframe_split' must be an object with 'columns' and 'data'");
      }
      if (!Array.isArray(split.columns)) {
        throw new CliError("'dataframe_split' needs 'columns' (the model takes named columns)");
      }
      return { columns: split.columns as string[], data: split.data as unknown[][] };
    }
    if ('dataframe_records' in obj) {
      if (!Array.isArray(obj.dataframe_records)) throw new CliError("'dataframe_records' must be a list of records");
      return obj.dataframe_records as ModelInput;
    }
    for (const k of ['inputs', 'instances']) {
      if (k in obj) {
        const v = obj[k];
        if (!v || typeof v !== 'object') throw new CliError(`'${k}' must be a list or an object of lists`);
        return v as ModelInput;
      }
    }
    if (Array.isArray(obj.columns) && Array.isArray(obj.data)) return { columns: obj.columns as string[], data: obj.data as unknown[][] };
  }
  throw new CliError(
    'Unrecognized input: expected a list of records, or an object with dataframe_split, dataframe_records, inputs or instances',
  );
}

async function readInputFile(path: string): Promise<ModelInput> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `Input file '${path}' does not exist` : `Cannot read input file '${path}': ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`Input file '${path}' is not valid JSON: ${(e as Error).message}`);
  }
  return parsePredictInput(parsed);
}

/** `flywheel models list|versions|alias set|delete|rollback|history|download|predict`. */
export function registerModelCommands(program: Command, io: CliIO): void {
  const models = program.command('models').description('List registered models and versions, move aliases, download and run models');

  trackingOptions(
    models
      .command('list')
      .alias('search')
      .description('List registered models: latest versions, aliases, last update')
      .option('--filter <filter>', "MLflow filter, e.g. \"name LIKE 'price%'\""),
  ).action(async (flags: TrackingFlags & { filter?: string }) => {
    const list = await withClient(flags, async (c) => {
      const out: RegisteredModel[] = [];
      let pageToken: string | undefined;
      do {
        const page = await c.searchRegisteredModels({ filter: flags.filter, pageToken });
        out.push(...page.items);
        pageToken = page.next_page_token || undefined;
      } while (pageToken);
      return out;
    });
    if (flags.json) return io.stdout(toJson(list));
    io.stdout(
      toTable(
        ['NAME', 'LATEST VERSIONS', 'ALIASES', 'UPDATED (UTC)'],
        list.map((m) => [m.name, latestOf(m), aliasesOf(m), formatTime(m.last_updated_timestamp)]),
      ),
    );
  });

  trackingOptions(models.command('versions').description('List the versions of a registered model (newest first)').argument('<name>', 'registered model name')).action(
    async (name: string, flags: TrackingFlags) => {
      const versions = await withClient(flags, async (c) => {
        await c.getRegisteredModel(name); // a clear error for an unknown model
        const registry = await c.registry();
        const out: ModelVersion[] = [];
        let pageToken: string | undefined;
        do {
          const page = await registry.searchModelVersions({ filter: `name = ${quote(name)}`, page_token: pageToken });
          out.push(...page.items);
          pageToken = page.next_page_token || undefined;
        } while (pageToken);
        return out.sort((a, b) => Number(b.version) - Number(a.version));
      });
      if (flags.json) return io.stdout(toJson(versions));
      io.stdout(
        toTable(
          ['VERSION', 'STAGE', 'ALIASES', 'RUN ID', 'SOURCE', 'CREATED (UTC)'],
          versions.map((v) => [v.version, v.current_stage, (v.aliases ?? []).join(', '), v.run_id, v.source, formatTime(v.creation_timestamp)]),
        ),
      );
    },
  );

  const alias = models.command('alias').description('Set, delete or roll back a model alias (kept in the promotion history)');
  trackingOptions(
    alias
      .command('set')
      .description('Point an alias at a version (moving it if set)')
      .argument('<name>', 'registered model name')
      .argument('<alias>', 'alias, e.g. champion')
      .argument('<version>', 'model version')
      .option('--reason <text>', 'why (kept in the promotion history)'),
  ).action(async (name: string, aliasName: string, version: string, flags: TrackingFlags & { reason?: string }) => {
    await withClient(flags, (c) => c.setAlias(name, aliasName, version, { reason: flags.reason }));
    io.stdout(flags.json ? toJson({ name, alias: aliasName, version }) : `Set alias '${aliasName}' of '${name}' to version ${version}\n`);
  });
  trackingOptions(
    alias
      .command('delete')
      .description('Delete an alias')
      .argument('<name>', 'registered model name')
      .argument('<alias>', 'alias')
      .option('--reason <text>', 'why (kept in the promotion history)'),
  ).action(async (name: string, aliasName: string, flags: TrackingFlags & { reason?: string }) => {
    await withClient(flags, (c) => c.deleteAlias(name, aliasName, { reason: flags.reason }));
    io.stdout(flags.json ? toJson({}) : `Deleted alias '${aliasName}' of '${name}'\n`);
  });
  trackingOptions(
    alias
      .command('rollback')
      .description('Point an alias back at the version it pointed to before its last move')
      .argument('<name>', 'registered model name')
      .argument('<alias>', 'alias')
      .option('--reason <text>', 'why (kept in the promotion history)'),
  ).action(async (name: string, aliasName: string, flags: TrackingFlags & { reason?: string }) => {
    const v = await withClient(flags, (c) => c.rollbackAlias(name, aliasName, { reason: flags.reason }));
    io.stdout(flags.json ? toJson(v) : `Rolled back alias '${aliasName}' of '${name}' to version ${v.version}\n`);
  });

  trackingOptions(
    models.command('history').description('Promotion history of a model: alias moves and stage transitions, newest first').argument('<name>', 'registered model name'),
  ).action(async (name: string, flags: TrackingFlags) => {
    const events = await withClient(flags, (c) => c.getPromotionHistory(name));
    if (flags.json) return io.stdout(toJson(events));
    const move = (e: PromotionEvent) => `${e.from_version ?? '-'} → ${e.to_version ?? '-'}`;
    io.stdout(
      toTable(
        ['TIME (UTC)', 'KIND', 'TARGET', 'FROM → TO', 'ACTOR', 'REASON'],
        events.map((e) => [formatTime(e.timestamp), e.kind, e.alias ?? e.stage ?? '', move(e), e.actor, e.reason ?? '']),
      ),
    );
  });

  trackingOptions(
    models
      .command('download')
      .description('Download a model’s files (MLmodel, weights, …); prints the local directory')
      .requiredOption('-m, --model-uri <uri>', 'models:/<name>/<version>, models:/<name>@<alias>, runs:/<run_id>/<path>, …')
      .option('-o, --output <dir>', 'directory to download into', '.'),
  ).action(async (flags: TrackingFlags & { modelUri: string; output: string }) => {
    const path = await withClient(flags, (c) => c.downloadModel(flags.modelUri, resolve(flags.output)));
    io.stdout(flags.json ? toJson({ path }) : `Downloaded ${flags.modelUri} to ${path}\n`);
  });

  trackingUriOption(
    models
      .command('predict')
      .description('Run a model on a JSON input file; prints {"predictions": …} (as MLflow’s scoring server answers)')
      .requiredOption('-m, --model-uri <uri>', 'models:/<name>/<version>, models:/<name>@<alias>, runs:/<run_id>/<path>, …')
      .requiredOption(
        '-i, --input-path <file>',
        'JSON: a list of records, or {"dataframe_split": {columns, data}}, {"dataframe_records": […]}, {"inputs": …}',
      )
      .option('-o, --output-path <file>', 'write the predictions here instead of printing them')
      .option('--allow-js', 'allow running a js flavor model’s code (never for untrusted models)'),
  ).action(async (flags: { trackingUri?: string; modelUri: string; inputPath: string; outputPath?: string; allowJs?: boolean }) => {
    const input = await readInputFile(flags.inputPath);
    const predictions = await withClient(flags, async (c) => {
      const model = await c.loadModel(flags.modelUri, { allowJs: flags.allowJs ?? false });
      try {
        return await model.predict(input);
      } finally {
        await model.close();
      }
    });
    const text = toJson({ predictions });
    if (flags.outputPath) {
      await writeFile(flags.outputPath, text);
      io.stderr(`Wrote predictions to ${resolve(flags.outputPath)}\n`);
    } else io.stdout(text);
  });

  registerServeCommand(models);
}
