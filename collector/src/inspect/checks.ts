/**
 * Content checks other than secrets: sensitive paths, path traversal and
 * shell injection in arguments; prompt-injection phrases and invisible text
 * in results. Each rule is a named entry in a table; every regex is linear
 * (bounded quantifiers, starts anchored on a literal or a lookbehind), and
 * the two-stage rules bound their second stage to a window of the text.
 *
 * These are pure functions of a string (and, for arguments, the key it came
 * under); `inspect.ts` turns their spans into findings.
 */
import type { ContentFinding } from '@tapwatch/schema';

export type FindingKind = ContentFinding['kind'];

export interface RawFinding {
  kind: FindingKind;
  rule: string;
  start: number;
  end: number;
  /** Text to excerpt from when it is not the scanned string (decoded hidden text). */
  source?: string;
}

export interface CheckRule {
  name: string;
  re: RegExp;
  accept?: (m: RegExpExecArray, text: string) => boolean;
}

const MAX_MATCHES_PER_RULE = 16;

function runRules(kind: FindingKind, rules: readonly CheckRule[], text: string, out: RawFinding[]): void {
  for (const rule of rules) {
    rule.re.lastIndex = 0;
    let n = 0;
    let m: RegExpExecArray | null;
    while (n < MAX_MATCHES_PER_RULE && (m = rule.re.exec(text)) !== null) {
      if (m[0].length === 0) {
        rule.re.lastIndex++;
        continue;
      }
      if (rule.accept && !rule.accept(m, text)) continue;
      out.push({ kind, rule: rule.name, start: m.index, end: m.index + m[0].length });
      n++;
    }
  }
}

// ---------------------------------------------------------------------------
// Argument roles

/** What an argument's key says about its value, which decides the checks that are worth their false positives. */
export type ArgumentRole = 'command' | 'path' | 'query' | 'other';

const COMMAND_KEY =
  /^(?:cmd|cmds|command|commands|commandline|script|scripts|shell|exec|execute|run|args|argv|arguments|program|entrypoint|shellcommand|bashcommand)$|(?:command|cmd|script)$/;
const PATH_KEY =
  /(?:path|paths|file|files|filename|filenames|dir|dirs|directory|directories|folder|folders|src|source|sources|dest|destination|target|dst|cwd|root|workdir|workingdirectory|location|uri|uris|url|urls|href|link|endpoint|ref|branch|repo|repository|module|package|host|hostname)$/;
const QUERY_KEY =
  /^(?:q)$|(?:query|queries|pattern|patterns|regex|regexp|search|glob|globs|filter|filters|expr|expression|selector|term|terms|keyword|keywords|exclude|include)$/;

/** Classifies an argument by its key name (the nearest named key for array items). */
export function argumentRole(key: string | undefined): ArgumentRole {
  if (key === undefined) return 'other';
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (COMMAND_KEY.test(k)) return 'command';
  if (QUERY_KEY.test(k)) return 'query';
  if (PATH_KEY.test(k)) return 'path';
  return 'other';
}

/**
 * A string that reads as a path or a single word on its own is path-checked
 * whatever its key (`{ "name": "../../etc/passwd" }`); prose, JSON and markup
 * under other keys are not (a source map's `"sources":["../src/a.ts"]`).
 */
function looksLikeLoosePath(s: string): boolean {
  if (s.length > 1024 || s.includes('\n') || /^\s*[{[<]/.test(s)) return false;
  return !/\s/.test(s.trim()) || /^\s*(?:[A-Za-z]:[\\/]|~|\$HOME|\$\{?HOME|%[A-Z]+%|\.{1,2}[\\/]|[\\/]|file:)/i.test(s);
}

// ---------------------------------------------------------------------------
// Sensitive paths (matched with `\` read as `/`, so Windows paths match too)

const SEG = '(?<![\\w.-])'; // a path segment starts here
const END = '(?![\\w.-])';

export const SENSITIVE_PATH_RULES: readonly CheckRule[] = Object.freeze([
  {
    name: 'ssh_key_path',
    re: new RegExp(
      `${SEG}(?:\\.ssh(?=/|$|[\\s'"\`;|&)])|id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?(?:\\.pub)?${END}|authorized_keys2?${END}|known_hosts${END}|ssh_host_[a-z0-9]{2,10}_key(?:\\.pub)?${END})`,
      'gi',
    ),
  },
  {
    name: 'cloud_credentials_path',
    re: new RegExp(
      `${SEG}(?:\\.aws/(?:credentials|config|sso/cache)|\\.config/gcloud(?=/|$|[\\s'"])|application_default_credentials\\.json|\\.azure/|\\.oci/config|\\.config/doctl|\\.terraform\\.d/credentials|\\.boto${END}|\\.s3cfg${END})`,
      'gi',
    ),
  },
  {
    name: 'container_credentials_path',
    re: new RegExp(
      `${SEG}(?:\\.kube/config|\\.docker/config\\.json|\\.config/containers/auth\\.json)|/var/run/secrets/(?:kubernetes\\.io|eks\\.amazonaws\\.com)`,
      'gi',
    ),
  },
  {
    name: 'git_credentials_path',
    re: new RegExp(`${SEG}(?:\\.git-credentials${END}|\\.config/git/credentials|\\.config/gh/hosts\\.ya?ml|\\.config/hub${END})`, 'gi'),
  },
  { name: 'netrc_path', re: new RegExp(`${SEG}[._]netrc${END}`, 'gi') },
  {
    name: 'package_registry_credentials_path',
    re: new RegExp(
      `${SEG}(?:\\.npmrc|\\.pypirc|\\.yarnrc\\.yml|\\.gem/credentials|\\.cargo/credentials(?:\\.toml)?|\\.composer/auth\\.json|\\.m2/settings\\.xml|\\.gradle/gradle\\.properties|\\.nuget/nuget\\.config)${END}`,
      'gi',
    ),
  },
  { name: 'database_credentials_path', re: new RegExp(`${SEG}(?:\\.pgpass|\\.my\\.cnf|\\.mylogin\\.cnf|\\.vault-token)${END}`, 'gi') },
  {
    name: 'dotenv_path',
    re: new RegExp(`${SEG}(?:\\.env(?:\\.(?!example${END}|sample${END}|template${END}|dist${END}|defaults?${END})[\\w-]{1,30}){0,2}|\\.envrc)${END}`, 'gi'),
  },
  {
    name: 'system_account_file',
    re: /(?<![\w-])(?:etc\/(?:passwd|shadow|gshadow|sudoers(?:\.d)?|master\.passwd|security\/opasswd)|windows\/system32\/config\/(?:sam|security|system))(?![\w.-])/gi,
  },
  {
    name: 'private_key_file',
    re: /(?<=[\w*])\.(?:pem|key|p12|pfx|jks|keystore|ppk|kdbx)(?![\w.-])|(?<![\w.-])\.gnupg(?=\/|$|[\s'"])/gi,
  },
  {
    name: 'keychain_path',
    re: new RegExp(`library/keychains|(?<=\\w)\\.keychain(?:-db)?${END}|${SEG}\\.password-store(?=/|$)|\\.local/share/keyrings|${SEG}kwallet`, 'gi'),
  },
  {
    name: 'browser_credentials_path',
    re: /(?<![\w.-])(?:login data|logins\.json|key[34]\.db|cookies\.sqlite|signons\.sqlite)(?![\w.-])|(?:google\/chrome|chromium|brave-browser|microsoft\/edge|mozilla\/firefox|\.mozilla\/firefox)\/[^\n'"]{0,200}?\/(?:cookies|web data|local state)(?![\w.-])/gi,
  },
  { name: 'proc_environ_path', re: /\/proc\/(?:self|thread-self|\d{1,7})\/(?:environ|cmdline|mem|maps|root)(?![\w.-])/gi },
  {
    name: 'shell_history_path',
    re: new RegExp(
      `${SEG}(?:\\.(?:bash_|zsh_|sh_|python_|node_repl_|psql_|mysql_|sqlite_|rediscli_|irb_)?history|\\.histfile|consolehost_history\\.txt)${END}`,
      'gi',
    ),
  },
]);

// ---------------------------------------------------------------------------
// Path traversal

const ENCODED_DOT = '(?:%(?:25)?2e|%c0%ae|%e0%80%ae|\\.)';
const ENCODED_SEP = '(?:%(?:25)?2f|%(?:25)?5c|%c0%af|%c1%9c|/|\\\\)';

export const TRAVERSAL_RULES: readonly CheckRule[] = Object.freeze([
  { name: 'parent_directory_traversal', re: /(?:^|(?<=[/\\\s'"=:]))\.\.(?=[/\\]|$)/g },
  {
    name: 'encoded_traversal',
    re: new RegExp(`${ENCODED_DOT}${ENCODED_DOT}${ENCODED_SEP}`, 'gi'),
    accept: (m) => m[0].includes('%'),
  },
  {
    name: 'system_directory_path',
    re: /(?<![^\s'"=:;,(|&<>`/])\/(?:etc|root|proc|sys|boot|var\/run\/secrets)(?=\/|$|[\s'"`;|&)])|(?<![\w])[a-z]:[\\/]+windows[\\/]+system32/gi,
  },
  // eslint-disable-next-line no-control-regex -- a NUL in a path is what this rule is for
  { name: 'nul_byte', re: /\u0000|%00/g },
]);

// ---------------------------------------------------------------------------
// Shell injection

/** Strong multi-token patterns: flagged in any string argument. */
export const STRONG_SHELL_RULES: readonly CheckRule[] = Object.freeze([
  {
    name: 'download_pipe_shell',
    re: /(?<![\w-])(?:curl|wget)\b[^\n|]{0,300}\|[ \t]{0,4}(?:sudo[ \t]{1,4}(?:-[A-Za-z]{1,10}[ \t]{1,4}){0,3})?(?:(?:ba|z|da|k|fi)?sh|python[0-9.]{0,4}|perl|ruby|node)\b|(?<![\w-])(?:iwr|irm|invoke-webrequest|invoke-restmethod|new-object[ \t]{1,4}net\.webclient)\b[^\n|]{0,300}\|[ \t]{0,4}(?:iex|invoke-expression)\b/gi,
  },
  { name: 'reverse_shell', re: /\/dev\/(?:tcp|udp)\/|(?<![\w-])socat\b[^\n]{0,200}?exec:|(?<![\w-])mkfifo\b[^\n]{0,200}?(?<![\w-])(?:nc|ncat|netcat)\b/gi },
  { name: 'netcat_exec', re: /(?<![\w-])(?:nc|ncat|netcat)(?:\.exe)?\b[^\n|;&]{0,100}?[ \t]-[A-Za-z]{0,4}[ec][ \t]/g },
  {
    name: 'rm_rf_root',
    re: /(?<![\w-])rm[ \t]{1,4}(?<flags>(?:-{1,2}[A-Za-z-]{1,20}[ \t]{1,4}){1,4})(?:--[ \t]{1,4})?(?:\/\*?|~\/?\*?|\$HOME\/?\*?|\/(?:etc|usr|var|home|root|boot|bin|lib|opt|srv)\/?\*?)(?=[\s;&|]|$)/g,
    accept: (m) => /(?:-[A-Za-z]*[rR]|--recursive)/.test(m.groups?.flags ?? ''),
  },
  {
    name: 'base64_pipe_shell',
    re: /(?<![\w-])base64[ \t]{1,4}(?:-d|--decode|-D)\b[^\n|]{0,200}\|[ \t]{0,4}(?:sudo[ \t]{1,4})?(?:(?:ba|z|da)?sh|python[0-9.]{0,4}|perl)\b/g,
  },
  {
    name: 'chmod_then_execute',
    re: /(?<![\w-])chmod[ \t]{1,4}(?:[ugoa]{0,3}\+x|[0-7]{3,4})[ \t]{1,4}[^\n;&|]{1,200}(?:&&|;)[ \t]{0,4}(?:\.\/|\/tmp\/|\/dev\/shm\/|(?:ba)?sh[ \t])/g,
  },
  {
    name: 'powershell_encoded',
    re: /(?<![\w-])(?:powershell|pwsh)(?:\.exe)?\b[^\n]{0,200}?[ \t][-/](?:e|ec|enc|enco|encod|encodedcommand)[ \t]{1,4}[A-Za-z0-9+/=]{16,}/gi,
  },
]);

/** `python -c` and friends: inline code handed to an interpreter. */
const INLINE_INTERPRETER: CheckRule = {
  name: 'inline_interpreter',
  re: /(?<![\w-])(?:python[0-9.]{0,4}(?:\.exe)?[ \t]{1,4}-c|perl[ \t]{1,4}-e|ruby[ \t]{1,4}-e|node[ \t]{1,4}(?:-e|--eval)|php[ \t]{1,4}-r)[ \t]/g,
};

const SHELL_WORDS =
  'curl|wget|nc|ncat|netcat|bash|sh|zsh|dash|python[0-9.]{0,4}|perl|ruby|php|node|rm|cat|chmod|chown|mkfifo|base64|eval|exec|id|whoami|uname|printenv|env|ssh|scp|tar|openssl|socat|telnet|powershell|pwsh|cmd|certutil|bitsadmin|mshta|rundll32|touch|echo|ls|dd|kill|reboot|shutdown|crontab|sudo|su|xargs';

/** Metacharacters followed by a command, and substitutions: only in arguments that should never hold shell syntax. */
const CHAIN_WITH_PIPE: CheckRule = {
  name: 'command_chaining',
  re: new RegExp(`(?:;|&&|\\|\\||\\||\\n)[ \\t]{0,4}(?:${SHELL_WORDS})(?![\\w.-])`, 'g'),
};
const CHAIN_NO_PIPE: CheckRule = {
  name: 'command_chaining',
  re: new RegExp(`(?:;|&&)[ \\t]{0,4}(?:${SHELL_WORDS})(?![\\w.-])`, 'g'),
};
const SUBSTITUTION: CheckRule[] = [
  { name: 'command_substitution', re: /\$\([^)\n]{1,200}\)/g },
  { name: 'backtick_substitution', re: /`[^`\n]{1,200}`/g },
];

// ---------------------------------------------------------------------------
// Argument checks

/**
 * Checks one argument string. `key` is the argument's key (for array items,
 * the nearest named key); it decides which rule families apply:
 * - every string: strong shell patterns (`curl … | sh`, `/dev/tcp/`, …);
 * - command, path and query arguments, and strings that read as a path on
 *   their own: sensitive paths and traversal;
 * - command, path and query arguments: inline interpreters (`python -c`);
 * - path arguments: `;`, `&&`, `||`, `|` or a newline followed by a command,
 *   `$(…)` and backticks; query arguments the same without the pipe forms
 *   (regex alternation and SQL `||` are legitimate there).
 * Code or file contents under other keys (`content`, `code`, `text`) only
 * meet the strong patterns: `;` and `|` are everyday characters there.
 */
export function checkArgumentString(s: string, key: string | undefined): RawFinding[] {
  const out: RawFinding[] = [];
  const role = argumentRole(key);
  runRules('shell_injection', STRONG_SHELL_RULES, s, out);
  if (role !== 'other' || looksLikeLoosePath(s)) {
    const slashed = s.includes('\\') ? s.replace(/\\/g, '/') : s; // same length: spans still line up
    runRules('sensitive_path', SENSITIVE_PATH_RULES, slashed, out);
    runRules('path_traversal', TRAVERSAL_RULES, s, out);
  }
  if (role !== 'other') runRules('shell_injection', [INLINE_INTERPRETER], s, out);
  if (role === 'path') runRules('shell_injection', [CHAIN_WITH_PIPE, ...SUBSTITUTION], s, out);
  if (role === 'query') runRules('shell_injection', [CHAIN_NO_PIPE, ...SUBSTITUTION], s, out);
  return out;
}

// ---------------------------------------------------------------------------
// Prompt injection in results

const W = '[ \\t\\r\\n]{1,3}'; // words apart

export const INJECTION_RULES: readonly CheckRule[] = Object.freeze([
  {
    name: 'ignore_previous_instructions',
    re: new RegExp(
      `\\b(?:ignore|disregard|forget|override|bypass)${W}(?:(?:all|any|the|your|of|these|those|my)${W}){0,3}(?:previous|prior|above|earlier|preceding|former|original|existing|system|safety)${W}(?:instructions?|directions?|prompts?|rules|guidelines|directives|commands|context|messages|guardrails)\\b`,
      'gi',
    ),
  },
  {
    name: 'role_reassignment',
    re: new RegExp(
      `\\byou${W}are${W}now${W}(?:(?:a|an|the|my)${W}(?:[a-z-]{1,20}${W}){0,2}?(?:assistant|ai|model|agent|bot|llm|hacker|administrator|admin|developer|persona|character)\\b|in${W}(?:developer|god|admin|debug|jailbreak|unrestricted|maintenance)${W}mode|dan\\b|jailbroken|unrestricted|free${W}(?:from|of))|\\bfrom${W}now${W}on,?${W}you${W}(?:will|must|are|should|shall)\\b`,
      'gi',
    ),
  },
  {
    name: 'new_instructions',
    re: new RegExp(
      `\\b(?:new|updated|additional|revised|real|actual|secret|hidden|important|urgent)${W}(?:system${W})?(?:instructions?|directives?|task)[ \\t]{0,2}:`,
      'gi',
    ),
  },
  {
    name: 'system_prompt_manipulation',
    re: new RegExp(
      `\\b(?:reveal|print|show|output|repeat|leak|disclose|ignore|override|bypass|forget|dump)${W}(?:[a-z']{1,20}${W}){0,3}?(?:system${W}prompt|initial${W}instructions)\\b`,
      'gi',
    ),
  },
  {
    name: 'conceal_from_user',
    re: new RegExp(
      `\\b(?:do${W}not|don'?t|never|without)${W}(?:tell|telling|inform|informing|mention|mentioning|reveal|revealing|show|showing|notify|notifying|alert|alerting|let|letting|ask|asking)${W}(?:(?:this|it|anything|that)${W}(?:to${W})?)?(?:the${W})?(?:user|human|operator|customer)\\b`,
      'gi',
    ),
  },
  {
    name: 'before_responding_directive',
    re: new RegExp(
      `\\bbefore${W}(?:you${W})?(?:continu(?:e|ing)|respond(?:ing)?|answer(?:ing)?|proceed(?:ing)?|repl(?:y|ying)|using${W}(?:this|any|the)|do(?:ing)?${W}anything|call(?:ing)?|finish(?:ing)?|complet(?:e|ing))\\b[^\\n]{0,120}?\\b(?:read|send|call|include|fetch|upload|post|run|execute|use|cat|open|list|email|forward)\\b[^\\n]{0,80}?(?:~\\/|\\.ssh|\\.env\\b|\\.aws|id_rsa|credentials?|secrets?|api[ _-]?keys?|tokens?|passwords?|\\btool\\b|conversation|history|system${W}prompt|environment${W}variables)`,
      'gi',
    ),
  },
]);

const AI_ADDRESSEE = /\b(?:ai|llm|assistant|agent|model|claude|gpt|chatgpt|copilot|gemini)s?\b/gi;
const DIRECTED_IMPERATIVE = new RegExp(`\\b(?:must|should|needs?${W}to|have${W}to|has${W}to|required${W}to|please|now|immediately|first|always)\\b`, 'gi');
const DIRECTED_ACTION = /\b(?:read|send|call|upload|fetch|include|forward|post|execute|run|cat|open|list|email|exfiltrate|attach|copy|print)\b/gi;
const DIRECTED_OBJECT = new RegExp(
  `(?:\\bfiles?\\b|credentials?|secrets?|\\bkeys?\\b|tokens?|passwords?|\\.ssh|\\.env\\b|environment${W}variables|\\btool\\b|config(?:uration)?|id_rsa|contents|history)`,
  'gi',
);

/** In a window after an addressee: an imperative soon, then an action, then a sensitive object — three linear searches. */
function directedEnd(window: string): number {
  const step = (re: RegExp, from: number, within: number): RegExpExecArray | null => {
    re.lastIndex = from;
    const m = re.exec(window);
    return m && m.index - from <= within && !window.slice(from, m.index).includes('\n') ? m : null;
  };
  const a = step(DIRECTED_IMPERATIVE, 0, 40);
  const b = a && step(DIRECTED_ACTION, a.index + a[0].length, 60);
  const c = b && step(DIRECTED_OBJECT, b.index + b[0].length, 60);
  return c ? c.index + c[0].length : -1;
}

/** An instruction to the model hidden or addressed to it: the injection rules, or addressee + imperative + action. */
export function looksLikeInstructions(t: string): boolean {
  for (const r of INJECTION_RULES) {
    r.re.lastIndex = 0;
    if (r.re.test(t)) return true;
  }
  const addressed = /\b(?:you|assistant|ai|llm|agent|model|claude|gpt)\b/i.test(t);
  const imperative = /\b(?:ignore|disregard|must|should|always|never|do[ \t]not|don't|instead|immediately|important)\b/i.test(t);
  const action = /\b(?:read|send|call|run|execute|fetch|upload|include|reply|respond|tell|say|output|email|forward|delete|open|post|invoke|use)\b/i.test(t);
  const sensitive = /(?:credential|secret|password|token|api[ _-]?key|\.ssh|\.env\b|id_rsa|private[ _-]key|tool|file)/i.test(t);
  const toAi = /\b(?:assistant|ai|llm|agent|model|claude|gpt)\b/i.test(t);
  return addressed && imperative && action && (toAi || sensitive);
}

const HIDDEN_STYLE =
  /<[a-z][a-z0-9]{0,10}\b[^>]{0,300}?style[ \t]{0,2}=[ \t]{0,2}["'][^"'>]{0,300}?(?:display[ \t]{0,2}:[ \t]{0,2}none|visibility[ \t]{0,2}:[ \t]{0,2}hidden|font-size[ \t]{0,2}:[ \t]{0,2}0(?:\.0+)?(?:px|em|rem|pt|%)?[ \t]{0,2}(?:;|["'])|opacity[ \t]{0,2}:[ \t]{0,2}0(?:\.0+)?[ \t]{0,2}(?:;|["'])|color[ \t]{0,2}:[ \t]{0,2}(?:#fff(?:fff)?|white|transparent|rgba?\([^)]{0,40}?,[ \t]{0,2}0\)))[^>]{0,300}>/gi;
const HIDDEN_ATTR = /<[a-z][a-z0-9]{0,10}\b[^>]{0,300}?\shidden\b[^>]{0,300}>/gi;
const HTML_COMMENT = /<!--/g;
const MD_LINK_TARGET = /\]\([ \t]{0,4}<?(https?:\/\/[^\s)>]{1,2048})/gi;
const IMG_SRC = /<img\b[^>]{0,300}?\bsrc[ \t]{0,2}=[ \t]{0,2}["']?(https?:\/\/[^\s"'>]{1,2048})/gi;
const EXFIL_PARAMS =
  /^(?:d|data|q|c|content|contents|payload|secret|secrets|token|key|keys|info|leak|exfil|msg|message|text|body|env|creds?|credentials?|pw|pwd|password|history|conversation|chat|prompt|memory|file|x|p)$/i;
/** A slot in a URL template for the model to fill: `{{data}}`, `${secret}`, `{DATA}`, `<CONTENT>`, `[SECRET]`, or a shouted placeholder word. */
const PLACEHOLDER_VALUE =
  /\{\{|\$\{|\{[A-Za-z_ ]{1,40}\}|<[A-Za-z_ ]{1,40}>|\[[A-Z_ ]{2,40}\]|\b(?:DATA|SECRET|SECRETS|CONTENT|CONTENTS|INFO|TOKEN|KEY|PASSWORD|HISTORY|CONVERSATION|CREDENTIALS)\b/;

/** Checks a result's text for prompt-injection phrases and hidden instructions. */
export function checkInjection(text: string): RawFinding[] {
  const out: RawFinding[] = [];
  runRules('injection_phrase', INJECTION_RULES, text, out);

  // Instructions addressed to the model: an addressee, then within a bounded window an imperative, an action and a sensitive object.
  AI_ADDRESSEE.lastIndex = 0;
  let m: RegExpExecArray | null;
  let seen = 0;
  let hits = 0;
  while ((m = AI_ADDRESSEE.exec(text)) !== null && seen++ < 4096 && hits < 4) {
    const from = m.index + m[0].length;
    const end = directedEnd(text.slice(from, from + 200));
    if (end !== -1) {
      out.push({ kind: 'injection_phrase', rule: 'agent_directed_instruction', start: m.index, end: from + end });
      hits++;
      AI_ADDRESSEE.lastIndex = from + end;
    }
  }

  // Hidden HTML: styled invisible, the hidden attribute, comments — each only when its text reads as instructions.
  if (text.includes('<')) {
    for (const [re, rule] of [
      [HIDDEN_STYLE, 'hidden_html_instruction'],
      [HIDDEN_ATTR, 'hidden_html_instruction'],
    ] as const) {
      re.lastIndex = 0;
      let n = 0;
      while ((m = re.exec(text)) !== null && n < 64) {
        n++;
        const inner = stripTags(text.slice(m.index + m[0].length, m.index + m[0].length + 600));
        if (looksLikeInstructions(inner)) out.push({ kind: 'injection_phrase', rule, start: m.index, end: Math.min(text.length, m.index + m[0].length + 120) });
      }
    }
    HTML_COMMENT.lastIndex = 0;
    let n = 0;
    while ((m = HTML_COMMENT.exec(text)) !== null && n < 64) {
      n++;
      const close = text.indexOf('-->', m.index + 4);
      const end = close === -1 || close - m.index > 4000 ? Math.min(text.length, m.index + 4000) : close + 3;
      if (looksLikeInstructions(text.slice(m.index + 4, end))) out.push({ kind: 'injection_phrase', rule: 'html_comment_instruction', start: m.index, end });
      HTML_COMMENT.lastIndex = end;
    }
    // `<system>`-style tags, but only around instructions: pom.xml's <system>GitHub</system> is not one.
    const tag = /<[ \t]{0,2}(?:important|system|system[_-]?prompt|instructions?|admin|sys|assistant[_-]?instructions|hidden|secret)[ \t]{0,2}>/gi;
    n = 0;
    while ((m = tag.exec(text)) !== null && n < 64) {
      n++;
      if (looksLikeInstructions(stripTags(text.slice(m.index + m[0].length, m.index + m[0].length + 600)))) {
        out.push({ kind: 'injection_phrase', rule: 'instruction_tag', start: m.index, end: m.index + m[0].length });
      }
    }
  }
  runRules(
    'injection_phrase',
    [{ name: 'instruction_tag', re: /<\|(?:im_start|im_end|system|endoftext)\|>|\[\/?(?:INST|SYSTEM|SYS)\]|<<\/?SYS>>/g }],
    text,
    out,
  );

  // Exfiltration through a rendered image (fetched without a click) or a templated link.
  if (text.includes('](')) {
    MD_LINK_TARGET.lastIndex = 0;
    let n = 0;
    while ((m = MD_LINK_TARGET.exec(text)) !== null && n < 256) {
      n++;
      const lookback = Math.max(0, m.index - 300);
      const rel = text.slice(lookback, m.index).lastIndexOf('[');
      const open = rel === -1 ? -1 : lookback + rel;
      if (open === -1 || text.slice(open, m.index).includes('\n')) continue;
      // `[![badge](img)](link)`: the outer target is a link even though a `![` precedes it.
      const isImage = text.charAt(open - 1) === '!' && text.charAt(m.index - 1) !== ')';
      const verdict = exfilUrl(m[1] ?? '', isImage);
      if (verdict)
        out.push({
          kind: 'injection_phrase',
          rule: isImage ? 'markdown_image_exfil' : 'markdown_link_exfil',
          start: isImage ? open - 1 : open,
          end: m.index + m[0].length,
        });
    }
  }
  if (/<img/i.test(text)) {
    IMG_SRC.lastIndex = 0;
    let n = 0;
    while ((m = IMG_SRC.exec(text)) !== null && n < 256) {
      n++;
      if (exfilUrl(m[1] ?? '', true)) out.push({ kind: 'injection_phrase', rule: 'html_image_exfil', start: m.index, end: m.index + m[0].length });
    }
  }
  return out;
}

/** An image URL that carries data out (or a link template waiting to be filled with it). */
function exfilUrl(url: string, isImage: boolean): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  const templated = PLACEHOLDER_VALUE.test(url.slice(url.indexOf('//') + 2));
  if (templated) return true;
  if (!isImage) return false;
  for (const [k, v] of u.searchParams) {
    // ?s=80&d=identicon (avatars), ?style=flat (badges) are not payloads; ?data=<a long value> is.
    if (EXFIL_PARAMS.test(k) && v.length >= 12 && /[^a-z-]/.test(v)) return true;
    if (v.length >= 64 && /^[A-Za-z0-9+/=_-]+$/.test(v) && /[0-9]/.test(v) && /[A-Za-z]/.test(v)) return true; // base64 or hex payload
  }
  return false;
}

function stripTags(s: string): string {
  return s.replace(/<[^>]{0,300}>/g, ' ');
}

// ---------------------------------------------------------------------------
// Invisible text

const ZERO_WIDTH = /[\u200b-\u200f\u2060-\u2064\ufeff]+/g;
const TAG_RUN = /[\u{e0000}-\u{e007f}]+/gu;
const BIDI = /[\u202a-\u202e\u2066-\u2069]/g;
/** Escape sequences that move the cursor, erase, conceal or set titles/links — not plain colours. */
// eslint-disable-next-line no-control-regex -- ESC is what this rule looks for
const ANSI = /\u001b\[[0-9;?]{0,32}[A-HJKSTfhlnsu]|\u001b\[(?:[0-9]{1,3};){0,8}8(?:;[0-9]{1,3}){0,8}m|\u001b\][0-9]{1,4};/g;

export interface InvisibleResult {
  findings: RawFinding[];
  /** Text smuggled in Unicode tag characters, decoded to ASCII (checked for injection phrases too). */
  hidden: string;
}

/**
 * Invisible characters in a result: zero-width characters between ASCII
 * characters (a leading BOM, ZWJ inside emoji and ZWNJ in Persian or Indic
 * words are ordinary), Unicode tag characters (except in flag emoji),
 * bidi embedding/override/isolate controls, and ANSI sequences that move
 * the cursor, erase or conceal (colours alone are common in tool output).
 */
export function checkInvisible(text: string): InvisibleResult {
  const findings: RawFinding[] = [];
  let hidden = '';
  ZERO_WIDTH.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = ZERO_WIDTH.exec(text)) !== null) {
    const i = m.index;
    const run = m[0].length;
    if (i === 0 && run === 1 && text.charCodeAt(0) === 0xfeff) continue;
    // A single one next to non-ASCII text is ordinary (ZWJ in emoji, ZWNJ in Persian, LRM in Hebrew); a run, or one inside ASCII, is not.
    if (run === 1 && (text.charCodeAt(i - 1) > 0x7f || text.charCodeAt(i + 1) > 0x7f)) continue;
    findings.push({ kind: 'invisible_text', rule: 'zero_width_characters', start: i, end: i + run });
    break;
  }
  TAG_RUN.lastIndex = 0;
  while ((m = TAG_RUN.exec(text)) !== null && hidden.length < 4096) {
    // 🏴 followed by tags is a subdivision flag (England, Scotland, Wales).
    if (text.codePointAt(m.index - 2) === 0x1f3f4) continue;
    for (const ch of m[0]) {
      const cp = (ch.codePointAt(0) ?? 0xe0000) - 0xe0000;
      if (cp >= 0x20 && cp < 0x7f) hidden += String.fromCharCode(cp);
    }
    hidden += ' ';
    if (findings.every((f) => f.rule !== 'unicode_tag_characters')) {
      findings.push({ kind: 'invisible_text', rule: 'unicode_tag_characters', start: m.index, end: m.index + m[0].length });
    }
  }
  BIDI.lastIndex = 0;
  if ((m = BIDI.exec(text)) !== null) findings.push({ kind: 'invisible_text', rule: 'bidi_control_characters', start: m.index, end: m.index + 1 });
  ANSI.lastIndex = 0;
  if ((m = ANSI.exec(text)) !== null) findings.push({ kind: 'invisible_text', rule: 'ansi_escape_sequences', start: m.index, end: m.index + m[0].length });
  return { findings, hidden: hidden.trim() };
}

/** The text with invisible characters removed, so `ig\u200bnore previous instructions` still reads as such. */
export function stripInvisible(text: string): string {
  return text.replace(/[\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069]|[\u{e0000}-\u{e007f}]/gu, '');
}
