/**
 * Alert titles from rules: `{server}/{tool} writes to {argument.path}`. Field
 * names are checked at load (an unknown one is an error naming the rule);
 * values are cleaned of control characters and cut, so a hostile argument
 * cannot make a title long or multi-line.
 */

/** Longest value substituted into a title. */
const MAX_VALUE_CHARS = 100;
/** The alert schema's bound on titles. */
export const MAX_TITLE_CHARS = 1024;

const FIELD = /\{([A-Za-z_][A-Za-z0-9_.[\]*-]*)\}/g;

export type TemplateLookup = (field: string) => string | undefined;
export type Template = (lookup: TemplateLookup) => string;

/** A value made safe for a one-line title. */
export function titleValue(v: string, max = MAX_VALUE_CHARS): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is removed
  const flat = v.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * Compiles a template. `known(field)` says whether a field exists for this
 * kind of rule; unknown fields are reported through `fail` (once each).
 * Missing values render as `?`.
 */
export function compileTemplate(template: string, known: (field: string) => boolean, fail: (message: string) => void): Template {
  const parts: (string | { field: string })[] = [];
  let last = 0;
  const reported = new Set<string>();
  for (const m of template.matchAll(FIELD)) {
    const name = m[1]!;
    if (!known(name) && !reported.has(name)) {
      reported.add(name);
      fail(`unknown field {${name}}`);
    }
    if (m.index > last) parts.push(template.slice(last, m.index));
    parts.push({ field: name });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return (lookup) => {
    const s = parts.map((p) => (typeof p === 'string' ? p : titleValue(lookup(p.field) ?? '?'))).join('');
    return titleValue(s, MAX_TITLE_CHARS) || '?';
  };
}
