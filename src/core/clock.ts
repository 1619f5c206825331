/** Milliseconds since the epoch; one place to read time so tests can reason about it. */
export const nowMs = (): number => Date.now();
