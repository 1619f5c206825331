import { invalidParameter, notFound, type FlywheelError } from '../core/index.js';

/** The errors of logging to a run, worded as MLflow words them; shared by the SQL write paths. */
export const runNotFound = (runId: string): FlywheelError => notFound(`Run with id=${runId} not found`);

export const runNotActive = (runId: string, stage: string): FlywheelError =>
  invalidParameter(`The run ${runId} must be in the 'active' state. Current state is ${stage}.`);

export const paramChanged = (runId: string, key: string, old: string, value: string): FlywheelError =>
  invalidParameter(
    `Changing param values is not allowed. Param with key='${key}' was already logged with value='${old}' for run ID='${runId}'. Attempted logging new value '${value}'.`,
  );
