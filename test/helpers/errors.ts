import { expect } from 'vitest';
import { FlywheelError } from '../../src/core/errors.js';

/** The FlywheelError a promise rejects with (fails the test if it resolves or rejects with anything else). */
export async function rejection(p: Promise<unknown>): Promise<FlywheelError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FlywheelError);
  return e as FlywheelError;
}
