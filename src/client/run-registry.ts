import type { RunStatus } from '../tracking/entities.js';

/** What the registry needs of a run the SDK started and has not ended yet. */
export interface TrackedRun {
  readonly runId: string;
  readonly pendingMetrics: number;
  readonly unreportedError: unknown;
  end(status: RunStatus): Promise<void>;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type Signal = (typeof SIGNALS)[number];
const EXIT_CODES: Record<Signal, number> = { SIGINT: 130, SIGTERM: 143 };
/** How long ending the runs may hold up a signal (a slow or gone server must not keep the process alive). */
const END_ON_SIGNAL_TIMEOUT_MS = 10_000;

const active = new Set<TrackedRun>();
let handling: Signal | undefined;

/**
 * While runs are active, SIGINT and SIGTERM end them KILLED, then the signal's default behaviour resumes:
 * the process dies of the signal (exit status 130 / 143), unless the program has its own listener for it,
 * which then decides. A second signal while runs are ending exits at once.
 */
export function trackRun(run: TrackedRun): void {
  active.add(run);
  if (active.size === 1) install();
}

export function untrackRun(run: TrackedRun): void {
  active.delete(run);
  if (active.size === 0 && !handling) uninstall();
}

export function activeRunCount(): number {
  return active.size;
}

const listeners: Record<Signal, () => void> = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM') };

function install(): void {
  for (const s of SIGNALS) process.on(s, listeners[s]);
  process.on('exit', onExit);
}

function uninstall(): void {
  for (const s of SIGNALS) process.off(s, listeners[s]);
  process.off('exit', onExit);
}

function onSignal(signal: Signal): void {
  if (handling) process.exit(EXIT_CODES[signal]);
  handling = signal;
  const ending = Promise.allSettled([...active].map((r) => r.end('KILLED')));
  const deadline = new Promise<void>((r) => setTimeout(r, END_ON_SIGNAL_TIMEOUT_MS).unref());
  void Promise.race([ending, deadline]).then(() => {
    handling = undefined;
    uninstall();
    if (process.listenerCount(signal) > 0) return;
    process.kill(process.pid, signal);
  });
}

/** A process that exits with runs still open says what it leaves behind rather than losing it quietly. */
function onExit(): void {
  for (const run of active) {
    const lost = run.pendingMetrics;
    const err = run.unreportedError;
    if (lost > 0) process.stderr.write(`flywheel: run ${run.runId} was not ended; ${lost} metric point(s) were not sent.\n`);
    if (err !== undefined) {
      process.stderr.write(`flywheel: run ${run.runId}: a background metric flush failed: ${(err as Error)?.message ?? err}\n`);
    }
  }
}
