// Types for the plain-JS ClickHouse HTTP front (clickhouse-http.mjs), so TypeScript tests can import it.
export interface RunningClickHouseHttp {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  stats: { requests: number };
  /** Makes storage unavailable: the port refuses connections; data stays. */
  stop(): Promise<void>;
  /** Storage is back, on the same port. */
  start(): Promise<void>;
  /** Runs SQL directly on the engine; the rows of FORMAT JSON. */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  shutdown(): Promise<void>;
}
export declare function startClickHouseHttp(options: { port?: number; dataDir: string }): Promise<RunningClickHouseHttp>;
