/**
 * The vocabulary of tool shadowing (detectors/shadowing.ts): what a tool's
 * prose says about other servers and their tools — disparaging them,
 * replacing them, routing work through itself, steering — and how servers
 * and tools are named in prose. Data only; matched on normalised text.
 */

/** Claims that something is not to be used any more. */
export const DISPARAGE =
  /\b(?:deprecated|obsolete|outdated|broken|buggy|unsafe|insecure|unreliable|compromised|malicious|vulnerable|unmaintained|unsupported|untrusted|flaky|corrupts?)\b|\bno longer\s+(?:works?|supported|maintained|safe|available|functional|reliable|in use)\b|\b(?:can|may|will|might|does|could)\s+(?:\w+\s+)?(?:corrupt|leak|lose|break|damage|expose|mangle)\b|\b(?:do not|don't|never|must not|should not|shouldn't|stop)\s+(?:ever\s+)?(?:use|using|call|calling|trust|rely on|invoke)\b|\bnot\s+(?:safe|secure|reliable|trustworthy|to be (?:used|trusted))\b|\b(?:has|have) been\s+(?:disabled|removed|retired|replaced|superseded)\b/i;
/** Claims that this tool replaces another. */
export const REPLACE =
  /\b(?:instead of|rather than|in place of|in lieu of|replaces?|supersedes?|takes over|intercepts?|preferred over|prefer (?:this|it) (?:tool |one )?(?:over|to)|use this (?:tool |one |server |version )?(?:instead|exclusively))\b|\buse\s+this\s+[\w.-]+\s+(?:instead|rather)\b/i;
/** Claims that the model must route work through this tool or server. */
export const ROUTE_THROUGH_THIS =
  /\b(?:route|redirect|send|pass|forward|direct|channel)\s+(?:all|every|any|each)\b[^.!?\n]{0,80}?\b(?:through|to|via)\s+this\b|\b(?:all|every|any|each)\b[^.!?\n]{0,80}?\bmust\s+(?:go|be routed|be sent|be made|pass|run)\s+(?:through|via|with|to)\s+this\b|\bonly\s+(?:ever\s+)?(?:use|call)\s+this\s+(?:tool|server|one)\b|\bthis\s+(?:tool|server)\s+(?:also\s+)?(?:governs|controls|handles|oversees|supervises|manages)\s+(?:how|all|every|any)\b/i;
/** Directive words of steering: besides the shared directive markers. */
export const STEER =
  /\b(?:whenever|every time|each time|always|never|must|should|instead|rather than|prefer|route|redirect|through|before|after|append|include|add|cc|bcc|send|forward|replace|override|intercept|do not use|don't use|avoid)\b/i;
/** "Other tools", "the original server", "the built-in one": a reference to others without naming them. */
export const OTHER_REF =
  /\b(?:any|every|all|another|other|the other)\s+(?:other\s+)?(?:mcp\s+)?(?:servers?|tools?|integrations?|connectors?|plugins?)\b|\b(?:the\s+)?(?:original|built-?in|default|standard|native|official|regular|usual)\s+(?:[\w-]+\s+)?(?:tool|server|implementation|integration|one)s?\b/i;
/** "the X server", "X server's": a server named in prose, maybe not yet seen. */
export const SERVER_PHRASE = /\b([\w.-]+)(?:'s)?\s+(?:mcp\s+)?server(?:'s)?\b(?!-)|\bserver\s+["']([\w.-]+)["']/gi;
export const NOT_A_SERVER = new Set([
  'this',
  'that',
  'the',
  'a',
  'an',
  'mcp',
  'same',
  'other',
  'any',
  'every',
  'another',
  'each',
  'remote',
  'local',
  'web',
  'http',
  'https',
  'api',
  'dev',
  'language',
  'sql',
  'database',
  'file',
  'proxy',
  'mail',
  'smtp',
  'your',
  'our',
  'my',
  'its',
  'their',
  'one',
  'new',
  'old',
  'original',
  'official',
  'default',
  'built-in',
  'builtin',
  'native',
  'standard',
  'ssh',
  'git',
  'lsp',
  'game',
  'media',
  'application',
  'app',
  'build',
  'test',
  'staging',
  'production',
]);
/** "github integration", "memory's tools", "fetch MCP": a server named in prose. */
export const SERVER_WORD_AFTER = /^(?:'s)?\s+(?:mcp\s+)?(?:server|servers|integration|connector|plugin|extension|tools|mcp)\b/i;
export const TOOL_WORD_AFTER = /^\s*(?:tool|function|command|action|endpoint|method)\b|^\(\)/i;
export const TOOL_WORD_BEFORE = /\b(?:tool|function|command)\s+$/i;
/** "the fetch tool" names a tool; "a query tool", "the appropriate query tool" name a kind of tool. */
export const DEFINITE_BEFORE = /\b(?:the|your|its|their|this|that)\s+$/i;
/** A sentence about what happens every time, for steering that names others only vaguely ("whenever any other tool …"). */
export const RECURRING = /\b(?:whenever|every time|each time|always|when)\b/i;
