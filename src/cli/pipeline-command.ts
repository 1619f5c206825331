import { Option, type Command } from 'commander';
import { defaultTrackingUri, isRemoteTrackingUri } from '../client/backend.js';
import type { CacheExplanation } from '../pipelines/cache/key.js';
import type { PipelineRunView, StepRunView } from '../pipelines/pipeline-queries.js';
import type { ProgressEvent } from '../pipelines/local-orchestrator.js';
import type { ModelPipelineLineage } from '../pipelines/model-lineage.js';
import { createProgressView, formatDuration } from '../pipelines/progress-view.js';
import type { ModelVersionLineage } from '../registry/entities.js';
import type { Store } from '../store/index.js';
import { CliError, formatTime, toFields, toJson, toTable, processIO, type CliIO } from './output.js';
import { positiveInt } from './tracking-options.js';

type RunFileModule = typeof import('../pipelines/run-file.js');

interface RunFlags {
  pipeline?: string;
  config?: string;
  param?: string[];
  cache: boolean;
  explainCache?: boolean;
  concurrency?: number;
  continueOnFailure?: boolean;
  trackingUri?: string;
  artifactRoot?: string;
  json?: boolean;
}

const storeOption = () =>
  new Option(
    '--tracking-uri <uri>',
    'the store: SQLite path, sqlite: or postgresql:// URI (default FLYWHEEL_TRACKING_URI, MLFLOW_TRACKING_URI, ' +
      `else ${defaultTrackingUri({})})`,
  );

/** The pipeline runner, loaded on demand (it pulls in the store and the orchestrator). */
function loadRunner(): Promise<RunFileModule> {
  return import('../pipelines/run-file.js');
}

const USER_ERRORS = new Set(['PipelineFileError', 'PipelineDefinitionError']);

/** `flywheel pipeline run`, `flywheel pipeline runs list|show`. */
export function registerPipelineCommands(program: Command, io: CliIO): void {
  const pipeline = program.command('pipeline').description('Run pipelines and inspect their runs');

  pipeline
    .command('run')
    .description('Run a pipeline file (.ts or .js) in this process, recording it in the store')
    .argument('<file>', 'the pipeline file (.ts, .mts, .js, .mjs)')
    .option('--pipeline <export>', 'the export to run (default: the default export, else the only exported pipeline)')
    .option('--config <file>', 'YAML or JSON overrides: parameters, per-step params/retries/timeoutMs/cache')
    .option('--param <key=value>', 'pipeline parameter (value parsed as JSON when it is JSON); repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--no-cache', 'run every step (keys and explanations are still recorded)')
    .option('--explain-cache', 'print why each step hit or missed the cache')
    .option('--concurrency <n>', 'steps running at once (default: the number of CPUs)', positiveInt)
    .option('--continue-on-failure', 'after a step fails keep running steps that do not depend on it')
    .addOption(storeOption())
    .option('--artifact-root <dir>', 'where artifact versions are stored (default: FLYWHEEL_ARTIFACTS_DESTINATION, else artifacts/ beside the SQLite file)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, flags: RunFlags) => {
      const storeUri = flags.trackingUri ?? defaultTrackingUri();
      if (isRemoteTrackingUri(storeUri)) {
        throw new CliError(
          `pipeline run records into a store and runs steps in this process; '${storeUri}' is a server. ` +
            'Pass the server\'s store instead: --tracking-uri <its --backend-store-uri> --artifact-root <its --artifacts-destination>',
        );
      }
      const runner = await loadRunner();
      const tty = io === processIO && process.stderr.isTTY === true && !flags.json;
      const view = await createProgressView({ tty, write: io.stderr, stream: process.stderr, color: tty });
      let outcome: Awaited<ReturnType<RunFileModule['runPipelineFile']>>;
      try {
        outcome = await runner.runPipelineFile({
          file,
          exportName: flags.pipeline,
          storeUri,
          artifactRoot: flags.artifactRoot,
          configFile: flags.config,
          params: runner.parseParamPairs(flags.param ?? []),
          cache: flags.cache,
          concurrency: flags.concurrency,
          mode: flags.continueOnFailure ? 'continueOnFailure' : 'failFast',
          handleSignals: true,
          onProgress: (e: ProgressEvent) => view.onProgress(e),
        });
      } catch (e) {
        const err = e as Error;
        if (err && USER_ERRORS.has(err.name)) throw new CliError(err.message);
        throw e;
      } finally {
        view.stop();
      }
      const { result, pipelineName } = outcome;
      const steps = Object.values(result.steps).map((s) => {
        const p = view.model.steps.get(s.name);
        return {
          name: s.name,
          status: s.status,
          step_run_id: s.stepRunId,
          attempts: s.attempts,
          duration_ms: p?.durationMs ?? null,
          error: s.error,
          ...(s.cache ? { cache: s.cache } : {}),
        };
      });
      if (flags.json) {
        io.stdout(
          toJson({
            pipeline_run_id: result.pipelineRunId,
            pipeline: pipelineName,
            status: result.status,
            error: result.error,
            tracking_run_id: result.trackingRunId,
            steps,
          }),
        );
      } else {
        let text = `\n${toTable(
          ['STEP', 'STATUS', 'DURATION', 'CACHE'],
          steps.map((s) => [s.name, s.status, s.duration_ms === null ? '' : formatDuration(s.duration_ms), cacheColumn(s.status, s.cache)]),
        )}`;
        if (flags.explainCache) {
          const { formatCacheExplanation } = await import('../pipelines/cache/key.js');
          const lines = steps.flatMap((s) => (s.cache ? formatCacheExplanation(s.name, s.cache) : [`${s.name}: no cache decision (${s.status.toLowerCase()})`]));
          text += `\nCACHE\n${lines.join('\n')}\n`;
        }
        text += `\npipeline run ${result.pipelineRunId}: ${result.status}${result.error ? ` (${result.error})` : ''}\n`;
        io.stdout(text);
      }
      if (result.status === 'FAILED') throw new CliError(result.error ?? 'pipeline run failed', 1, true);
      if (result.status === 'CANCELLED') throw new CliError(result.error ?? 'pipeline run cancelled', 130, true);
    });

  const runs = pipeline.command('runs').description('List and inspect pipeline runs');
  runs
    .command('list')
    .description('List pipeline runs (newest first)')
    .option('--pipeline <name>', 'only runs of this pipeline')
    .option('--max-results <n>', 'show at most n (default 50)', positiveInt)
    .addOption(storeOption())
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: { pipeline?: string; maxResults?: number; trackingUri?: string; json?: boolean }) => {
      const limit = flags.maxResults ?? 50;
      const list = await withQueries(flags.trackingUri, {
        local: (q) => q.listPipelineRuns(flags.pipeline, { offset: 0, limit }),
        remote: async (get) => {
          const qs = new URLSearchParams({ max_results: String(Math.min(limit, 1000)), ...(flags.pipeline ? { pipeline: flags.pipeline } : {}) });
          return ((await get(`/api/v1/pipeline-runs?${qs}`)) as { pipeline_runs?: PipelineRunView[] }).pipeline_runs ?? [];
        },
      });
      if (flags.json) return io.stdout(toJson(list));
      io.stdout(
        toTable(
          ['RUN ID', 'PIPELINE', 'STATUS', 'STARTED (UTC)', 'DURATION'],
          list.map((r) => [r.id, r.pipeline_name, r.status, formatTime(r.start_time), r.end_time === null ? '' : formatDuration(r.end_time - r.start_time)]),
        ),
      );
    });

  runs
    .command('show')
    .description('Show a pipeline run: its steps with status, duration, cache decision, outputs and errors')
    .argument('<run-id>', 'pipeline run id')
    .option('--logs', 'also print the last lines of each step log')
    .option('--log-lines <n>', 'log lines per step with --logs (default 20)', positiveInt)
    .addOption(storeOption())
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { logs?: boolean; logLines?: number; trackingUri?: string; json?: boolean }) => {
      const run = await withQueries(flags.trackingUri, {
        local: (q) => q.getPipelineRun(id),
        remote: async (get) => ((await get(`/api/v1/pipeline-runs/${encodeURIComponent(id)}`)) as { pipeline_run: PipelineRunView & { step_runs: StepRunView[] } }).pipeline_run,
      });
      if (flags.json) return io.stdout(toJson(run));
      io.stdout(formatRunDetail(run, { logs: flags.logs === true, logLines: flags.logLines ?? 20 }));
    });

  pipeline
    .command('lineage')
    .description('Trace a registered model version back through the pipeline that made it, to its input data')
    .argument('<model-name>', 'registered model name')
    .argument('<version>', 'model version')
    .addOption(storeOption())
    .option('--json', 'print JSON')
    .action(async (name: string, version: string, flags: { trackingUri?: string; json?: boolean }) => {
      const target = flags.trackingUri ?? defaultTrackingUri();
      let answer: { lineage: ModelVersionLineage; pipeline: ModelPipelineLineage | null };
      if (isRemoteTrackingUri(target)) {
        const url = `${target.replace(/\/+$/, '')}/api/v1/model-versions/${encodeURIComponent(name)}/${encodeURIComponent(version)}/pipeline-lineage`;
        const res = await fetch(url);
        const body = (await res.json().catch(() => ({}))) as typeof answer & { message?: string; error_code?: string };
        if (!res.ok) throw new CliError(`${body.message ?? `HTTP ${res.status}`}${body.error_code ? ` (${body.error_code})` : ''}`);
        answer = body;
      } else {
        answer = await withStore(target, async (store) => {
          const [{ SqlTrackingStore }, { SqlRegistryStore }, { PipelineQueries }, { modelPipelineLineage }] = await Promise.all([
            import('../tracking/index.js'),
            import('../registry/index.js'),
            import('../pipelines/pipeline-queries.js'),
            import('../pipelines/model-lineage.js'),
          ]);
          const tracking = new SqlTrackingStore(store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
          const lineage = await new SqlRegistryStore(store, { tracking }).lineage(name, version);
          return { lineage, pipeline: await modelPipelineLineage({ tracking, queries: new PipelineQueries(store) }, lineage) };
        });
      }
      if (flags.json) return io.stdout(toJson(answer));
      io.stdout(formatModelLineage(answer.lineage, answer.pipeline));
    });
}

/** `pipeline lineage`: the version, the step and pipeline runs behind it, and its artifact chain. */
export function formatModelLineage(lineage: ModelVersionLineage, p: ModelPipelineLineage | null): string {
  let text = toFields([
    ['model version', `${lineage.name} ${lineage.version}`],
    ['source', lineage.source],
    ['run', lineage.run_id ?? ''],
  ]);
  if (!p) return `${text}\nNot registered from a pipeline step (its run is no step's tracking run).\n`;
  const short = (h: string) => h.slice(0, 12);
  text += toFields([
    ['registered by', p.registered_by_step_run ? `step ${p.registered_by_step_run.step_name} (step run ${p.registered_by_step_run.id})` : ''],
    ['pipeline run', p.pipeline_run ? `${p.pipeline_run.id} (${p.pipeline_run.pipeline_name}, ${p.pipeline_run.status})` : ''],
    ['model artifact', `${p.model_artifact_version.name} v${p.model_artifact_version.version} (${short(p.model_artifact_version.content_hash)}) from step ${p.model_artifact_version.producer_step ?? '?'}`],
  ]);
  const rootIds = new Set(p.roots.map((r) => r.id));
  text += `\nUPSTREAM\n${toTable(
    ['DEPTH', 'ARTIFACT', 'VERSION', 'HASH', 'PRODUCED BY', ''],
    p.upstream.map((u) => [u.depth, u.name, u.version, short(u.content_hash), u.producer_step ?? '', rootIds.has(u.id) ? 'root' : '']),
  )}`;
  return text;
}

/** A pipeline run with its steps, for `pipeline runs show`. */
export function formatRunDetail(run: PipelineRunView & { step_runs: StepRunView[] }, options: { logs: boolean; logLines: number }): string {
  let text = toFields([
    ['pipeline run', run.id],
    ['pipeline', run.pipeline_name],
    ['status', run.status],
    ['started (UTC)', formatTime(run.start_time)],
    ['ended (UTC)', formatTime(run.end_time ?? undefined)],
    ['duration', run.end_time === null ? '' : formatDuration(run.end_time - run.start_time)],
    ['params', JSON.stringify(run.params)],
    ['tracking run', run.tracking_run_id ?? ''],
    ...(run.error ? ([['error', run.error]] as [string, string][]) : []),
  ]);
  text += `\nSTEPS\n${toTable(
    ['STEP', 'STATUS', 'DURATION', 'CACHE', 'OUTPUTS'],
    run.step_runs.map((s) => [
      s.step_name,
      s.status,
      s.end_time === null ? '' : formatDuration(s.end_time - s.start_time),
      cacheColumn(s.status, s.cache_decision as CacheExplanation | null),
      outputsColumn(s.outputs),
    ]),
  )}`;
  const failed = run.step_runs.filter((s) => s.error);
  if (failed.length) text += `\nERRORS\n${failed.map((s) => `${s.step_name}: ${s.error}`).join('\n')}\n`;
  if (options.logs) {
    for (const s of run.step_runs) {
      const lines = s.logs ? s.logs.split('\n') : [];
      if (!lines.length) continue;
      const tail = lines.slice(-options.logLines);
      text += `\nLOGS ${s.step_name}${lines.length > tail.length ? ` (last ${tail.length} of ${lines.length} lines)` : ''}\n${tail.join('\n')}\n`;
    }
  }
  return text;
}

/** `hit: all key parts unchanged`, `miss: code: model.ts changed`, or '' when no decision was recorded. */
function cacheColumn(status: string, cache: CacheExplanation | null | undefined): string {
  if (!cache || typeof cache !== 'object' || !('hit' in cache)) return status === 'SKIPPED' ? '' : '-';
  const reasons = Array.isArray(cache.reasons) ? cache.reasons : [];
  const reason = reasons[0] ?? '';
  const more = reasons.length > 1 ? ` (+${reasons.length - 1})` : '';
  return `${cache.hit ? 'hit' : 'miss'}${reason ? `: ${reason}${more}` : ''}`;
}

/** `model=training/train/model:v3` for each output recorded as an artifact version. */
function outputsColumn(outputs: Record<string, unknown> | null): string {
  return Object.entries(outputs ?? {})
    .map(([k, o]) => {
      const v = o as { name?: string; version?: number } | null;
      return v?.name ? `${k}=${v.name}:v${v.version}` : k;
    })
    .join(' ');
}

type Queries = import('../pipelines/pipeline-queries.js').PipelineQueries;

/** Read-only pipeline queries against a store opened here, or the native API of a server. */
async function withQueries<T>(
  uri: string | undefined,
  how: { local: (q: Queries) => Promise<T>; remote: (get: (path: string) => Promise<unknown>) => Promise<T> },
): Promise<T> {
  const target = uri ?? defaultTrackingUri();
  if (isRemoteTrackingUri(target)) {
    const base = target.replace(/\/+$/, '');
    return how.remote(async (path) => {
      const res = await fetch(`${base}${path}`);
      const body = (await res.json().catch(() => ({}))) as { message?: string; error_code?: string };
      if (!res.ok) throw new CliError(`${body.message ?? `HTTP ${res.status}`}${body.error_code ? ` (${body.error_code})` : ''}`);
      return body;
    });
  }
  const { PipelineQueries } = await import('../pipelines/pipeline-queries.js');
  return withStore(target, (store) => how.local(new PipelineQueries(store)));
}

/** A store opened (and migrated) for one command. */
async function withStore<T>(uri: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const { openMigratedStore } = await import('../store/index.js');
  const store = await openMigratedStore(uri);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
