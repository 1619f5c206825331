import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isFlywheelError } from '../core/errors.js';
import { registerArtifactCommands } from './artifacts-command.js';
import { registerDbCommands } from './db-command.js';
import { registerDeploymentCommands } from './deployments-command.js';
import { registerExperimentCommands } from './experiments-command.js';
import { registerModelCommands } from './models-command.js';
import { registerPipelineCommands } from './pipeline-command.js';
import { CliError, processIO, type CliIO } from './output.js';
import { registerRunCommands } from './runs-command.js';
import { registerServerCommand } from './server-command.js';

/** The package version (src/cli and dist/cli are both two levels below package.json). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * The `flywheel` command. Heavy modules (the server, the store) are imported by the actions that need them,
 * so `--help` and the client commands start fast.
 */
export function buildProgram(io: CliIO = processIO): Command {
  const program = new Command('flywheel')
    .description('Flywheel: MLflow-compatible experiment tracking and MLOps')
    .version(packageVersion(), '-v, --version', 'print the version')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  registerServerCommand(program);
  registerDbCommands(program, io);
  registerExperimentCommands(program, io);
  registerRunCommands(program, io);
  registerModelCommands(program, io);
  registerArtifactCommands(program, io);
  registerDeploymentCommands(program, io);
  registerPipelineCommands(program, io);
  return program;
}

/** Runs the CLI on `args` (without node and script) and answers the exit code; errors are printed, not thrown. */
export async function runCli(args: string[], io: CliIO = processIO): Promise<number> {
  try {
    await buildProgram(io).parseAsync(args, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof CliError) {
      if (!e.reported) io.stderr(`error: ${e.message}\n`);
      return e.exitCode;
    }
    // A FlywheelError carries the server's code; anything else is shown as a message, never a stack.
    const message = isFlywheelError(e) ? `${e.message} (${e.code})` : (e as Error)?.message ?? String(e);
    io.stderr(`error: ${message}\n`);
    return 1;
  }
}
