/**
 * Where the model-visible text of a tool definition lives: its prose sites
 * (descriptions, titles, string values anywhere in its schemas) and every
 * string it holds, walked within bounds. No state, no I/O.
 */
import type { ToolDefinition } from '@tapwatch/schema';

/** One piece of model-visible text in a tool definition. */
export interface TextSite {
  /** Where it is, as a path: `description`, `inputSchema.properties.note.description`, … */
  where: string;
  text: string;
  /** `description`/`title` are prose; `value` is an enum, default, const or example string. */
  kind: 'description' | 'title' | 'value';
  /** The innermost property the text belongs to, when it sits inside an input property. */
  param?: string;
}

/** A string anywhere in a definition (names and keys included), for character-level checks. */
export interface StringSite {
  where: string;
  text: string;
}

/** Bounds on walking a (possibly hostile) JSON Schema: deep or huge schemas are cut, not followed. */
const MAX_DEPTH = 16;
const MAX_SITES = 2000;

const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'] as const;
const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const;
const SCHEMA_NODES = ['additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedProperties', 'additionalItems'] as const;
const SCHEMA_VALUES = ['default', 'const', 'examples', 'enum'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The prose a model reads in a definition: the tool's title and description,
 * and every description/title in its input and output schemas (walked
 * recursively through properties, items, anyOf/oneOf/allOf, $defs, …), plus
 * string defaults, consts, enums and examples.
 */
export function collectTextSites(def: ToolDefinition): TextSite[] {
  const out: TextSite[] = [];
  if (typeof def.title === 'string' && def.title) out.push({ where: 'title', text: def.title, kind: 'title' });
  if (typeof def.description === 'string' && def.description) out.push({ where: 'description', text: def.description, kind: 'description' });
  const annotations = def.annotations;
  if (isObject(annotations) && typeof annotations.title === 'string' && annotations.title) {
    out.push({ where: 'annotations.title', text: annotations.title, kind: 'title' });
  }
  walkSchema(def.inputSchema, 'inputSchema', undefined, 0, out);
  walkSchema(def.outputSchema, 'outputSchema', undefined, 0, out);
  return out;
}

function walkSchema(node: unknown, path: string, param: string | undefined, depth: number, out: TextSite[]): void {
  if (depth > MAX_DEPTH || out.length >= MAX_SITES) return;
  if (Array.isArray(node)) {
    node.forEach((n, i) => walkSchema(n, `${path}[${i}]`, param, depth + 1, out));
    return;
  }
  if (!isObject(node)) return;
  const at = (v: TextSite['kind'], field: string, text: string): void => {
    if (out.length < MAX_SITES && text) out.push({ where: `${path}.${field}`, text, kind: v, ...(param === undefined ? {} : { param }) });
  };
  if (typeof node.description === 'string') at('description', 'description', node.description);
  if (typeof node.title === 'string') at('title', 'title', node.title);
  for (const f of SCHEMA_VALUES) {
    const v = node[f];
    if (typeof v === 'string') at('value', f, v);
    else if (Array.isArray(v)) v.forEach((x, i) => typeof x === 'string' && at('value', `${f}[${i}]`, x));
  }
  for (const f of SCHEMA_MAPS) {
    const m = node[f];
    if (!isObject(m)) continue;
    for (const [k, child] of Object.entries(m)) {
      walkSchema(child, `${path}.${f}.${k}`, f === 'properties' ? k : param, depth + 1, out);
    }
  }
  for (const f of SCHEMA_LISTS) if (Array.isArray(node[f])) walkSchema(node[f], `${path}.${f}`, param, depth + 1, out);
  if (node.items !== undefined) walkSchema(node.items, `${path}.items`, param, depth + 1, out);
  for (const f of SCHEMA_NODES) if (isObject(node[f])) walkSchema(node[f], `${path}.${f}`, param, depth + 1, out);
}

/** The names of the top-level input properties (the tool's parameters). */
export function parameterNames(def: ToolDefinition): string[] {
  const schema = def.inputSchema;
  if (!isObject(schema) || !isObject(schema.properties)) return [];
  return Object.keys(schema.properties).slice(0, MAX_SITES);
}

/** Every string in a definition, keys included, for character-level checks (invisible text). */
export function collectAllStrings(def: unknown): StringSite[] {
  const out: StringSite[] = [];
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > MAX_DEPTH + 4 || out.length >= MAX_SITES * 2) return;
    if (typeof v === 'string') {
      out.push({ where: path, text: v });
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`, depth + 1));
    } else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        out.push({ where: `${p} (key)`, text: k });
        walk(x, p, depth + 1);
      }
    }
  };
  walk(def, '', 0);
  return out;
}
