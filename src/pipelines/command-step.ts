import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PipelineDefinitionError } from './errors.js';
import { step, type JsonValue, type Params, type StepContext, type StepFn, type StepOptions, type StepOutput } from './dsl.js';
import type { StepContextExtras } from './local-orchestrator.js';
import { LocalDirectory, LocalFile } from './materializers/types.js';

/** How a command step collects an output from the path it gave the program. */
export type CommandOutputKind = 'file' | 'directory' | 'json' | 'text';

type OutputValue<K extends CommandOutputKind> = K extends 'file'
  ? LocalFile
  : K extends 'directory'
    ? LocalDirectory
    : K extends 'json'
      ? JsonValue
      : string;

export interface CommandStepOptions<
  IN extends string,
  O extends Record<string, CommandOutputKind>,
  P extends Params,
> extends Omit<StepOptions<P, { [K in keyof O]: OutputValue<O[K]> }>, 'env'> {
  /** The program and its arguments (an argv array; no shell). `{inputs.x}`, `{outputs.y}`, `{params.z}` are substituted per argument. */
  command: readonly string[];
  /** Input names: each input value is written to a file whose path replaces `{inputs.<name>}`. */
  inputs?: readonly IN[];
  /** Declared outputs: the program must write each to the path that replaces `{outputs.<name>}`. */
  outputs: O;
  /** Extra environment variables for the program. */
  env?: Record<string, string>;
  /** Environment variables the step's cache key depends on (the `env` of regular steps). */
  cacheEnv?: readonly string[];
  /** Working directory of the program (default: the current directory). */
  cwd?: string;
  /** Tracking server URI given as MLFLOW_TRACKING_URI (default: $FLYWHEEL_TRACKING_URI, then $MLFLOW_TRACKING_URI). */
  trackingUri?: string;
  /** Bytes of stdout/stderr written line by line to the step logs before only the tail is kept (default 1 MB). */
  maxLogBytes?: number;
  /** Keep the temporary work directory of a failed attempt for debugging (default false: removed). Its path is in the step logs. */
  keepWorkDir?: boolean;
}

const PLACEHOLDER = /\{(inputs|outputs|params)\.([A-Za-z0-9_-]+)\}/g;
const STDERR_TAIL_LINES = 20;
const KILL_GRACE_MS = 3000;

/**
 * A step that runs an external program. Input values are written to files, outputs are read from the
 * files the program writes, stdout/stderr go to the step logs, and a non-zero exit fails the step.
 * MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and MLFLOW_EXPERIMENT_ID point an `mlflow`-using script at the step's
 * own tracking run. The temporary work directory is removed once the outputs are stored in a store that
 * copies them (`ArtifactOutputStore`; with the in-memory store the outputs live there, so it stays), and on
 * failure unless `keepWorkDir`.
 */
export function commandStep<
  const IN extends string = never,
  const O extends Record<string, CommandOutputKind> = Record<string, CommandOutputKind>,
  P extends Params = {},
>(
  name: string,
  options: CommandStepOptions<IN, O, P>,
): StepFn<{ [K in IN]: unknown }, { [K in keyof O & string]: StepOutput<OutputValue<O[K]>> }, P> {
  const { command, inputs = [], outputs, env = {}, cacheEnv, cwd, trackingUri, maxLogBytes = 1 << 20, keepWorkDir = false, ...stepOptions } = options;
  if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string')) {
    throw new PipelineDefinitionError(`command step '${name}': command must be a non-empty array of strings (argv, no shell)`);
  }
  const outputNames = Object.keys(outputs ?? {});
  if (outputNames.length === 0) throw new PipelineDefinitionError(`command step '${name}': declare at least one output`);
  for (const [o, kind] of Object.entries(outputs)) {
    if (!['file', 'directory', 'json', 'text'].includes(kind)) {
      throw new PipelineDefinitionError(`command step '${name}': output '${o}' has unknown kind '${String(kind)}'`);
    }
  }
  for (const arg of command) {
    for (const m of arg.matchAll(PLACEHOLDER)) {
      if (m[1] === 'inputs' && !inputs.includes(m[2] as IN)) {
        throw new PipelineDefinitionError(`command step '${name}': placeholder {inputs.${m[2]}} names an undeclared input`);
      }
      if (m[1] === 'outputs' && !(m[2]! in outputs)) {
        throw new PipelineDefinitionError(`command step '${name}': placeholder {outputs.${m[2]}} names an undeclared output`);
      }
    }
  }

  const fn = async (inputValues: Record<string, unknown>, ctx: StepContext<P>) => {
    const work = await mkdtemp(join(tmpdir(), `flywheel-cmd-${name}-`));
    const extras = ctx as Partial<StepContextExtras>;
    ctx.log(`work directory: ${work}`);
    let ok = false;
    try {
      const inputPaths: Record<string, string> = {};
      await mkdir(join(work, 'inputs'));
      await mkdir(join(work, 'outputs'));
      for (const n of inputs) inputPaths[n] = await writeInput(join(work, 'inputs'), n, inputValues[n]);
      const outputPaths: Record<string, string> = {};
      for (const [o, kind] of Object.entries(outputs)) {
        outputPaths[o] = join(work, 'outputs', o + (kind === 'json' ? '.json' : kind === 'text' ? '.txt' : ''));
        if (kind === 'directory') await mkdir(outputPaths[o]!);
      }
      const argv = command.map((arg) =>
        arg.replace(PLACEHOLDER, (_all, kind: string, key: string) => {
          if (kind === 'inputs') return inputPaths[key]!;
          if (kind === 'outputs') return outputPaths[key]!;
          if (!(key in ctx.params)) throw new Error(`command step '${name}': placeholder {params.${key}} names no parameter`);
          const v = (ctx.params as Params)[key];
          return typeof v === 'string' ? v : JSON.stringify(v);
        }),
      );
      const uri = trackingUri ?? process.env.FLYWHEEL_TRACKING_URI ?? process.env.MLFLOW_TRACKING_URI;
      const childEnv: NodeJS.ProcessEnv = { ...process.env };
      if (uri) childEnv.MLFLOW_TRACKING_URI = uri;
      if (ctx.trackingRunId) childEnv.MLFLOW_RUN_ID = ctx.trackingRunId;
      else delete childEnv.MLFLOW_RUN_ID;
      if (ctx.trackingRunId && typeof extras.experimentId === 'string' && extras.experimentId) childEnv.MLFLOW_EXPERIMENT_ID = extras.experimentId;
      else delete childEnv.MLFLOW_EXPERIMENT_ID;
      Object.assign(childEnv, env);
      childEnv.FLYWHEEL_WORK_DIR = work;

      ctx.log(`$ ${argv.map(quoteForLog).join(' ')}`);
      await runProgram(argv, { cwd: cwd ?? process.cwd(), env: childEnv, signal: ctx.signal, log: (l) => ctx.log(l), maxLogBytes });

      const result: Record<string, unknown> = {};
      for (const [o, kind] of Object.entries(outputs)) {
        const p = outputPaths[o]!;
        const missing = new Error(`command '${argv[0]}' wrote no output '${o}' (expected ${kind === 'directory' ? 'files in' : 'a file at'} ${p})`);
        const st = await stat(p).catch(() => null);
        if (kind === 'directory') {
          if (!st?.isDirectory() || (await readdir(p)).length === 0) throw missing;
          result[o] = new LocalDirectory(p);
          continue;
        }
        if (!st?.isFile()) throw missing;
        if (kind === 'file') result[o] = new LocalFile(p);
        else if (kind === 'text') result[o] = await readFile(p, 'utf8');
        else {
          const text = await readFile(p, 'utf8');
          try {
            result[o] = JSON.parse(text) as JsonValue;
          } catch (e) {
            throw new Error(`command '${argv[0]}' wrote invalid JSON to output '${o}': ${(e as Error).message}`);
          }
        }
      }
      ok = true;
      // File and directory outputs live in the work directory until the orchestrator has stored them.
      extras.onStepEnd?.(async (end) => {
        if (end.outputsCopied || (end.failed && !keepWorkDir)) await rm(work, { recursive: true, force: true });
        else if (end.failed) ctx.log(`work directory kept: ${work}`);
      });
      return result;
    } finally {
      if (!ok) {
        if (keepWorkDir) ctx.log(`work directory kept: ${work}`);
        else await rm(work, { recursive: true, force: true }).catch(() => undefined);
      }
    }
  };

  const made = step(name, fn as never, {
    ...(stepOptions as StepOptions<Params, unknown>),
    ...(cacheEnv ? { env: cacheEnv } : {}),
    outputs: outputNames,
  } as never) as unknown as StepFn<any, any, any>;
  // Every command step shares `fn`'s source text: key the code hash on the command spec and the files its argv names.
  const h = createHash('sha256').update(made.definition.codeHash).update(JSON.stringify({ command, inputs, outputs, env, cwd }));
  for (const arg of command) {
    const p = resolve(cwd ?? process.cwd(), arg);
    try {
      if (existsSync(p) && statSync(p).isFile() && statSync(p).size < 16 << 20) h.update(arg).update(readFileSync(p));
    } catch {
      /* unreadable: not part of the hash */
    }
  }
  (made.definition as { codeHash: string }).codeHash = h.digest('hex');
  return made as never;
}

async function writeInput(dir: string, name: string, value: unknown): Promise<string> {
  if (value instanceof LocalFile || value instanceof LocalDirectory) return value.path;
  if (typeof value === 'string') {
    const p = join(dir, `${name}.txt`);
    await writeFile(p, value, 'utf8');
    return p;
  }
  if (value instanceof Uint8Array) {
    const p = join(dir, `${name}.bin`);
    await writeFile(p, value);
    return p;
  }
  const p = join(dir, `${name}.json`);
  await writeFile(p, JSON.stringify(value === undefined ? null : value), 'utf8');
  return p;
}

function quoteForLog(a: string): string {
  return /^[A-Za-z0-9_\-./=:,+@%]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  log: (line: string) => void;
  maxLogBytes: number;
}

/** Spawns argv (no shell), streams its output lines to `log`, and resolves on exit 0. */
function runProgram(argv: string[], o: RunOptions): Promise<void> {
  return new Promise<void>((resolvePromise, reject) => {
    if (o.signal.aborted) return reject(o.signal.reason as Error);
    const child = spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: o.env, shell: false, stdio: ['ignore', 'pipe', 'pipe'] });
    let logged = 0;
    let omitted = 0;
    const tail: string[] = []; // lines past the budget, last ~64 KB
    let tailBytes = 0;
    const stderrTail: string[] = [];
    const emit = (stream: 'stdout' | 'stderr', line: string) => {
      const text = stream === 'stderr' ? `[stderr] ${line}` : line;
      if (stream === 'stderr') {
        stderrTail.push(line);
        if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      }
      if (logged + text.length <= o.maxLogBytes) {
        logged += text.length + 1;
        o.log(text);
        return;
      }
      tail.push(text);
      tailBytes += text.length + 1;
      while (tailBytes > 64 * 1024 && tail.length > 1) {
        const dropped = tail.shift()!;
        tailBytes -= dropped.length + 1;
        omitted += dropped.length + 1;
      }
    };
    const lineReader = (stream: 'stdout' | 'stderr') => {
      let buf = '';
      return {
        data(chunk: Buffer) {
          buf += chunk.toString('utf8');
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            emit(stream, buf.slice(0, i).replace(/\r$/, ''));
            buf = buf.slice(i + 1);
          }
          if (buf.length > 64 * 1024) {
            emit(stream, buf);
            buf = '';
          }
        },
        end() {
          if (buf) emit(stream, buf);
          buf = '';
        },
      };
    };
    const out = lineReader('stdout');
    const err = lineReader('stderr');
    child.stdout!.on('data', out.data);
    child.stderr!.on('data', err.data);

    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    o.signal.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    const finish = () => {
      if (settled) return false;
      settled = true;
      out.end();
      err.end();
      if (tail.length) {
        if (omitted) o.log(`... ${omitted} bytes of output omitted (log limit ${o.maxLogBytes} bytes) ...`);
        for (const l of tail) o.log(l);
      }
      o.signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      return true;
    };
    child.on('error', (e) => {
      if (!finish()) return;
      reject(new Error(`command '${argv[0]}' could not be started: ${e.message}`));
    });
    child.on('close', (code, sig) => {
      if (!finish()) return;
      if (o.signal.aborted) return reject(o.signal.reason as Error);
      if (code === 0) return resolvePromise();
      const what = code !== null ? `exited with code ${code}` : `was killed by ${sig}`;
      const stderr = stderrTail.length ? `; stderr:\n${stderrTail.join('\n')}` : '';
      reject(new Error(`command '${argv[0]}' ${what}${stderr}`));
    });
  });
}
