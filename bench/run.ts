/** `npm run bench -- [name…]`: runs the named benchmarks (all when none is named), one after another. */
const BENCHMARKS = ['log-batch', 'log-metric', 'search-runs', 'get-history', 'bulk-interval', 'artifact-store', 'pipeline-overhead', 'pipeline-cache-hit', 'monitoring-drift', 'serving'];

const names = process.argv.slice(2).filter((a) => a !== '--');
const unknown = names.filter((n) => !BENCHMARKS.includes(n));
if (unknown.length) {
  process.stderr.write(`unknown benchmark: ${unknown.join(', ')}; choose from ${BENCHMARKS.join(', ')}\n`);
  process.exit(2);
}
for (const name of names.length ? names : BENCHMARKS) {
  process.stderr.write(`${name}\n`);
  const bench: { run(): Promise<void> } = await import(`./${name}.js`);
  await bench.run();
}
