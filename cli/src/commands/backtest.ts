/**
 * `tapwatch backtest [--from ISO] [--to ISO] [--data DIR] [--json]`: replays
 * stored history through the current detectors and prints what would have
 * fired. Nothing is stored. With the embedded engine, stop `tapwatch up` first
 * (one process per data directory) or point CLICKHOUSE_URL at a server.
 */
import { HELP_OPTION, parseFlags } from '../flags.js';
import { ConfigError, SEVERITY_RANK, loadConfig, printable, setLogLevel, type Alert } from '@tapwatch/schema';
import { RulesError, backtest } from '@tapwatch/analyzer';
import { detectionConfig, openStore } from '../services/shared.js';

export const BACKTEST_HELP = `Usage: tapwatch backtest [--from ISO] [--to ISO] [--rules FILE] [--data DIR] [--json]

Replays the stored call history through the current detectors and reports
what would have fired, without storing any alert.

Options:
  --from ISO     start of the replay (default: the first stored event)
  --to ISO       end of the replay (default: the last stored event)
  --rules FILE   an extra rules file (YAML or JSON) to try, after the built-in rules and
                 TAPWATCH_RULES; repeat for several
  --data DIR     embedded data directory (default $TAPWATCH_DATA_DIR, else .tapwatch);
                 stop a running \`tapwatch up\` on it first
  --json         print the report as JSON
  -h, --help     show this help
`;

/** Renders a one-line progress bar: on a terminal in place, otherwise every 10 %. */
function progressBar(stream: NodeJS.WriteStream): (done: number, total: number) => void {
  let lastTenth = -1;
  return (done, total) => {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const filled = Math.round(ratio * width);
    const line = `backtest [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.round(ratio * 100)}% ${done.toLocaleString('en')} events`;
    if (stream.isTTY) stream.write(`\r${line}`);
    else if (Math.floor(ratio * 10) > lastTenth) {
      lastTenth = Math.floor(ratio * 10);
      stream.write(`${line}\n`);
    }
  };
}

export async function backtestCommand(argv: string[]): Promise<number> {
  const values = parseFlags(
    'backtest',
    argv,
    {
      from: { type: 'string' },
      to: { type: 'string' },
      rules: { type: 'string', multiple: true },
      data: { type: 'string' },
      json: { type: 'boolean' },
      ...HELP_OPTION,
    },
    BACKTEST_HELP,
  );
  if (typeof values === 'number') return values;
  for (const [name, v] of [
    ['--from', values.from],
    ['--to', values.to],
  ] as const) {
    if (v !== undefined && Number.isNaN(Date.parse(v))) {
      process.stderr.write(`tapwatch backtest: ${name} ${v} is not a date/time (use ISO 8601, e.g. 2026-11-24T10:00:00Z)\n`);
      return 2;
    }
  }
  let config;
  try {
    config = loadConfig(process.env, { TAPWATCH_DATA_DIR: values.data });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tapwatch backtest: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  setLogLevel(config.TAPWATCH_LOG_LEVEL === 'info' ? 'warn' : config.TAPWATCH_LOG_LEVEL);
  let store;
  try {
    store = await openStore(config);
    await store.migrate();
  } catch (err) {
    process.stderr.write(`tapwatch backtest: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    let report;
    try {
      report = await backtest(store, detectionConfig(config, values.rules ?? []), {
        from: values.from,
        to: values.to,
        onProgress: progressBar(process.stderr),
      });
    } catch (err) {
      if (err instanceof RulesError) {
        process.stderr.write(`tapwatch backtest: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
    if (process.stderr.isTTY) process.stderr.write('\n');
    if (values.json) {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      return 0;
    }
    process.stdout.write(`replayed ${report.events} events from ${report.from ?? '-'} to ${report.to ?? '-'}: ${report.alertCount} alerts would have fired\n`);
    const rows = Object.entries(report.byDetector).sort(([a], [b]) => a.localeCompare(b));
    for (const [detector, counts] of rows) {
      const parts = (Object.keys(SEVERITY_RANK) as (keyof typeof SEVERITY_RANK)[]).filter((s) => counts[s]).map((s) => `${s} ${counts[s]}`);
      process.stdout.write(`  ${detector.padEnd(28)} ${parts.join(', ')}\n`);
    }
    for (const a of report.alerts.slice(0, 50)) process.stdout.write(`${formatAlert(a)}\n`);
    if (report.alerts.length > 50) process.stdout.write(`… and ${report.alertCount - 50} more (use --json for all)\n`);
    return 0;
  } finally {
    await store.close();
  }
}

function formatAlert(a: Alert): string {
  return `${a.time} ${a.severity.toUpperCase().padEnd(8)} ${a.detector.padEnd(24)} ${printable(a.title.replace(/[\r\n]+/g, ' '))} [session ${printable(a.session)}]`;
}
