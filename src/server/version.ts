/** The MLflow server version Flywheel answers on `/version`: clients compare it to pick API features. */
export const MLFLOW_COMPAT_VERSION = '3.1.0';
export const FLYWHEEL_VERSION = '0.1.0';
