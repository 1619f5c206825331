import type { Command } from 'commander';
import type { Experiment } from '../tracking/entities.js';
import { formatTime, toFields, toJson, toTable, type CliIO } from './output.js';
import { collectTag, positiveInt, trackingOptions, viewOption, viewType, withClient, type TrackingFlags } from './tracking-options.js';

/** `flywheel experiments create|list|get|delete|restore|rename`. */
export function registerExperimentCommands(program: Command, io: CliIO): void {
  const experiments = program.command('experiments').description('Create, list and manage experiments');

  trackingOptions(
    experiments
      .command('create')
      .description('Create an experiment; prints its id')
      .argument('<name>', 'experiment name (unique)')
      .option('-l, --artifact-location <uri>', 'where its runs store artifacts (default: under the server’s root)')
      .option('-t, --tag <key=value>', 'experiment tag (repeatable)', collectTag),
  ).action(async (name: string, flags: TrackingFlags & { artifactLocation?: string; tag?: Record<string, string> }) => {
    const id = await withClient(flags, (c) => c.createExperiment(name, { artifactLocation: flags.artifactLocation, tags: flags.tag }));
    io.stdout(flags.json ? toJson({ experiment_id: id }) : `Created experiment '${name}' with id ${id}\n`);
  });

  trackingOptions(
    experiments
      .command('list')
      .alias('search')
      .description('List experiments')
      .addOption(viewOption('experiments'))
      .option('--filter <filter>', "MLflow filter, e.g. \"name LIKE 'iris%'\"")
      .option('--max-results <n>', 'show at most n', positiveInt),
  ).action(async (flags: TrackingFlags & { view: string; filter?: string; maxResults?: number }) => {
    const list = await withClient(flags, async (c) => {
      const out: Experiment[] = [];
      for await (const e of c.iterateExperiments({ viewType: viewType(flags.view), filter: flags.filter })) {
        out.push(e);
        if (flags.maxResults && out.length >= flags.maxResults) break;
      }
      return out;
    });
    if (flags.json) return io.stdout(toJson(list));
    io.stdout(
      toTable(
        ['ID', 'NAME', 'STAGE', 'CREATED (UTC)', 'ARTIFACT LOCATION'],
        list.map((e) => [e.experiment_id, e.name, e.lifecycle_stage, formatTime(e.creation_time), e.artifact_location]),
      ),
    );
  });

  trackingOptions(
    experiments
      .command('get')
      .description('Show one experiment, by id or by --name')
      .argument('[id]', 'experiment id')
      .option('-n, --name <name>', 'find the experiment by name instead'),
  ).action(async (id: string | undefined, flags: TrackingFlags & { name?: string }) => {
    if (!id && !flags.name) throw new Error('give an experiment id or --name');
    const exp = await withClient(flags, async (c) => {
      if (id) return c.getExperiment(id);
      const found = await c.getExperimentByName(flags.name!);
      if (!found) throw new Error(`No experiment named '${flags.name}'`);
      return found;
    });
    if (flags.json) return io.stdout(toJson(exp));
    io.stdout(
      toFields([
        ['id', exp.experiment_id],
        ['name', exp.name],
        ['stage', exp.lifecycle_stage],
        ['artifact location', exp.artifact_location],
        ['created (UTC)', formatTime(exp.creation_time)],
        ['updated (UTC)', formatTime(exp.last_update_time)],
        ...(exp.tags ?? []).map((t): [string, string] => [`tag ${t.key}`, t.value]),
      ]),
    );
  });

  for (const [verb, description, done] of [
    ['delete', 'Delete an experiment and its runs (restorable)', 'Deleted'],
    ['restore', 'Restore a deleted experiment and the runs deleted with it', 'Restored'],
  ] as const) {
    trackingOptions(experiments.command(verb).description(description).argument('<id>', 'experiment id')).action(
      async (id: string, flags: TrackingFlags) => {
        await withClient(flags, (c) => (verb === 'delete' ? c.deleteExperiment(id) : c.restoreExperiment(id)));
        io.stdout(flags.json ? toJson({}) : `${done} experiment ${id}\n`);
      },
    );
  }

  trackingOptions(
    experiments.command('rename').description('Rename an experiment').argument('<id>', 'experiment id').argument('<new-name>', 'new name'),
  ).action(async (id: string, newName: string, flags: TrackingFlags) => {
    await withClient(flags, (c) => c.renameExperiment(id, newName));
    io.stdout(flags.json ? toJson({}) : `Renamed experiment ${id} to '${newName}'\n`);
  });
}
