import type { ProgressEvent } from './local-orchestrator.js';

/** What the view shows for a step. */
export type StepState = 'pending' | 'running' | 'cached' | 'done' | 'failed' | 'skipped' | 'cancelled';

export interface StepProgress {
  name: string;
  state: StepState;
  /** When the current attempt started (running steps). */
  startedAt?: number;
  /** When it finished (for "recently finished"). */
  finishedAt?: number;
  durationMs?: number;
  attempt?: number;
  error?: string | null;
  /** First cache reason, for cached and re-run steps. */
  cacheReason?: string;
}

const STATE_OF: Record<string, StepState> = {
  RUNNING: 'running',
  COMPLETED: 'done',
  CACHED: 'cached',
  FAILED: 'failed',
  SKIPPED: 'skipped',
  CANCELLED: 'cancelled',
};

/** The run as the events told it so far; `apply` each ProgressEvent in order. */
export class ProgressModel {
  pipelineName = '';
  pipelineRunId = '';
  startedAt = 0;
  finished: { status: string; error: string | null; at: number } | null = null;
  readonly steps = new Map<string, StepProgress>();

  apply(e: ProgressEvent): void {
    if (e.type === 'run-started') {
      this.pipelineName = e.pipelineName;
      this.pipelineRunId = e.pipelineRunId;
      this.startedAt = e.at;
      for (const s of e.steps) this.steps.set(s.name, { name: s.name, state: 'pending' });
    } else if (e.type === 'step') {
      const prev = this.steps.get(e.name) ?? { name: e.name, state: 'pending' as StepState };
      const state = STATE_OF[e.status] ?? 'pending';
      const next: StepProgress = { ...prev, state, ...(e.attempt !== undefined ? { attempt: e.attempt } : {}) };
      if (state === 'running') next.startedAt = e.at;
      else {
        next.finishedAt = e.at;
        next.durationMs = e.durationMs ?? 0;
        next.error = e.error ?? null;
      }
      if (e.cache?.reasons?.length) next.cacheReason = e.cache.reasons[0];
      this.steps.set(e.name, next);
    } else {
      this.finished = { status: e.status, error: e.error, at: e.at };
    }
  }

  counts(): Record<StepState, number> {
    const c: Record<StepState, number> = { pending: 0, running: 0, cached: 0, done: 0, failed: 0, skipped: 0, cancelled: 0 };
    for (const s of this.steps.values()) c[s.state]++;
    return c;
  }
}

const GLYPH: Record<StepState, string> = {
  pending: '·',
  running: '▶',
  cached: '≡',
  done: '✔',
  failed: '✖',
  skipped: '-',
  cancelled: '■',
};
const COLOR: Record<StepState, number> = { pending: 90, running: 36, cached: 34, done: 32, failed: 31, skipped: 33, cancelled: 35 };

/** `850ms`, `4.2s`, `3m05s`, `1h02m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const whole = Math.floor(s);
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}

export interface RenderOptions {
  /** Current time (ms epoch): elapsed times of running steps are measured to it. */
  now: number;
  /** Terminal height; when the steps do not fit, only running and recently finished ones are listed. */
  rows?: number;
  /** Terminal width; longer lines are cut. */
  columns?: number;
  color?: boolean;
}

function paint(text: string, code: number, color: boolean | undefined): string {
  return color ? `\u001b[${code}m${text}\u001b[39m` : text;
}

function stepLine(s: StepProgress, width: number, now: number, color: boolean | undefined): string {
  const name = s.name.padEnd(width);
  let detail = '';
  if (s.state === 'running') detail = `${formatDuration(now - (s.startedAt ?? now))}${s.attempt && s.attempt > 1 ? ` (attempt ${s.attempt})` : ''}`;
  else if (s.state === 'done') detail = formatDuration(s.durationMs ?? 0);
  else if (s.state === 'cached') detail = 'cached';
  else if (s.state === 'failed') detail = `${formatDuration(s.durationMs ?? 0)}  ${firstLine(s.error)}`;
  else if (s.state === 'skipped' || s.state === 'cancelled') detail = firstLine(s.error);
  return `${paint(GLYPH[s.state], COLOR[s.state], color)} ${name}  ${paint(s.state.padEnd(9), COLOR[s.state], color)} ${detail}`.trimEnd();
}

function firstLine(text: string | null | undefined): string {
  return (text ?? '').split('\n')[0];
}

/** `3 done · 1 cached · 1 running · 2 pending` (states with no steps left out), plus total elapsed. */
export function countsLine(model: ProgressModel, now: number): string {
  const c = model.counts();
  const parts = (Object.keys(c) as StepState[]).filter((k) => c[k] > 0).map((k) => `${c[k]} ${k}`);
  const end = model.finished?.at ?? now;
  return `${parts.join(' · ')}  (${model.steps.size} steps, ${formatDuration(end - (model.startedAt || end))})`;
}

/**
 * The live block: a header, one line per step (glyph, name, state, elapsed or duration), and a counts line.
 * When the steps do not fit in `rows`, lists the running steps and the most recently finished ones instead.
 */
export function renderProgress(model: ProgressModel, options: RenderOptions): string {
  const { now, color } = options;
  const steps = [...model.steps.values()];
  const width = Math.min(40, Math.max(4, ...steps.map((s) => s.name.length)));
  const header = `pipeline ${model.pipelineName}${model.pipelineRunId ? ` (run ${model.pipelineRunId})` : ''}${
    model.finished ? `: ${model.finished.status}` : ''
  }`;
  const budget = options.rows !== undefined ? Math.max(3, options.rows - 3) : Infinity;
  let listed: StepProgress[];
  let more = '';
  if (steps.length <= budget) listed = steps;
  else {
    const running = steps.filter((s) => s.state === 'running');
    const recent = steps
      .filter((s) => s.finishedAt !== undefined)
      .sort((a, b) => b.finishedAt! - a.finishedAt!)
      .slice(0, Math.max(0, budget - 1 - running.length))
      .reverse();
    listed = [...recent, ...running].slice(-(budget - 1));
    more = `… ${steps.length - listed.length} more steps not shown`;
  }
  const lines = [header, ...listed.map((s) => stepLine(s, width, now, color))];
  if (more) lines.push(paint(more, 90, color));
  lines.push(countsLine(model, now));
  const cols = options.columns;
  return lines.map((l) => (cols && visibleLength(l) > cols ? cut(l, cols) : l)).join('\n');
}

const ANSI = /\u001b\[[0-9;]*m/g;
const visibleLength = (s: string) => s.replace(ANSI, '').length;

/** Cuts a line to `cols` visible characters (colour codes kept out of the count; colour reset at the end). */
function cut(line: string, cols: number): string {
  let out = '';
  let seen = 0;
  for (let i = 0; i < line.length && seen < cols - 1; ) {
    const m = /^\u001b\[[0-9;]*m/.exec(line.slice(i));
    if (m) {
      out += m[0];
      i += m[0].length;
      continue;
    }
    out += line[i++];
    seen++;
  }
  return `${out}…${line.includes('\u001b[') ? '\u001b[39m' : ''}`;
}

/**
 * One plain line per state change, for logs and pipes: `load: running`, `load: done in 1.2s`,
 * `split: cached (all key parts unchanged)`, `train: failed after 3.0s: Error: …`. Undefined for events
 * that print nothing.
 */
export function progressLine(e: ProgressEvent, model?: ProgressModel): string | undefined {
  if (e.type === 'run-started') return `pipeline ${e.pipelineName}: run ${e.pipelineRunId}, ${e.steps.length} steps`;
  if (e.type === 'run-finished') {
    const counts = model ? `; ${countsLine(model, e.at)}` : '';
    return `pipeline ${e.pipelineRunId}: ${e.status}${counts}`;
  }
  const state = STATE_OF[e.status] ?? e.status.toLowerCase();
  switch (state) {
    case 'running':
      return `${e.name}: running${e.attempt && e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`;
    case 'done':
      return `${e.name}: done in ${formatDuration(e.durationMs ?? 0)}`;
    case 'cached':
      return `${e.name}: cached${e.cache?.reasons?.length ? ` (${e.cache.reasons[0]})` : ''}`;
    case 'failed':
      return `${e.name}: failed after ${formatDuration(e.durationMs ?? 0)}: ${firstLine(e.error)}`;
    default:
      return `${e.name}: ${state}${e.error ? `: ${firstLine(e.error)}` : ''}`;
  }
}

export interface ProgressViewOptions {
  /** Live redrawn block (a terminal) or one line per change. */
  tty: boolean;
  /** Where lines go (non-TTY). */
  write: (text: string) => void;
  /** The terminal stream for the live block (TTY). */
  stream?: NodeJS.WriteStream;
  color?: boolean;
  /** Redraws per second at most (default 10). */
  fps?: number;
  now?: () => number;
}

export interface ProgressView {
  onProgress(e: ProgressEvent): void;
  /** Draws the final state and releases the terminal. */
  stop(): void;
  readonly model: ProgressModel;
}

/** The CLI's progress display: a throttled live block on a terminal, plain lines elsewhere. */
export async function createProgressView(options: ProgressViewOptions): Promise<ProgressView> {
  const model = new ProgressModel();
  const now = options.now ?? Date.now;
  // A terminal that reports no width (some CI pseudo-terminals) cannot hold a redrawn block: print lines.
  if (!options.tty || !options.stream || !options.stream.columns) {
    return {
      model,
      onProgress(e) {
        model.apply(e);
        const line = progressLine(e, model);
        if (line !== undefined) options.write(`${line}\n`);
      },
      stop() {},
    };
  }
  const { createLogUpdate } = await import('log-update');
  const stream = options.stream;
  const update = createLogUpdate(stream);
  const interval = 1000 / (options.fps ?? 10);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const draw = () => {
    update(renderProgress(model, { now: now(), rows: stream.rows, columns: stream.columns, color: options.color ?? true }));
  };
  // A steady tick keeps the elapsed times moving and coalesces bursts of events into one redraw.
  const start = () => {
    timer ??= setInterval(draw, interval);
    timer.unref();
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    if (timer) clearInterval(timer);
    if (model.steps.size) draw();
    update.done();
  };
  return {
    model,
    onProgress(e) {
      if (stopped) return;
      model.apply(e);
      if (e.type === 'run-started') {
        draw();
        start();
      } else if (e.type === 'run-finished') stop();
    },
    stop,
  };
}
