/** The long-running services of `tapwatch`, each composed in its own file from the pieces in shared.ts. */
import { TapwatchError, type Config } from '@tapwatch/schema';
import { startAnalyzer } from './analyzer.js';
import { startApi } from './api.js';
import { startIngest } from './ingest.js';
import type { Service } from './shared.js';
import { startUp } from './up.js';

export type { Service } from './shared.js';
export { detectionConfig } from './shared.js';

export const SERVICES = ['up', 'analyzer', 'api', 'ingest'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Starts the named service from a parsed config (also used by tests). */
export function startService(name: ServiceName, config: Config): Promise<Service> {
  switch (name) {
    case 'up':
      return startUp(config);
    case 'analyzer':
      return startAnalyzer(config);
    case 'api':
      return startApi(config);
    case 'ingest':
      return startIngest(config);
    default:
      throw new TapwatchError('TAPWATCH_UNKNOWN_COMMAND', `unknown service ${String(name)}`);
  }
}
