import { FlywheelError } from '../core/errors.js';

/** A pipeline that cannot be built: a cycle, an ill-typed or unknown reference, a bad name or parameter. */
export class PipelineDefinitionError extends FlywheelError {
  constructor(message: string) {
    super('INVALID_PARAMETER_VALUE', message);
    this.name = 'PipelineDefinitionError';
  }
}

/** An attempt of a step ran past its `timeoutMs`. */
export class StepTimeoutError extends Error {
  constructor(stepName: string, timeoutMs: number) {
    super(`step '${stepName}' timed out after ${timeoutMs} ms`);
    this.name = 'StepTimeoutError';
  }
}

/** The run was cancelled (Ctrl-C, SIGTERM, or the caller's AbortSignal) while the step ran. */
export class StepCancelledError extends Error {
  constructor(stepName: string, reason: string) {
    super(`step '${stepName}' cancelled: ${reason}`);
    this.name = 'StepCancelledError';
  }
}
