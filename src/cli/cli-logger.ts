import pino, { type Logger } from 'pino';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * The CLI's logger: pino, written as JSON lines when the output is a pipe or file (for log collectors), and
 * as short readable lines (`12:00:00 INFO  Flywheel listening on …`) on a terminal.
 */
export function createCliLogger(level = 'info', stream: NodeJS.WriteStream = process.stdout): Logger {
  if (!stream.isTTY) return pino({ level, base: { name: 'flywheel' } }, stream);
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
