// Types for the plain-JS broker harness (kafka.mjs), so TypeScript tests can import it.
export declare const KAFKA_VERSION: string;
export interface RunningKafka {
  brokers: string;
  port: number;
  controllerPort: number;
  pid: number;
  dataDir: string;
  logFile: string;
  version: string;
  exited: Promise<unknown>;
  stop(): Promise<void>;
}
export declare function ensureKafka(options?: { version?: string; log?: (msg: string) => void }): Promise<{
  version: string;
  dir: string;
  libs: string;
  classpath: string;
  downloaded: boolean;
}>;
export declare function startKafka(options?: {
  port?: number;
  dataDir?: string;
  version?: string;
  readyTimeoutMs?: number;
  config?: Record<string, string | number | boolean>;
}): Promise<RunningKafka>;
