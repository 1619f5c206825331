import type { Command } from 'commander';
import { CliError, type CliIO } from './output.js';

/** `flywheel db upgrade <uri>`: brings a store's schema up to date and says what it applied. */
export function registerDbCommands(program: Command, io: CliIO): void {
  const db = program.command('db').description('Manage the backend store');
  db.command('upgrade')
    .description('Apply pending schema migrations to a store (the server also does this at start-up)')
    .argument('<uri>', 'SQLite file path, sqlite: URI or postgresql:// URI')
    .action(async (uri: string) => {
      const { migrateToLatest, openStore, MigrationError } = await import('../store/index.js');
      let store;
      try {
        store = openStore(uri);
      } catch (e) {
        throw new CliError(`Cannot open the store '${uri}': ${(e as Error).message}`);
      }
      try {
        const applied = await migrateToLatest(store);
        io.stdout(
          applied.length
            ? `Applied ${applied.length} migration${applied.length === 1 ? '' : 's'} to ${store.location}:\n${applied.map((m) => `  ${m}\n`).join('')}`
            : `${store.location} is up to date; no migration to apply.\n`,
        );
      } catch (e) {
        if (e instanceof MigrationError) throw new CliError(e.message);
        throw e;
      } finally {
        await store.close();
      }
    });
}
