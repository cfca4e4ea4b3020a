/**
 * `tapwatch token create|list|revoke`: API tokens with roles, managed in the
 * tokens file on the machine that runs the API (a running server picks up
 * changes at once). The token itself is printed once, at creation.
 */
import { ConfigError, loadConfig } from '@tapwatch/schema';
import { CliError, parseCommand, runCli } from '../client.js';
import { ROLES, TokenFile, tokensPath, type Role } from '@tapwatch/dashboard-api';

export const TOKEN_HELP = `Usage: tapwatch token create --role ROLE --name NAME
       tapwatch token list
       tapwatch token revoke ID|NAME

Manages API tokens with roles, kept hashed in the tokens file
($TAPWATCH_TOKENS_FILE, else tokens.json in the data directory). A running
tapwatch applies changes at once. \`create\` prints the token on stdout, once:
store it now.

Roles:
  alerts   read the alert stream and alerts, acknowledge and resolve them
  sql      everything alerts may, plus SQL and the call history (calls, tools, sessions, stats)
  ingest   send events (POST /v1/ingest): give this one to taps
  admin    everything (TAPWATCH_TOKEN is always admin)

  --role ROLE    alerts, sql, ingest or admin (create)
  --name NAME    a name to tell tokens apart (create)
  --data DIR     the data directory (default $TAPWATCH_DATA_DIR, else .tapwatch)
  --file PATH    the tokens file itself (default $TAPWATCH_TOKENS_FILE)
  --json         list as JSON
  -h, --help     show this help
`;

export async function tokenCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    'token',
    argv,
    {
      role: { type: 'string' },
      name: { type: 'string' },
      data: { type: 'string' },
      file: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    TOKEN_HELP,
  );
  if (typeof parsed === 'number') return parsed;
  return runCli('token', async () => {
    const { values, positionals } = parsed;
    let dataDir: string;
    let file: string | undefined;
    try {
      const config = loadConfig(process.env, { TAPWATCH_DATA_DIR: values.data as string | undefined, TAPWATCH_TOKENS_FILE: values.file as string | undefined });
      dataDir = config.TAPWATCH_DATA_DIR;
      file = config.TAPWATCH_TOKENS_FILE;
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(err.message, 2);
      throw err;
    }
    const tokens = new TokenFile(tokensPath(dataDir, file));
    const [action, ...rest] = positionals;
    switch (action) {
      case 'create': {
        if (rest.length > 0) throw new CliError(`unexpected argument ${rest[0]}`, 2);
        const role = values.role as string | undefined;
        if (!role || !(ROLES as readonly string[]).includes(role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}`, 2);
        if (typeof values.name !== 'string') throw new CliError('--name is required: a name to tell tokens apart', 2);
        const { token, record } = tokens.create(values.name, role as Role);
        process.stdout.write(`${token}\n`);
        process.stderr.write(
          `tapwatch token: created ${record.name} (id ${record.id}, role ${record.role}) in ${tokens.path}; the token above is shown only now\n`,
        );
        return 0;
      }
      case 'list': {
        const list = tokens.list().map(({ id, name, role, created }) => ({ id, name, role, created }));
        if (values.json) {
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          return 0;
        }
        if (list.length === 0) {
          process.stdout.write(`no tokens in ${tokens.path}\n`);
          return 0;
        }
        const w = (k: 'id' | 'name' | 'role') => Math.max(k.length, ...list.map((t) => t[k].length));
        const [wi, wn, wr] = [w('id'), w('name'), w('role')];
        process.stdout.write(`${'id'.padEnd(wi)}  ${'name'.padEnd(wn)}  ${'role'.padEnd(wr)}  created\n`);
        for (const t of list) process.stdout.write(`${t.id.padEnd(wi)}  ${t.name.padEnd(wn)}  ${t.role.padEnd(wr)}  ${t.created}\n`);
        return 0;
      }
      case 'revoke': {
        if (rest.length !== 1) throw new CliError('revoke takes one token id or name', 2);
        const gone = tokens.revoke(rest[0]!);
        if (!gone) throw new CliError(`no token with id or name ${rest[0]} in ${tokens.path}`);
        process.stderr.write(`tapwatch token: revoked ${gone.name} (id ${gone.id}, role ${gone.role})\n`);
        return 0;
      }
      default:
        throw new CliError(
          action === undefined ? `expected create, list or revoke\n\n${TOKEN_HELP}` : `unknown action ${action}: expected create, list or revoke`,
          2,
        );
    }
  });
}
