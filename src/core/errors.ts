/**
 * Errors that cross the API boundary. Codes and HTTP statuses follow MLflow's
 * `mlflow/exceptions.py`, so MLflow clients map them to the same exceptions.
 */
export const ERROR_STATUS = {
  INVALID_PARAMETER_VALUE: 400,
  RESOURCE_ALREADY_EXISTS: 400,
  BAD_REQUEST: 400,
  RESOURCE_DOES_NOT_EXIST: 404,
  NOT_FOUND: 404,
  ENDPOINT_NOT_FOUND: 404,
  PERMISSION_DENIED: 403,
  UNAUTHENTICATED: 401,
  CUSTOMER_UNAUTHORIZED: 401,
  ABORTED: 409,
  ALREADY_EXISTS: 409,
  RESOURCE_CONFLICT: 409,
  REQUEST_LIMIT_EXCEEDED: 429,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  INTERNAL_ERROR: 500,
  INVALID_STATE: 500,
  DATA_LOSS: 500,
  NOT_IMPLEMENTED: 501,
  TEMPORARILY_UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** MLflow 3 adds an error class beside the code; clients read only code and message. */
const ERROR_CLASS: Partial<Record<ErrorCode, string>> = {
  RESOURCE_DOES_NOT_EXIST: 'RESOURCE_NOT_FOUND',
  NOT_FOUND: 'RESOURCE_NOT_FOUND',
};

export class FlywheelError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlywheelError';
    this.code = code;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toJSON(): { error_code: string; message: string; error_class: string } {
    return { error_code: this.code, message: this.message, error_class: ERROR_CLASS[this.code] ?? this.code };
  }
}

export const invalidParameter = (message: string) => new FlywheelError('INVALID_PARAMETER_VALUE', message);
export const notFound = (message: string) => new FlywheelError('RESOURCE_DOES_NOT_EXIST', message);
export const alreadyExists = (message: string) => new FlywheelError('RESOURCE_ALREADY_EXISTS', message);

export function isFlywheelError(e: unknown): e is FlywheelError {
  return e instanceof FlywheelError;
}
