/**
 * The collector's commands (`tapwatch tap`, `proxy`, `wrap`, `unwrap`), for the CLI. A separate
 * entry point from the library (index.ts), so the tap loads only what it runs.
 */
export { tapCommand, TAP_HELP } from './tap/command.js';
export { proxyCommand, PROXY_HELP } from './proxy/command.js';
export { wrapCommand, WRAP_HELP } from './wrap/command.js';
