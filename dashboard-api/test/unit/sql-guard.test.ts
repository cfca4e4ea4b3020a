import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAst, checkNames, explainLines, parseAst, queryTreeCteNames } from '../../../store/src/sql-guard.js';
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
  assert.deepEqual(checkAst(select('TableIdentifier tool_calls'), OPTIONS), { tables: [], inOperands: [] });
  assert.deepEqual(checkAst(select('TableIdentifier tapwatch.calls_per_hour (alias c)'), OPTIONS), { tables: [], inOperands: [] });
  assert.deepEqual(checkAst(select('TableIdentifier mine'), OPTIONS), { tables: ['mine'], inOperands: [] }, 'left for checkNames: a CTE, or unknown');
  const refuse = (nodes: ReturnType<typeof ast>, re: RegExp, code = 'TAPWATCH_SQL_FORBIDDEN') =>
    assert.throws(
      () => checkAst(nodes, OPTIONS),
      (e: { code: string; message: string }) => e.code === code && re.test(e.message),
    );
  refuse(select('TableIdentifier system.tables'), /system\.tables is outside tapwatch's database/);
  refuse(select('TableIdentifier other.tool_calls'), /outside/);
  refuse(select('TableIdentifier sys tem.ta', 'bles'), /is not one of tapwatch's tables/);
  refuse(
    select('TableIdentifier tapwatch.nope'),
    /unknown table tapwatch\.nope: query one of tapwatch's tables and views: tool_calls, alerts/,
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
});

test('`x IN name` is a table reference: a foreign database is refused, an unqualified name is left to checkNames', () => {
  const inOf = (operand: string) =>
    ast(
      'SelectWithUnionQuery (children 1)',
      ' ExpressionList (children 1)',
      '  SelectQuery (children 1)',
      '   ExpressionList (children 1)',
      '    Function notIn (children 1)',
      '     ExpressionList (children 2)',
      '      Function plus (children 1)',
      '       ExpressionList (children 2)',
      '        Identifier a',
      '        Literal UInt64_1',
      `      ${operand}`,
    );
  assert.deepEqual(checkAst(inOf('Identifier webhook_deadletters'), OPTIONS), { tables: [], inOperands: ['webhook_deadletters'] });
  assert.deepEqual(checkAst(inOf('Identifier alerts'), OPTIONS), { tables: [], inOperands: [] });
  assert.throws(() => checkAst(inOf('Identifier other.t'), OPTIONS), /other\.t is outside/);
  assert.deepEqual(checkAst(inOf('Literal UInt64_1'), OPTIONS), { tables: [], inOperands: [] }, 'the left operand (Identifier a) is no table');
});

test("CTE names come from the engine's query tree, never from comments or strings", () => {
  // EXPLAIN QUERY TREE run_passes = 0 of:
  // /* , webhook_deadletters AS ( */ WITH mine AS (SELECT ', secret AS (' AS s) SELECT * FROM mine, webhook_deadletters
  const tree = [
    'QUERY id: 0',
    '  WITH',
    '    LIST id: 1, nodes: 1',
    '      QUERY id: 2, is_subquery: 1, is_cte: 1, cte_name: mine',
    '        PROJECTION',
    '          LIST id: 3, nodes: 1',
    "            CONSTANT id: 4, alias: s, constant_value: \\', secret AS (\\', constant_value_type: String",
    '  JOIN TREE',
    '    CROSS JOIN id: 5',
    '      TABLE EXPRESSION',
    '        IDENTIFIER id: 6, identifier: mine',
    '      TABLE EXPRESSION',
    '        IDENTIFIER id: 7, identifier: webhook_deadletters',
  ];
  assert.deepEqual([...queryTreeCteNames(tree)], ['mine']);
  const open = { tables: ['mine', 'webhook_deadletters'], inOperands: [] };
  assert.throws(
    () => checkNames(open, queryTreeCteNames(tree), new Set(), OPTIONS),
    (e: { code: string; message: string }) => e.code === 'TAPWATCH_SQL_BAD_QUERY' && /unknown table webhook_deadletters/.test(e.message),
  );
  assert.doesNotThrow(() => checkNames({ tables: ['mine'], inOperands: [] }, queryTreeCteNames(tree), new Set(), OPTIONS));
});

test("a CTE or IN operand named like one of tapwatch's hidden tables is refused: it would shadow the table in one scope only", () => {
  const hidden = new Set(['webhook_deadletters']);
  const ctes = new Set(['webhook_deadletters']);
  assert.throws(() => checkNames({ tables: ['webhook_deadletters'], inOperands: [] }, ctes, hidden, OPTIONS), /unknown table webhook_deadletters/);
  assert.throws(() => checkNames({ tables: [], inOperands: ['webhook_deadletters'] }, new Set(), hidden, OPTIONS), /unknown table webhook_deadletters/);
  assert.doesNotThrow(() => checkNames({ tables: [], inOperands: ['some_alias'] }, new Set(), hidden, OPTIONS), 'an alias right of IN');
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
