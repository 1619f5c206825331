import type { Command } from 'commander';
import type { Run } from '../tracking/entities.js';
import { formatTime, toFields, toJson, toTable, type CliIO } from './output.js';
import { positiveInt, trackingOptions, viewOption, viewType, withClient, type TrackingFlags } from './tracking-options.js';

function duration(run: Run): string {
  const { start_time: start, end_time: end } = run.info;
  if (!end || !start) return '';
  const s = Math.round((end - start) / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** `flywheel runs list|get|delete|restore`. */
export function registerRunCommands(program: Command, io: CliIO): void {
  const runs = program.command('runs').description('List, inspect and manage runs');

  trackingOptions(
    runs
      .command('list')
      .alias('search')
      .description('List runs of experiments (newest first)')
      .option('-e, --experiment-id <ids...>', 'experiment ids (default: FLYWHEEL_EXPERIMENT_ID or MLFLOW_EXPERIMENT_ID, else 0)')
      .option('--filter <filter>', "MLflow filter, e.g. \"metrics.acc > 0.9 AND params.lr = '0.01'\"")
      .option('--order-by <keys...>', "e.g. 'metrics.acc DESC'")
      .addOption(viewOption('runs'))
      .option('--max-results <n>', 'show at most n', positiveInt),
  ).action(
    async (flags: TrackingFlags & { experimentId?: string[]; filter?: string; orderBy?: string[]; view: string; maxResults?: number }) => {
      const list = await withClient(flags, async (c) => {
        const out: Run[] = [];
        for await (const run of c.iterateRuns({
          experimentIds: flags.experimentId,
          filter: flags.filter,
          orderBy: flags.orderBy,
          viewType: viewType(flags.view),
          maxResults: flags.maxResults ? Math.min(flags.maxResults, 1000) : undefined,
        })) {
          out.push(run);
          if (flags.maxResults && out.length >= flags.maxResults) break;
        }
        return out;
      });
      if (flags.json) return io.stdout(toJson(list));
      io.stdout(
        toTable(
          ['RUN ID', 'NAME', 'STATUS', 'EXPERIMENT', 'STARTED (UTC)', 'DURATION'],
          list.map((r) => [r.info.run_id, r.info.run_name, r.info.status, r.info.experiment_id, formatTime(r.info.start_time), duration(r)]),
        ),
      );
    },
  );

  trackingOptions(runs.command('get').description('Show a run: info, params, latest metrics, tags').argument('<run-id>', 'run id')).action(
    async (runId: string, flags: TrackingFlags) => {
      const run = await withClient(flags, (c) => c.getRun(runId));
      if (flags.json) return io.stdout(toJson(run));
      const { info, data } = run;
      let text = toFields([
        ['run id', info.run_id],
        ['name', info.run_name],
        ['experiment', info.experiment_id],
        ['status', info.status],
        ['stage', info.lifecycle_stage],
        ['user', info.user_id],
        ['started (UTC)', formatTime(info.start_time)],
        ['ended (UTC)', formatTime(info.end_time)],
        ['artifact uri', info.artifact_uri],
      ]);
      if (data.params?.length) text += `\nPARAMS\n${toTable(['KEY', 'VALUE'], data.params.map((p) => [p.key, p.value]))}`;
      if (data.metrics?.length) {
        text += `\nMETRICS (latest)\n${toTable(['KEY', 'VALUE', 'STEP'], data.metrics.map((m) => [m.key, String(m.value), m.step]))}`;
      }
      if (data.tags?.length) text += `\nTAGS\n${toTable(['KEY', 'VALUE'], data.tags.map((t) => [t.key, t.value]))}`;
      io.stdout(text);
    },
  );

  for (const [verb, description, done] of [
    ['delete', 'Delete a run (restorable)', 'Deleted'],
    ['restore', 'Restore a deleted run', 'Restored'],
  ] as const) {
    trackingOptions(runs.command(verb).description(description).argument('<run-id>', 'run id')).action(
      async (runId: string, flags: TrackingFlags) => {
        await withClient(flags, (c) => (verb === 'delete' ? c.deleteRun(runId) : c.restoreRun(runId)));
        io.stdout(flags.json ? toJson({}) : `${done} run ${runId}\n`);
      },
    );
  }
}
