#!/usr/bin/env node
// The official Compose Specification JSON schema, for validating
// docker-compose.yml in tests — without keeping a copy of it in this repo.
//
// The schema ships inside the Go module github.com/compose-spec/compose-go/v2
// (the loader `docker compose` itself uses), at schema/compose-spec.json. We
// fetch that module through the Go module proxy with `go mod download`, which
// checks it against the Go checksum database and caches it in Go's module
// cache (GOMODCACHE, default $HOME/go/pkg/mod): only the first run hits the
// network.
//
// Library:  import { loadComposeSchema, composeSchemaPath, COMPOSE_GO_VERSION } from './compose-schema.mjs'
// CLI:      node test/support/compose-schema.mjs   (prints the schema's path; warms the cache)
//
// Only Node's standard library is used, so this runs before `npm ci`/builds.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const COMPOSE_GO_MODULE = 'github.com/compose-spec/compose-go/v2';
/** Pinned: bump deliberately (`go list -m -versions github.com/compose-spec/compose-go/v2`). */
export const COMPOSE_GO_VERSION = 'v2.16.2';
/** Where the schema sits inside the module. */
export const SCHEMA_PATH_IN_MODULE = 'schema/compose-spec.json';

const DOWNLOAD_TIMEOUT_MS = 120_000;

/**
 * Download (or find in Go's cache) the pinned compose-go module and return the
 * absolute path of its compose-spec.json. Throws with a clear message when
 * `go` is missing or the download fails.
 *
 * @returns {string}
 */
export function composeSchemaPath() {
  const spec = `${COMPOSE_GO_MODULE}@${COMPOSE_GO_VERSION}`;
  const res = runGo(['mod', 'download', '-json', spec]);
  if (!res) {
    throw new Error(
      'the Go toolchain (`go`) is required to fetch the Compose Specification schema ' +
        `(${spec}) and was found neither on PATH nor in $GOROOT/bin or /usr/local/go/bin: ` +
        'install Go (e.g. `apt-get install golang-go`)',
    );
  }
  if (res.error) throw new Error(`\`go mod download ${spec}\` failed to run: ${res.error.message}`);
  /** @type {{ Dir?: string, Error?: string }} */
  let info = {};
  try {
    info = JSON.parse(res.stdout);
  } catch {
    // Not JSON: reported below with stderr.
  }
  if (res.status !== 0 || info.Error || !info.Dir) {
    const why = info.Error ?? (res.stderr.trim() || res.stdout.trim() || `exit ${res.status}`);
    throw new Error(`\`go mod download ${spec}\` failed: ${why}`);
  }
  const file = path.join(info.Dir, SCHEMA_PATH_IN_MODULE);
  if (!fs.existsSync(file)) {
    throw new Error(`${spec} has no ${SCHEMA_PATH_IN_MODULE} (looked in ${info.Dir}); was the schema moved?`);
  }
  return file;
}

/** The environment for `go`: module mode, and a module cache even where HOME is unset. */
function goEnv() {
  const env = { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=mod`.trim(), GO111MODULE: 'on' };
  // Go finds its module cache through GOMODCACHE, GOPATH or $HOME/go; give it the last when none is set.
  if (!env.GOMODCACHE && !env.GOPATH && !env.HOME) env.GOPATH = path.join(os.homedir(), 'go');
  return env;
}

/**
 * Runs `go` with `args`, trying PATH first, then the usual install locations
 * (a non-login shell, as CI may use, often lacks Go's directory on PATH).
 * Returns undefined when no `go` binary exists.
 *
 * @param {string[]} args
 * @returns {import('node:child_process').SpawnSyncReturns<string> | undefined}
 */
function runGo(args) {
  const candidates = ['go'];
  if (process.env.GOROOT) candidates.push(path.join(process.env.GOROOT, 'bin', 'go'));
  candidates.push('/usr/local/go/bin/go');
  for (const go of candidates) {
    const res = spawnSync(go, args, {
      // Outside any Go module, so no go.mod/go.work nearby can change what is resolved.
      cwd: os.tmpdir(),
      env: goEnv(),
      encoding: 'utf8',
      timeout: DOWNLOAD_TIMEOUT_MS,
    });
    if (/** @type {NodeJS.ErrnoException | undefined} */ (res.error)?.code === 'ENOENT') continue;
    return res;
  }
  return undefined;
}

/**
 * The parsed Compose Specification schema (a JSON Schema object).
 *
 * @returns {{ path: string, schema: Record<string, unknown> }}
 */
export function loadComposeSchema() {
  const file = composeSchemaPath();
  return { path: file, schema: JSON.parse(fs.readFileSync(file, 'utf8')) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${composeSchemaPath()}\n`);
  } catch (err) {
    process.stderr.write(`compose-schema: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
