/**
 * Flag parsing shared by the server-side commands: strict options, `--help`,
 * and the usage printed with a bad flag (exit 2).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `-h, --help`: every command takes it. */
export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

type Values<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

/**
 * Parses `argv` for `command` (`options` include HELP_OPTION). Returns the
 * values, or the exit code when the command is done already: 0 after
 * `--help`, 2 after a bad flag.
 */
export function parseFlags<const O extends Options>(command: string, argv: string[], options: O, help: string): Values<O> | number {
  let values: Values<O>;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options }));
  } catch (err) {
    process.stderr.write(`tapwatch ${command}: ${(err as Error).message}\n\n${help}`);
    return 2;
  }
  if ((values as { help?: boolean }).help) {
    process.stdout.write(help);
    return 0;
  }
  return values;
}
