import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAst, cteNames, explainLines, parseAst } from '../../../store/src/sql-guard.js';
import { toCsv, toTable } from '../../src/sql-format.js';

const OPTIONS = { database: 'tapwatch', tables: ['tool_calls', 'alerts', 'calls_per_hour'] };

/** An EXPLAIN AST dump as the engine prints it (indentation = depth). */
const ast = (...lines: string[]) => parseAst(lines);

const select = (...table: string[]) =>
  ast(
    'SelectWithUnionQuery (children 1)',
    ' ExpressionList (children 1)',
    '  SelectQuery (children 2)',
    '   ExpressionList (children 1)',
    '    Asterisk',
    '   TablesInSelectQuery (children 1)',
    '    TablesInSelectQueryElement (children 1)',
    '     TableExpression (children 1)',
    ...table.map((l) => `      ${l}`),
  );

test('EXPLAIN output decodes from CSV (embedded engine) and TabSeparated (server), newlines in names kept', () => {
  assert.deepEqual(explainLines('"SelectWithUnionQuery (children 1)"\n" TableIdentifier a.""b\nc"""\n'), [
    'SelectWithUnionQuery (children 1)',
    ' TableIdentifier a."b\nc"',
  ]);
  assert.deepEqual(explainLines('SelectWithUnionQuery (children 1)\n TableIdentifier a\\nb\n'), ['SelectWithUnionQuery (children 1)', ' TableIdentifier a\nb']);
  const [node] = parseAst(['   TableIdentifier tapwatch.alerts (alias a)']);
  assert.deepEqual(node, { depth: 3, kind: 'TableIdentifier', rest: 'tapwatch.alerts (alias a)', children: 0 });
});

test('tapwatch tables, qualified or not, and CTE names pass; everything else is refused with what is wrong', () => {
  assert.doesNotThrow(() => checkAst(select('TableIdentifier tool_calls'), 'SELECT * FROM tool_calls', OPTIONS));
  assert.doesNotThrow(() => checkAst(select('TableIdentifier tapwatch.calls_per_hour (alias c)'), '…', OPTIONS));
  assert.doesNotThrow(() => checkAst(select('TableIdentifier mine'), 'WITH mine AS (SELECT 1) SELECT * FROM mine', OPTIONS));
  const refuse = (nodes: ReturnType<typeof ast>, re: RegExp, code = 'TAPWATCH_SQL_FORBIDDEN', sql = 'SELECT …') =>
    assert.throws(
      () => checkAst(nodes, sql, OPTIONS),
      (e: { code: string; message: string }) => e.code === code && re.test(e.message),
    );
  refuse(select('TableIdentifier system.tables'), /system\.tables is outside tapwatch's database/);
  refuse(select('TableIdentifier other.tool_calls'), /outside/);
  refuse(select('TableIdentifier sys tem.ta', 'bles'), /is not one of tapwatch's tables/);
  refuse(
    select('TableIdentifier nope'),
    /unknown table nope: query one of tapwatch's tables and views: tool_calls, alerts, calls_per_hour/,
    'TAPWATCH_SQL_BAD_QUERY',
  );
  refuse(select('Function url (children 1)', ' ExpressionList (children 1)', "  Literal 'http://x'"), /table function url\(\) is not allowed/);
  refuse(ast('InsertQuery (children 1)', ' Identifier x'), /only read-only queries.*Insert/, 'TAPWATCH_SQL_NOT_READ_ONLY');
  refuse(ast('SelectWithUnionQuery (children 2)', ' ExpressionList (children 1)', " Literal '/tmp/x'"), /INTO OUTFILE/);
  refuse(
    ast(
      'SelectWithUnionQuery (children 1)',
      ' ExpressionList (children 1)',
      '  SelectQuery (children 2)',
      '   ExpressionList (children 1)',
      '    Function file (children 1)',
    ),
    /function file\(\) is not allowed/,
  );
  refuse(
    ast('SelectWithUnionQuery (children 1)', ' ExpressionList (children 1)', '  SelectQuery (children 2)', '   Function dictGetString (children 1)'),
    /dictGetString/,
  );
  refuse(
    ast('SelectWithUnionQuery (children 1)', ' ExpressionList (children 1)', '  SelectQuery (children 2)', '   Identifier INFORMATION_SCHEMA.tables'),
    /outside/,
  );
  refuse(ast('SelectWithUnionQuery (children 1)', ' ExpressionList (children 1)', '  SelectQuery (children 2)', '   Set'), /SETTINGS clauses are not allowed/);
  assert.deepEqual([...cteNames('WITH a AS (SELECT 1), `b` AS (SELECT 2), 3 AS c SELECT 1')].sort(), ['a', 'b']);
});

test('CSV quotes what needs quoting; the table aligns, right-aligns numbers and escapes control characters', () => {
  const result = {
    columns: [
      { name: 'tool', type: 'String' },
      { name: 'n', type: 'UInt64' },
      { name: 'tags', type: 'Array(String)' },
    ],
    rows: [
      { tool: 'read', n: 12, tags: ['a', 'b'] },
      { tool: 'say "hi",\nbye', n: 3, tags: [] },
    ],
  };
  assert.equal(toCsv(result), 'tool,n,tags\r\nread,12,"[""a"",""b""]"\r\n"say ""hi"",\nbye",3,[]\r\n');
  assert.equal(
    toTable(result),
    ['tool               n  tags', '----------------  --  ---------', 'read              12  ["a","b"]', 'say "hi",\\x0abye   3  []', '(2 rows)', ''].join(
      '\n',
    ),
  );
});
