import pino, { type Logger } from 'pino';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * The CLI's logger: pino, written as JSON lines when the output is a pipe or file (for log collectors), and
 * as short readable lines (`12:00:00 INFO  Flywheel listening on …`) on a terminal.
 */
export function createCliLogger(level = 'info', stream: NodeJS.WriteStream = process.stdout, options: { async?: boolean } = {}): Logger {
  if (!stream.isTTY) {
    // Async (a long-running server logging every request): lines are buffered and written in 8 kB
    // chunks in the background (at least every 100 ms; pino flushes what is left at exit), so a log line
    // costs no system call on the request path and a slow pipe never blocks the event loop.
    const fd = (stream as { fd?: unknown }).fd;
    if (options.async && typeof fd === 'number') {
      const dest = pino.destination({ dest: fd, sync: false, minLength: 8 * 1024 });
      setInterval(() => {
        try {
          dest.flush();
        } catch {
          // destroyed at exit
        }
      }, 100).unref();
      return pino({ level, base: { name: 'flywheel' } }, dest);
    }
    return pino({ level, base: { name: 'flywheel' } }, stream);
  }
  return pino({ level, base: undefined }, { write: (line: string) => stream.write(prettyLine(line)) });
}

function prettyLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  const { time, level, msg, ...rest } = entry;
  const clock = typeof time === 'number' ? new Date(time).toTimeString().slice(0, 8) : '';
  const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
  return `${clock} ${(LEVELS[level as number] ?? String(level)).padEnd(5)} ${String(msg ?? '')}${extra}\n`;
}
