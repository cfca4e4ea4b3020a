/**
 * `tapwatch purge --agent A | --session S | --server S`: erases everything
 * tapwatch stored about one subject (for privacy requests) through
 * `POST /v1/purges` (admin), and prints what was deleted. The purge itself is
 * recorded; `--list` shows the records.
 */
import { printable } from '@tapwatch/schema';
import { CLIENT_HELP, CLIENT_OPTIONS, CliError, apiFailure, parseCommand, request, runCli, targetFrom } from '../client.js';

export const PURGE_HELP = `Usage: tapwatch purge (--agent A | --session S | --server S) [--yes] [options]
       tapwatch purge --list [options]

Deletes every call, session, server request, gap, tool definition and alert
stored about one agent, session or server, with the alerts' state and dead
letters, and records that it did (when, by whom, rows per table, and a
SHA-256 of the subject, not the subject). Needs an admin token. Without
--yes it only says what it would erase.

  --agent A      the agent to erase
  --session S    the session to erase
  --server S     the server to erase
  --yes          erase (without it: a dry run that asks for --yes)
  --list         show the purges recorded
  --json         print the answer as JSON
${CLIENT_HELP}
`;

const SUBJECTS = ['agent', 'session', 'server'] as const;

interface PurgeRecord {
  id: string;
  time: string;
  subject: string;
  subjectHash: string;
  by: string;
  rows: Record<string, number>;
}

export async function purgeCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    'purge',
    argv,
    {
      ...CLIENT_OPTIONS,
      agent: { type: 'string' },
      session: { type: 'string' },
      server: { type: 'string' },
      yes: { type: 'boolean' },
      list: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    PURGE_HELP,
  );
  if (typeof parsed === 'number') return parsed;
  return runCli('purge', async () => {
    const { values, positionals } = parsed;
    if (positionals.length > 0) throw new CliError(`unexpected argument ${positionals[0]}; see tapwatch purge --help`, 2);
    const target = targetFrom(values);
    if (values.list) {
      const res = await request(target, '/v1/purges', { method: 'GET' });
      if (!res.ok) throw await apiFailure(res);
      const { items } = (await res.json()) as { items: PurgeRecord[] };
      if (values.json) process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
      else if (items.length === 0) process.stdout.write('no purges recorded\n');
      else
        for (const p of items)
          process.stdout.write(`${p.time}  ${p.subject} sha256:${p.subjectHash.slice(0, 16)}…  by ${printable(p.by)}  ${describe(p.rows)}\n`);
      return 0;
    }
    const given = SUBJECTS.filter((s) => typeof values[s] === 'string');
    if (given.length !== 1) throw new CliError('name exactly one of --agent, --session and --server; see tapwatch purge --help', 2);
    const subject = given[0]!;
    const value = values[subject] as string;
    if (value.length === 0) throw new CliError(`--${subject} needs a value`, 2);
    if (!values.yes) {
      process.stdout.write(`would erase everything stored about ${subject} ${printable(value)}; run again with --yes to erase it\n`);
      return 1;
    }
    const res = await request(target, '/v1/purges', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ [subject]: value }),
    });
    if (!res.ok) throw await apiFailure(res);
    const record = (await res.json()) as PurgeRecord;
    if (values.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
    else process.stdout.write(`erased ${subject} ${printable(value)}: ${describe(record.rows)} (purge ${record.id})\n`);
    return 0;
  });
}

function describe(rows: Record<string, number>): string {
  const parts = Object.entries(rows)
    .filter(([, n]) => n > 0)
    .map(([t, n]) => `${t} ${n}`);
  return parts.length > 0 ? `${parts.join(', ')} rows` : 'nothing stored';
}
