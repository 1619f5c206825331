/** The server's Prometheus metrics (prom-client), in a registry of its own so several servers can share a process. */
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class ServingMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'endpoint' | 'status' | 'model_version' | 'variant'>;
  readonly latency: Histogram<'endpoint' | 'status' | 'model_version' | 'variant'>;
  readonly batchSize: Histogram<'model_version'>;
  readonly inFlight: Gauge;
  readonly loadSeconds: Gauge<'model_version'>;
  readonly swaps: Counter;
  readonly loadFailures: Counter<'stage'>;
  readonly pollErrors: Counter;
  readonly modelInfo: Gauge<'model_name' | 'model_version'>;
  readonly logRecords: Counter<'outcome'>;

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'flywheel_serving_requests_total',
      help: 'Requests answered, by endpoint, HTTP status and the model version that answered',
      labelNames: ['endpoint', 'status', 'model_version', 'variant'],
      registers,
    });
    this.latency = new Histogram({
      name: 'flywheel_serving_request_duration_seconds',
      help: 'Time from request to answer, server side',
      labelNames: ['endpoint', 'status', 'model_version', 'variant'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'flywheel_serving_batch_size',
      help: 'Rows per model call (dynamic batching merges concurrent requests)',
      labelNames: ['model_version'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
      registers,
    });
    this.inFlight = new Gauge({ name: 'flywheel_serving_in_flight_requests', help: 'Requests being answered now', registers });
    this.loadSeconds = new Gauge({
      name: 'flywheel_serving_model_load_seconds',
      aggregator: 'max',
      help: 'Time to download, load and warm each model version served',
      labelNames: ['model_version'],
      registers,
    });
    this.swaps = new Counter({ name: 'flywheel_serving_model_swaps_total', help: 'Hot swaps to a new model version', registers });
    this.loadFailures = new Counter({
      name: 'flywheel_serving_model_load_failures_total',
      help: 'Model versions that failed to load (the last good model kept serving)',
      labelNames: ['stage'],
      registers,
    });
    this.pollErrors = new Counter({
      name: 'flywheel_serving_registry_poll_errors_total',
      help: 'Registry checks that failed (the registry was down or answered an error)',
      registers,
    });
    this.modelInfo = new Gauge({
      name: 'flywheel_serving_model_info',
      aggregator: 'max',
      help: 'The model version being served (1) and retired ones (0)',
      labelNames: ['model_name', 'model_version'],
      registers,
    });
    this.logRecords = new Counter({
      name: 'flywheel_serving_inference_log_records_total',
      help: 'Records handed to the inference log (failed: the sink threw, which it must not)',
      labelNames: ['outcome'],
      registers,
    });
    // With --workers N each worker has its own metrics: this says which process answered the scrape.
    new Gauge({ name: 'flywheel_serving_worker_info', help: 'The process that answered this scrape', labelNames: ['pid'], registers }).set({ pid: String(process.pid) }, 1);
    collectDefaultMetrics({ register: this.registry, prefix: 'flywheel_serving_process_' });
  }
}

/**
 * With `--workers N`: each worker answers the primary's requests for its metrics, and the primary serves
 * their sum (counters and histograms added, `max` for the load-time and model-info gauges).
 */
export function shareWithPrimary(metrics: ServingMetrics): void {
  new AggregatorRegistry(); // installs the worker's answer to the primary's requests
  AggregatorRegistry.setRegistries([metrics.registry]);
}

export const clusterRegistry = () => new AggregatorRegistry();
