/**
 * What the wrapped server can learn of the tap's credentials: nothing.
 *
 * The server is the program being watched, so it must not get tapwatch's
 * settings: `childEnvironment` leaves every `TAPWATCH_*` variable out of the
 * environment it is started with. A same-user process can still read the
 * tap's own initial environment in `/proc/<ppid>/environ`, so once the
 * settings are read `scrubSecrets` overwrites the secret values in the
 * process's environment block itself (through `/proc/self/mem`, Linux) and
 * removes them from `process.env`. Where that is not possible (another OS,
 * a locked-down kernel) it says so; a token in TAPWATCH_TOKEN_FILE or the
 * local ingest token never is in the environment.
 */
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';

/** TAPWATCH_* names whose values are secrets. */
const SECRET_NAME = /^TAPWATCH_\w*(?:TOKEN|SECRET|PASSWORD)\w*$/i;

/** The server's environment: the tap's without any TAPWATCH_* setting. */
export function childEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!/^TAPWATCH_/i.test(k)) out[k] = v;
  return out;
}

export type ScrubResult = { scrubbed: string[]; failed?: string };

/**
 * Overwrites the values of secret TAPWATCH_* variables in this process's initial environment
 * block (what `/proc/self/environ` shows) and deletes them from `process.env`. Call after the
 * settings were read.
 */
export function scrubSecrets(env: NodeJS.ProcessEnv = process.env): ScrubResult {
  const names = Object.keys(env).filter((k) => SECRET_NAME.test(k) && env[k]);
  if (names.length === 0) return { scrubbed: [] };
  let failed: string | undefined;
  if (process.platform === 'linux') {
    try {
      overwriteInitialEnvironment(names);
    } catch (err) {
      failed = (err as Error).message;
    }
  } else {
    failed = `no way to clear the environment on ${process.platform}`;
  }
  for (const n of names) delete env[n];
  return failed ? { scrubbed: names, failed } : { scrubbed: names };
}

function overwriteInitialEnvironment(names: string[]): void {
  // Fields 50 and 51 of /proc/self/stat: where the environment block starts and ends.
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[47]);
  const end = Number(fields[48]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start || end - start > 8 * 1024 * 1024) {
    throw new Error('cannot locate the environment block');
  }
  const fd = openSync('/proc/self/mem', 'r+');
  try {
    const block = Buffer.alloc(end - start);
    readSync(fd, block, 0, block.length, start);
    for (const name of names) {
      const needle = Buffer.from(`${name}=`);
      for (let at = block.indexOf(needle); at >= 0; at = block.indexOf(needle, at + 1)) {
        if (at > 0 && block[at - 1] !== 0) continue;
        const valueStart = at + needle.length;
        let valueEnd = block.indexOf(0, valueStart);
        if (valueEnd < 0) valueEnd = block.length;
        if (valueEnd > valueStart) writeSync(fd, Buffer.alloc(valueEnd - valueStart, 0x2a), 0, valueEnd - valueStart, start + valueStart);
      }
    }
    // Read back: a kernel that ignored the write must not be reported as done.
    const after = Buffer.alloc(end - start);
    readSync(fd, after, 0, after.length, start);
    for (const name of names) {
      const at = after.indexOf(`${name}=`);
      if (at >= 0 && after[at + name.length + 1] !== 0x2a && after[at + name.length + 1] !== 0) throw new Error(`${name} is still readable`);
    }
  } finally {
    closeSync(fd);
  }
}
