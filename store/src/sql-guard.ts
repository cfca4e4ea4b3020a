/**
 * The guard on user SQL, before it runs: ClickHouse's own parser reads the
 * query (`EXPLAIN AST`, which parses without touching any table), and the
 * tree it prints is walked for what the query names. Only one SELECT is
 * allowed (user-sql.ts refuses a body of more than one statement first, by the
 * engine's parser too), reading only tapwatch's tables and views: no other database
 * (`system`, `information_schema`…), no table functions (`file`, `url`,
 * `s3`, `remote`, `mysql`, `numbers`…), no functions that read files or
 * dictionaries, no SETTINGS, FORMAT or INTO OUTFILE clauses. Names come only
 * from the engine's trees, never from the text, so comments and string
 * literals cannot change what is checked.
 *
 * This is a second wall, not the first: the reader runs with `readonly=1`
 * (and on a server as a user granted SELECT on tapwatch's database only), so
 * writes and setting changes are refused by the database even if the guard
 * missed something. The guard closes what `readonly` leaves open: reading
 * files (`file()` works under readonly), other servers, system tables.
 */
import { TapwatchError } from '@tapwatch/schema';
import { StoreErrorCode } from './errors.js';

/** One line of `EXPLAIN AST` output. */
export interface AstNode {
  depth: number;
  kind: string;
  /** What follows the kind: a name, a literal, `(children N)`, `(alias x)`. */
  rest: string;
  children: number;
}

export interface GuardOptions {
  /** The database user SQL runs in (unqualified names resolve there). */
  database: string;
  /** The tables and views users may read. */
  tables: readonly string[];
}

/** Scalar functions that read files, dictionaries or other tables, or hold a thread; refused anywhere in a query. */
const FORBIDDEN_FUNCTIONS =
  /^(file|dictget\w*|dicthas|dictisin|dictgethierarchy|dictgetchildren|dictgetdescendants|dictgetall|joinget\w*|getmacro|getserversetting\w*|filesystem\w*|catboostevaluate|modelevaluate|evalmlmethod|sleep|sleepeachrow|addresstoline\w*|addresstosymbol|demangle|currentprofiles|enabledprofiles|defaultprofiles|currentroles|enabledroles|defaultroles)$/i;

/** Databases that are never tapwatch's, whatever an identifier's context. */
const FOREIGN_DATABASES = new Set(['system', 'information_schema', 'default']);

const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Functions whose right operand may name a table (`x IN t`). */
const IN_FUNCTIONS = /^(global)?(not)?(null)?in$/i;

/**
 * Decodes `EXPLAIN AST` output as the reader returns it: chDB answers in CSV
 * (each line one quoted field), a server in TabSeparated (escaped). Either
 * way one AST line per row, with newlines inside names kept inside the row.
 */
export function explainLines(text: string): string[] {
  if (text.startsWith('"')) return parseCsvColumn(text);
  return text
    .split('\n')
    .filter((l, i, all) => !(l === '' && i === all.length - 1))
    .map((l) => l.replace(/\\(.)/g, (_m, c: string) => ({ n: '\n', t: '\t', r: '\r', '0': '\0', b: '\b', f: '\f' })[c] ?? c));
}

function parseCsvColumn(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '\n') {
      i++;
      continue;
    }
    if (text[i] !== '"') {
      const end = text.indexOf('\n', i);
      out.push(text.slice(i, end < 0 ? text.length : end));
      i = end < 0 ? text.length : end + 1;
      continue;
    }
    let v = '';
    i++;
    for (;;) {
      const q = text.indexOf('"', i);
      if (q < 0) throw new Error('unterminated CSV field in EXPLAIN output');
      v += text.slice(i, q);
      if (text[q + 1] === '"') {
        v += '"';
        i = q + 2;
      } else {
        i = q + 1;
        break;
      }
    }
    out.push(v);
  }
  return out;
}

/** Parses the lines of `EXPLAIN AST` into nodes (depth from the indentation). */
export function parseAst(lines: readonly string[]): AstNode[] {
  return lines.map((line) => {
    const depth = line.length - line.trimStart().length;
    const body = line.slice(depth);
    const space = body.indexOf(' ');
    const kind = space < 0 ? body : body.slice(0, space);
    const rest = space < 0 ? '' : body.slice(space + 1);
    const m = /\(children (\d+)\)\s*$/.exec(rest);
    return { depth, kind, rest: m ? rest.slice(0, m.index).trim() : rest.trim(), children: m ? Number(m[1]) : 0 };
  });
}

/**
 * Names the engine's parser gave common table expressions (`WITH name AS (…)`), from
 * `EXPLAIN QUERY TREE run_passes = 0` (the parsed query as a tree, nothing resolved or run):
 * `EXPLAIN AST` prints a WITH element without its name. Comments and string literals are gone
 * by then, so they cannot add a name. A name with a line break could forge a line here: the
 * worst it can do is make an unknown table look like a CTE, which `checkNames` still refuses
 * when it names a table of tapwatch's database, and the engine when it names nothing.
 */
export function queryTreeCteNames(lines: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const line of lines) {
    const m = /^\s*QUERY id: \d+,.*\bis_cte: 1, cte_name: (.*)$/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

/** Names a checked query reads that are not tapwatch's tables: settled by `checkNames` once the engine has said more. */
export interface UnresolvedNames {
  /** Unqualified names in FROM/JOIN that are no table users may read: each must be a CTE of the query. */
  tables: string[];
  /** Unqualified names right of IN (a table, or an alias): none may name a table of tapwatch's database. */
  inOperands: string[];
}

/**
 * The last check, with what the engine said about the names `checkAst` left open: every
 * unresolved FROM name must be a CTE (else it is an unknown table), and no open name may be one
 * of the tables of tapwatch's database (`existing`) users may not read — a CTE of that name would
 * shadow it in one scope and leave it readable in another.
 */
export function checkNames(open: UnresolvedNames, ctes: ReadonlySet<string>, existing: ReadonlySet<string>, options: GuardOptions): void {
  const list = options.tables.join(', ');
  for (const name of open.tables) if (!ctes.has(name)) throw unknownTable(name, list);
  for (const name of [...open.tables, ...open.inOperands]) {
    if (existing.has(name)) throw unknownTable(name, list);
  }
}

function forbidden(message: string): TapwatchError {
  return new TapwatchError(StoreErrorCode.FORBIDDEN, message, { httpStatus: 403 });
}

/** Strips a trailing `(alias x)` from a name. */
function nameOf(rest: string): string {
  return rest.replace(/\s*\(alias .*\)$/s, '').trim();
}

/**
 * Checks a parsed query; throws a TapwatchError saying what is not allowed
 * (403) or unknown (400, with the tables that exist).
 */
export function checkAst(nodes: readonly AstNode[], options: GuardOptions): UnresolvedNames {
  const root = nodes[0];
  if (!root) throw new TapwatchError(StoreErrorCode.BAD_QUERY, 'empty query', { httpStatus: 400 });
  const allowed = new Set(options.tables.map((t) => t.toLowerCase()));
  const list = options.tables.join(', ');
  if (root.kind !== 'SelectWithUnionQuery' && root.kind !== 'SelectIntersectExceptQuery') {
    throw new TapwatchError(
      StoreErrorCode.NOT_READ_ONLY,
      `only read-only queries are allowed: /v1/sql runs one SELECT, and this is ${root.kind.replace(/Query$/, '') || 'something else'}`,
      {
        httpStatus: 403,
      },
    );
  }
  // The root's only child is the list of SELECTs; anything more is FORMAT, INTO OUTFILE or SETTINGS on the whole query.
  if (root.children > 1)
    throw forbidden(
      'FORMAT, INTO OUTFILE and SETTINGS clauses are not allowed: choose the output with "format" in the request; limits are fixed by the server',
    );
  const open: UnresolvedNames = { tables: [], inOperands: [] };
  const children = childIndices(nodes);
  nodes.forEach((node, i) => {
    if (node.kind === 'Set' || node.kind === 'SetQuery')
      throw forbidden('SETTINGS clauses are not allowed: the server fixes the limits (TAPWATCH_SQL_TIMEOUT_S, TAPWATCH_SQL_MAX_ROWS)');
    if (node.kind === 'TableExpression') {
      const child = nodes[i + 1];
      if (child && child.depth === node.depth + 1 && child.kind === 'Function') {
        throw forbidden(`table function ${nameOf(child.rest)}() is not allowed: query tapwatch's tables and views (${list})`);
      }
    }
    if (node.kind === 'TableIdentifier') {
      const name = checkTable(nameOf(node.rest), options.database, allowed, list);
      if (name !== undefined) open.tables.push(name);
    }
    // `x IN name` reads the table `name` as a set, though the parser calls it an Identifier.
    if (node.kind === 'Function' && IN_FUNCTIONS.test(nameOf(node.rest))) {
      const args = children[i]?.[0];
      const right = args === undefined ? undefined : children[args]?.[1];
      const operand = right === undefined ? undefined : nodes[right];
      if (operand?.kind === 'Identifier') {
        const name = checkTable(nameOf(operand.rest), options.database, allowed, list);
        if (name !== undefined) open.inOperands.push(name);
      }
    }
    if (node.kind === 'Identifier') {
      const parts = nameOf(node.rest).split('.');
      if (parts.length > 1 && FOREIGN_DATABASES.has(parts[0]!.toLowerCase())) {
        throw forbidden(`${parts.slice(0, 2).join('.')} is outside tapwatch's database: query tapwatch's tables and views (${list})`);
      }
    }
    if (node.kind === 'Function' && FORBIDDEN_FUNCTIONS.test(nameOf(node.rest))) {
      throw forbidden(`function ${nameOf(node.rest)}() is not allowed in /v1/sql (it reads files, dictionaries or server internals, or holds a thread)`);
    }
  });
  return open;
}

/** The indices of each node's children, in order (from the depths of the pre-order dump). */
function childIndices(nodes: readonly AstNode[]): number[][] {
  const out: number[][] = nodes.map(() => []);
  const stack: number[] = [];
  nodes.forEach((node, i) => {
    while (stack.length > 0 && nodes[stack[stack.length - 1]!]!.depth >= node.depth) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent !== undefined) out[parent]!.push(i);
    stack.push(i);
  });
  return out;
}

/** Refuses a table name outside tapwatch's tables; returns an unqualified name that is none of them (a CTE, or unknown). */
function checkTable(name: string, database: string, allowed: Set<string>, list: string): string | undefined {
  const parts = name.split('.');
  if (parts.length > 2 || !parts.every((p) => PLAIN_NAME.test(p))) {
    throw forbidden(`table ${JSON.stringify(name)} is not one of tapwatch's tables and views (${list})`);
  }
  const [first, second] = parts as [string, string | undefined];
  if (second !== undefined) {
    if (first !== database) throw forbidden(`${name} is outside tapwatch's database: query tapwatch's tables and views (${list})`);
    if (!allowed.has(second.toLowerCase())) throw unknownTable(name, list);
    return undefined;
  }
  return allowed.has(first.toLowerCase()) ? undefined : first;
}

function unknownTable(name: string, list: string): TapwatchError {
  return new TapwatchError(StoreErrorCode.BAD_QUERY, `unknown table ${name}: query one of tapwatch's tables and views: ${list}`, { httpStatus: 400 });
}
