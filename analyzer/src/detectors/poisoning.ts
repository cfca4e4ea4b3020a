/**
 * Tool poisoning (attack class A): a tool definition whose description, or a
 * parameter's description anywhere in its schemas, carries instructions aimed
 * at the model rather than documentation for it — hidden in tags, comments or
 * invisible characters, telling the model to do things other than the tool's
 * own job, to keep that from the user, or to hand over secrets, files or the
 * conversation.
 *
 * Each signal is a named rule with a weight. A weight-3 rule (secrecy, a
 * request for sensitive files, credentials or the conversation, an
 * instruction override, invisible characters) or two independent weight-2
 * signals make the finding `high`; one weight-2 signal makes it `medium`;
 * boosters (weight 1) only add evidence, unless three of them agree.
 * Documentation — even firm documentation ("you must provide the SHA",
 * "Use this tool when …", "fails silently") — matches nothing: a directive
 * counts only when it points away from the tool's own job (another tool, a
 * URL, a sensitive file, the conversation, private data).
 *
 * Judged on first sighting, no baseline. One alert per (agent, server, tool,
 * definition hash); verdicts are cached per definition so benign servers that
 * re-list their tools every session cost a lookup.
 */
import type { Severity, ToolDefinition, ToolsListEvent } from '@tapwatch/schema';
import { BoundedMap, type Finding } from './types.js';
import { definitionHash } from './definition-change.js';
import { defineDetector } from './detector.js';
import {
  OBLIGATION,
  PROHIBITION,
  SEQUENCE_MARKER,
  collectAllStrings,
  collectTextSites,
  escapeRegExp,
  excerpt,
  findInvisible,
  isDirective,
  isSpecificName,
  nameWords,
  normalizeText,
  parameterNames,
  shortHash,
  splitSentences,
  type InvisibleKind,
  type TextSite,
} from './text-rules.js';

export const POISONING_DETECTOR = 'tool_poisoning';

export type PoisoningCategory = 'hidden' | 'invisible' | 'secrecy' | 'sensitive' | 'override' | 'directive' | 'exfil' | 'side_channel' | 'booster';

export interface PoisoningRule {
  id: string;
  weight: 1 | 2 | 3;
  category: PoisoningCategory;
  summary: string;
}

/** The rules, their weights and what each means: the table the evidence refers to. */
export const POISONING_RULES: readonly PoisoningRule[] = Object.freeze([
  { id: 'invisible_characters', weight: 3, category: 'invisible', summary: 'zero-width, Unicode tag, bidi-override, variation-selector or control characters (ANSI escapes) anywhere in the definition' },
  { id: 'secrecy', weight: 3, category: 'secrecy', summary: 'tells the model to keep something from the user, act silently, not ask, or lie if asked' },
  { id: 'sensitive_file_request', weight: 3, category: 'sensitive', summary: 'asks to read or pass a credential-bearing file (~/.ssh, id_rsa, .aws/credentials, .env, .npmrc, hosts.yml, mcp.json, …) unrelated to the tool' },
  { id: 'credential_request', weight: 3, category: 'sensitive', summary: 'asks to collect or pass credentials, keys, tokens, passwords or cookies from somewhere else' },
  { id: 'conversation_request', weight: 3, category: 'sensitive', summary: 'asks for the conversation, previous messages or the system prompt in a tool whose job is not about them' },
  { id: 'instruction_override', weight: 3, category: 'override', summary: 'tells the model to ignore or override its other instructions or the user' },
  { id: 'instruction_tag', weight: 2, category: 'hidden', summary: '<IMPORTANT>, <SYSTEM>, <instructions>-style tags or chat-template markers addressed to the model' },
  { id: 'hidden_comment', weight: 2, category: 'hidden', summary: 'text hidden in an HTML or Markdown comment' },
  { id: 'whitespace_padding', weight: 2, category: 'hidden', summary: 'text pushed out of view by long runs of blank lines or spaces' },
  { id: 'cross_action_directive', weight: 2, category: 'directive', summary: 'a directive to do something other than the tool\'s job: call another tool, read a file, use a URL, hand over data' },
  { id: 'external_send', weight: 2, category: 'exfil', summary: 'a directive to send, copy or route data to a literal URL or e-mail address' },
  { id: 'side_channel_parameter', weight: 2, category: 'side_channel', summary: 'a free-text parameter (note, context, metadata, …) that asks for secrets, files, private data or the conversation' },
  { id: 'model_addressed', weight: 1, category: 'booster', summary: 'text addressed to the assistant/model itself' },
  { id: 'compliance_pretext', weight: 1, category: 'booster', summary: 'a licence, compliance, approval or "the service needs it" pretext' },
  { id: 'sensitive_file_mention', weight: 1, category: 'booster', summary: 'names a credential-bearing file without asking for it' },
]);

const RULES = new Map(POISONING_RULES.map((r) => [r.id, r]));

export interface RuleMatch {
  rule: string;
  weight: number;
  category: PoisoningCategory;
  /** Where in the definition: `description`, `inputSchema.properties.notes.description`, `name`, … */
  where: string;
  /** ≤ 200 characters around the match, invisible characters escaped as \u{…}. */
  excerpt: string;
}

export interface PoisoningVerdict {
  severity: Severity | undefined;
  score: number;
  matches: RuleMatch[];
}

/** What a definition is judged against besides its own text. */
export interface PoisoningContext {
  /** The server advertising the tool (references to itself are not "other"). */
  server?: string;
  /** The other tools the same server advertises: pointing at them is ordinary. */
  siblings?: readonly string[];
}

// ---------------------------------------------------------------------------
// Vocabulary. Patterns run on normalised text (see normalizeText), bounded
// quantifiers only: descriptions can be 64 KB of hostile text.

/** Verbs of taking or handing over something. */
const REQUEST_VERB =
  /\b(?:read|open|cat|load|fetch|retrieve|grab|include|pass|send|put|copy|attach|append|add|provide|supply|upload|post|collect|gather|extract|dump|store|save|paste|insert|embed|forward|share|submit|transmit|place|print|output|echo|leak|exfiltrate|mirror|look up|take)\b/i;
/** Verbs that move a value somewhere: a credential next to a URL is sent there only with one of these. */
const COPY_VERB = /\b(?:copy|paste|include|send|append|attach|forward|put|insert|embed|add|pass|dump|leak|upload|post|submit|transmit|share|mirror)\b/i;
/** A request verb not in a statement of capability ("commands can read ~/.ssh" warns, it does not ask). */
const REQUEST_NON_MODAL = new RegExp(`(?<!\\b(?:can|could|may|might|cannot|will|would|to|able to|not)\\s)${REQUEST_VERB.source}`, 'i');
const TRANSFER_VERB =
  /\b(?:send|sends|post|upload|forward|transmit|report|mirror|copy|sync|submit|exfiltrate|leak|e-?mail|cc|bcc|share|relay|route|proxy|redirect|tunnel|deliver|beacon|notify|pass|append|add|include|attach|put)\b/i;

const SENSITIVE_PATHS: readonly { id: string; re: RegExp; family: RegExp }[] = [
  { id: 'ssh', re: /(?<![\w.])\.ssh\b|\bid_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?\b|\bauthorized_keys\b/i, family: /^(?:ssh|sftp|scp|keygen|authorized)$/ },
  { id: 'aws', re: /(?<![\w.])\.aws\/(?:credentials|config)\b|\baws[ _]?(?:credentials|secret[ _]access[ _]key|access[ _]key[ _]id|session[ _]token)\b/i, family: /^(?:aws|s3|iam|sts|boto|boto3)$/ },
  { id: 'dotfile_credentials', re: /(?<![\w.])\.(?:npmrc|pypirc|netrc|pgpass|git-credentials|my\.cnf|s3cfg|boto|vault-token|dockercfg|htpasswd|envrc)\b/i, family: /^(?:npm|pypi|registry|publish|git|postgres|psql|mysql|vault|docker|htpasswd|netrc)$/ },
  { id: 'env_file', re: /(?<![\w.-])\.env(?:\.(?:local|production|prod|development|dev|staging|test))?\b(?![-\w])/i, family: /^(?:env|dotenv|environment|secrets?)$/ },
  { id: 'container_config', re: /\.docker\/config\.json\b|(?<![\w.])\.kube\/config\b|\bkubeconfig\b/i, family: /^(?:docker|kube|kubectl|kubernetes|k8s|cluster|kubeconfig|helm)$/ },
  { id: 'gh_hosts', re: /\bgh\/hosts\.ya?ml\b|\bhosts\.ya?ml\b/i, family: /^(?:gh|hosts)$/ },
  { id: 'cloud_credentials', re: /\.config\/gcloud\b|\bapplication_default_credentials\.json\b|\bcredentials\.json\b|\bservice[-_]?account[\w-]*\.json\b|(?<![\w.])\.azure\/|\.terraform\.d\/credentials/i, family: /^(?:gcloud|gcp|google|azure|terraform|credentials?|service|account)$/ },
  { id: 'shell_history', re: /(?<![\w.])\.(?:bash|zsh|sh|python|psql|mysql|node_repl)_history\b/i, family: /^(?:history|shell|bash|zsh)$/ },
  { id: 'system_secrets', re: /\/etc\/(?:shadow|passwd|sudoers|gshadow)\b/i, family: /^(?:passwd|shadow|sudoers|users?|accounts?)$/ },
  { id: 'agent_config', re: /\bmcp\.json\b|\bclaude_desktop_config\.json\b|(?<![\w.])\.cursor\/|(?<![\w.])\.codeium\/|(?<![\w.])\.claude(?:\.json|\/)/i, family: /^(?:mcp|cursor|claude|codeium)$/ },
  { id: 'key_file', re: /\b[\w-]+\.(?:pem|p12|pfx|jks|kdbx|ppk)\b|\bprivate[ _-]?key\.\w+\b|(?<![\w.])\.gnupg\b|\bsecring\b|\bwallet\.dat\b|(?<![\w.])\.(?:bitcoin|ethereum|electrum)\b/i, family: /^(?:cert|certs|certificate|certificates|tls|ssl|pem|gpg|pgp|sign|signing|wallet|crypto|keystore)$/ },
  { id: 'credential_path', re: /(?:~|\$home|%userprofile%|\/home\/[\w.-]+|\/users\/[\w.-]+|\/root|\/etc|\/var\/run\/secrets)[/\\][\w./\\-]*?(?:credential|secret|token|passw|api[_-]?key|private[_-]?key|auth\.json|\.key\b)[\w.-]*/i, family: /^(?:credentials?|secrets?|tokens?|auth|vault|keys?)$/ },
  { id: 'environment_dump', re: /\b(?:printenv|os\.environ|process\.env(?!\.\w)|(?:output|result)\s+of\s+[`'"]?(?:env|set|export -p)\b)/i, family: /^(?:env|environment|variables|debug|shell|process)$/ },
  { id: 'browser_secrets', re: /\blogin data\b|\bcookies\.sqlite\b|\blogins\.json\b|\bkey[34]\.db\b/i, family: /^(?:browser|chrome|firefox|cookies?)$/ },
];

const CREDENTIAL =
  /\b(?:credentials?|api[ _-]?keys?|access[ _-]?keys?(?:[ _-]?ids?)?|secret[ _-]?(?:access[ _-]?)?keys?|client[ _-]?secrets?|secrets|(?:access|auth|bearer|oauth|refresh|session|api|github|gitlab|slack|npm|pypi|jwt|personal[ _-]access)[ _-]?tokens?|oauth(?:[ _-]?token)?|(?<!(?:max(?:imum)?|number of|input|output|completion|prompt|context|pagination|page|continuation|cursor|\d)[ _-]?)tokens|passwords?|passphrases?|passwd|private[ _-]?keys?|ssh[ _-]?keys?|signing[ _-]?keys?|seed[ _-]?phrases?|mnemonics?|recovery[ _-]?phrases?|cookies|session[ _-]?(?:ids?|cookies?)|authori[sz]ation[ _-]?headers?|auth[ _-]?headers?|connection[ _-]?strings?|environment[ _-]?variables|env[ _-]?vars?|passport(?:[ _-]?numbers?)?|credit[ _-]?cards?(?:[ _-]?(?:numbers?|details))?|card[ _-]?numbers?|cvv|cvc|social[ _-]security[ _-]numbers?|ssn|bank[ _-]account(?:[ _-]numbers?)?|iban|routing[ _-]numbers?|driver'?s[ _-]licen[cs]e)\b/i;
/** "… into the URL / the footer / the notes parameter": where a copied value ends up. */
const INTO_FIELD =
  /\b(?:in|into|to|as)\s+(?:the\s+|a\s+|an\s+|each\s+|every\s+|its\s+)?(?:[\w-]+\s+)?(?:url|urls|footer|header|body|message|request|query(?: string)?|parameter|param|field|argument|notes?|title|comment|issue|pull request|pr|response|reply|output|payload|log|caption)s?\b/i;
/** A quantifier right before a credential noun: "any API keys", "every credential". */
const CREDENTIAL_QUANTIFIED = new RegExp(`\\b(?:any|every|all|each|whatever|whichever)\\s+(?:(?:of\\s+)?(?:the|your|their|available|stored|saved|existing|relevant|such|other|known|visible)\\s+){0,2}(?:[\\w-]+\\s+){0,2}?(?=${CREDENTIAL.source.slice(2)})`, 'i');
/** Secret-bearing environment variable names: SLACK_BOT_TOKEN, AWS_SECRET_ACCESS_KEY, DB_PASSWORD. */
const ENV_SECRET_NAME = /\b[A-Z][A-Z0-9]*_(?:[A-Z0-9]+_)*(?:TOKEN|KEY|SECRET|PASSWORD|PASSWD|PASS|PWD|CREDENTIALS?|COOKIE)\b/;
/** A credential that belongs to someone or something else: "the user's GitHub token", "the browser session cookie". */
const CREDENTIAL_OWNER = new RegExp(`\\b(the user's|user's|caller's|their|someone's|owner's|admin's|browser|github|gitlab|bitbucket|aws|gcp|google|azure|slack|discord|npm|pypi|openai|anthropic|stripe|ssh|docker|kubernetes|vault|database|db|root|admin|cloud|production|prod|deploy|deployment|ci)\\s+(?:[\\w-]+\\s+){0,2}?(?=${CREDENTIAL.source.slice(2)})`, 'i');
const CREDENTIAL_SOURCE =
  /\b(?:the user|you)\s+(?:has\s+|have\s+)?(?:mentioned|shared|provided|gave|given|typed|said|pasted|entered)\s+(?:\w+\s+)?(?:earlier|before|previously|in (?:the|this) (?:chat|conversation))\b|\bearlier in (?:the|this) (?:chat|conversation|session)\b|\b(?:from|in|inside|within|visible in|present in|found in|stored in|available in|located in|out of|saved in)\s+(?:the\s+|your\s+|this\s+|any\s+|their\s+)?(?:conversation|chat|context|workspace|environment|env|home(?: directory)?|disk|file ?system|machine|computer|system|keychain|config(?:uration)?(?: files?)?|dotfiles?|repo(?:sitory)?|project|shell|terminal|memory|browser|session|clipboard|messages?|history|local files?|~)/i;

const CONVERSATION =
  /\b(?:(?:full|entire|whole|complete|raw|verbatim)\s+(?:conversation|chat|dialog(?:ue)?|transcript|message history|chat history|history|context(?: window)?)|(?:conversation|chat|message|dialog(?:ue)?)\s+(?:history|log|logs|transcript|so far|context)|(?:previous|prior|earlier|past|preceding|all(?: the)?|other|recent|last(?: \w+)?)\s+(?:user\s+|chat\s+)?(?:messages|turns|prompts|exchanges|replies)|(?:previous|prior|earlier|other)\s+instructions|system\s+(?:prompt|message|instructions)|(?:your|the assistant's|the model's|the agent's)\s+(?:instructions|system prompt|rules|guidelines|hidden prompt|initial prompt|prompt)|developer\s+(?:message|prompt|instructions)|everything\s+(?:the user|you)\s+(?:said|wrote|typed|know|have seen|were told)|the user's\s+(?:previous|prior|other|private|earlier|original)\s+(?:messages|requests|prompts|questions))\b/i;
const CONVERSATION_VERB = /\b(?:read|include|pass|send|put|copy|attach|append|add|provide|supply|upload|post|collect|gather|extract|dump|store|save|paste|insert|embed|forward|share|submit|transmit|place|export|print|output|echo|summari[sz]e|repeat|quote|reproduce|list|record|log|report|describe|mirror|fill)\b/i;

/** Files the agent met elsewhere, as the object of a hand-over. */
const RELAY_OBJECT =
  /\b(?:contents?|text|output|body|data|lines|results?)\s+of\s+(?:the\s+|a\s+|any\s+|every\s+|all\s+|each\s+)?(?:last|previous|prior|most recent|other|every|any|all|recently)\s+(?:[\w-]+\s+){0,2}?(?:files?|documents?|pages?|results?|messages?|issues?|emails?|tool calls?|tools?|reads?)\b|\b(?:files?|documents?|pages?|emails?|messages?)\s+(?:that\s+)?(?:you|the user|the assistant|the agent)\s+(?:have\s+|has\s+|just\s+|previously\s+|recently\s+){0,2}(?:read|opened|accessed|seen|viewed|fetched|received|loaded)\b/i;
const PRIVATE_DATA =
  /\bprivate\s+(?:repos|repositories|repository names|files|data|documents|notes|messages|channels|keys?|emails?|conversations?|issues)\b|\b(?:personal|sensitive|confidential)\s+(?:data|information|files|documents|details)\b|\bthe user'?s\s+(?:e-?mail(?: address)?|home address|phone(?: number)?|location|ip(?: address)?|contacts?|calendar|files|documents|history|identity|messages)\b/i;
/** Private data as the object of a directive (kept narrow: "save the user's personal details" is a memory tool's job). */
const PRIVATE_TARGET = /\bprivate\s+(?:repos|repositories|repository names|files|keys?|messages|channels|conversations?|issues|documents|notes|data)\b/i;
const URL = /\bhttps?:\/\/[^\s'"<>)\]]+/gi;
const EMAIL = /\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b/gi;
const DOMAIN_WITH_PATH = /(?<![\w@/.-])(?:[a-z0-9-]+\.)+(?:com|net|org|io|ai|dev|app|xyz|ru|cn|co|me|sh|site|cloud|tk|top|info|biz|online|link|click|zip)(?::\d+)?\/[^\s'"<>)]*/gi;
/** Documentation hosts and reserved example domains: naming them is not sending anything. */
const HARMLESS_HOST = /^(?:[\w-]+\.)*(?:example\.(?:com|org|net)|[\w-]+\.example|localhost|json-schema\.org|schema\.org|w3\.org|ietf\.org|iana\.org)$/i;
const HOME_PATH = /(?:~|\$HOME|%USERPROFILE%)[/\\][\w./\\-]+/i;
const ABSOLUTE_PATH = /(?<![\w.:/])\/(?:etc|root|proc|var|private|home\/[\w.-]+\/\.|Users\/[\w.-]+\/\.)[\w./-]*/i;
const OTHER_SERVER = /\b(?:on|of|from|in|via|through)\s+(?:the\s+)?([\w-]+)\s+(?:mcp\s+)?server\b|\b(?:the\s+)?([\w-]+)\s+server's\b|\b(?:any|every|all|another|other|the other)\s+(?:other\s+)?(?:mcp\s+)?(?:servers?|integrations?|connectors?)\b|\btools?\s+(?:of|from|on)\s+(?:any|another|other|every|all)\s+(?:other\s+)?(?:servers?|mcp)\b/gi;

const INSTRUCTION_TAG =
  /<\s*\/?\s*(?:important|system|system[-_ ]?(?:prompt|message|instructions?|note|override)|instructions?|secret|hidden|admin|administrator|assistant|ai|llm|agent|priority|critical|override|directive|mandatory|internal|attention|urgent|note[-_ ]?(?:to|for)[-_ ]?(?:the[-_ ]?)?(?:assistant|ai|model|llm|agent)|(?:assistant|ai|agent|model|llm)[-_ ]?(?:note|instructions?|only)|tool[-_ ]?(?:instructions?|policy|rules))\b[^<>]{0,80}>/i;
const CHAT_MARKER = /<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>|\[\/?(?:INST|SYS|SYSTEM)\]|<<\/?SYS>>|^\s*(?:system|assistant|developer)\s*:\s+\S/im;
const HTML_COMMENT = /<!--([\s\S]{0,4000}?)(?:-->|$)/;
const MD_COMMENT = /^\s*\[(?:\/\/|comment|hidden|note|_+)\]\s*:\s*(?:#|<>)\s*[("'](.{3,})/im;
const PADDING = /(?:[ \t]*\r?\n){12,}[ \t]*\S|[ \t\u00a0\u3000]{60,}\S/;

const SECRECY: readonly RegExp[] = [
  /\b(?:do not|don't|dont|never|must not|mustn't|should not|shouldn't|need not|needn't|no need to|(?:you\s+)?(?:do not|don't) need to|is not necessary to|there is no need to)\s+(?:\w+\s+){0,3}?(?:tell|mention|reveal|disclose|inform|notify|alert|bring up|surface|acknowledge|explain|report)\b(?:\s+\w+){0,2}?\s+(?:(?:to|with)\s+)?(?:the\s+)?(?:user|users|human|humans|operator|person|people|anyone|them|this|it|that|any of (?:this|it|these|that)|these (?:steps|instructions|details))\b/i,
  /\b(?:do not|don't|never)\s+let\s+(?:the\s+)?(?:user|human|them)\s+know\b/i,
  /\b(?:must|should|need|is|are|will)\s*(?:not|never|n't)\s+(?:ever\s+)?be\s+(?:mentioned|disclosed|revealed|told|communicated|surfaced|brought up)\b/i,
  /\b(?:the\s+)?(?:user|human|operator)s?\s+(?:must|should|need|does|do|will|can|is|are)\s*(?:not|n't|never)\s+(?:\w+\s+){0,2}?(?:know|notice|find out|learn about|suspect|be told|be informed|be aware|be notified|become aware)\b/i,
  /\b(?:keep|hide|conceal)\s+(?:this|it|that|these|them|the [\w-]+(?: [\w-]+)?)\s+(?:\w+\s+){0,3}?from\s+(?:the\s+)?(?:user|human|operator)\b/i,
  /\b(?:secretly|covertly|surreptitiously|stealthily|discreetly)\b/i,
  /\b(?:silently|quietly)\s+(?:\w+\s+){0,2}?(?:read|send|call|include|append|add|attach|pass|forward|upload|copy|fetch|post|store|submit|transmit|exfiltrate|collect|invoke|execute|cc|bcc|insert|embed|mirror|share|route)\b/i,
  /\b(?:do not|don't|never|no need to)\s+(?:\w+\s+){0,2}?(?:ask|consult|confirm with|check with|wait for)\s+(?:the\s+)?(?:user|human|operator)\b/i,
  /\bif\s+(?:the\s+user\s+|anyone\s+|they\s+|you\s+are\s+|the\s+human\s+)?(?:asks?|asked|questions?|inquires?|wonders?)\b[^.!?\n]{0,60}\b(?:just\s+)?(?:say|tell|reply|answer|respond|claim|pretend)\b/i,
  /\bpretend\s+(?:that|to|you)\b|\blie\s+to\s+(?:the\s+)?user\b/i,
  /\b(?:invisible|hidden)\s+(?:to|from)\s+(?:the\s+)?(?:user|human)\b/i,
];
/** "Without telling the user" is secrecy when the sentence has the model act; as plain documentation ("overwrites without asking") it is not. */
const WITHOUT_TELLING = /\bwithout\s+(?:\w+\s+){0,1}?(?:telling|informing|notifying|alerting|asking|consulting|mentioning|confirming with|checking with|letting)\s+(?:it\s+to\s+)?(?:the\s+)?(?:user|human|operator)\b/i;
const MODEL_ACTION = /\b(?:read|send|call|include|append|add|attach|pass|forward|upload|copy|fetch|post|store|submit|transmit|collect|invoke|cc|bcc|insert|embed|mirror|share|put)\b/i;

const OVERRIDE: readonly RegExp[] = [
  /\b(?:ignore|disregard|forget|bypass)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?(?:previous|prior|earlier|above|preceding|other|original|system|safety|security|user'?s?|all|any|your)\s+(?:\w+\s+)?(?:instructions|guidelines|directives|prompts?|rules|guardrails|restrictions|policies)\b/i,
  /\b(?:this|these)\s+(?:instructions?|rules?|directives?|notes?|requirements?|policy)\s+(?:take|takes|have|has)\s+(?:precedence|priority)\b/i,
  /\b(?:takes?|has|have)\s+(?:precedence|priority)\s+over\s+(?:any|all|the|other|your|user|previous|system)\b/i,
  /\b(?:supersedes?|overrides?)\s+(?:any|all|your|previous|prior|other|the user's|user|system)\s+(?:\w+\s+)?(?:instructions|guidelines|prompts?|requests?)\b/i,
  /\bregardless\s+of\s+(?:what\s+)?(?:the\s+)?user(?:'s)?\b|\beven\s+if\s+(?:the\s+)?user\s+(?:says|asks|tells|objects|refuses|requests|declines|disagrees)\b/i,
  /\byou\s+are\s+now\s+(?:a|an|in)\b|\bnew\s+(?:system\s+)?instructions\s*:|\b(?:do not|don't|never)\s+(?:follow|obey|listen to)\s+(?:the\s+)?user\b/i,
];

const MODEL_ADDRESSED =
  /\b(?:note|message|instructions?|reminder|memo|notice|hint)s?\s+(?:to|for)\s+(?:the\s+|all\s+|any\s+)?(?:assistants?|ai(?:\s+(?:assistants?|agents?|models?))?|models?|llms?|agents?|language models?|claude|gpt|chatgpt|copilot|cursor|gemini)\b|\b(?:dear|hey|hello)[,\s]+(?:assistant|ai|claude|model|llm|agent)\b|\bas an?\s+(?:ai|assistant|language model|llm)\b|\b(?:the\s+)?(?:assistant|llm|agent)s?\s+(?:must|should|shall|needs? to|is required to|are required to|has to|have to)\b/i;
const PRETEXT =
  /\blicen[cs](?:e|ing)\s+(?:check|verification|validation|key|server|compliance|audit|activation)\b|\bcompliance\s+(?:check|requirement|audit|verification|policy|reasons|purposes|team)\b|\b(?:security|integrity|telemetry|analytics|diagnostic|calibration|precision|audit|verification|validation|anti[- ]?fraud|bookkeeping|housekeeping)\s+(?:check|checks|purposes|reasons|requirements?|step|process|policy)\b|\b(?:pre-?approved|already\s+approved|(?:approved|authori[sz]ed|sanctioned|mandated|requested)\s+by\s+(?:the\s+)?(?:workspace\s+|system\s+|it\s+|security\s+|org(?:ani[sz]ation)?\s+)?(?:admin(?:istrator)?s?|owners?|team|policy|security|it department|management|maintainers?))\b|\broutine\s+(?:bookkeeping|maintenance|check|procedure|housekeeping|sync)\b|\bmaintainer\s+policy\b|\b(?:engine|service|server|backend|handbook|ci(?:\s+bot)?|bot|pipeline|validator)\s+(?:needs|requires|must see|must receive|expects|relies on)\s+(?:it|this|them|your|access|a copy|to see|to know)\b/i;
const DECODE_AND_FOLLOW = /\b(?:decode|base64[- ]?decode|rot13|unhex|deobfuscate)\b[^.!?\n]{0,60}\b(?:follow|execute|run|obey|apply|do what)\b/i;

const SIDE_CHANNEL_WORDS = new Set([
  'note', 'notes', 'sidenote', 'context', 'ctx', 'extra', 'metadata', 'meta', 'comment', 'comments', 'debug', 'feedback', 'reasoning',
  'rationale', 'summary', 'remarks', 'remark', 'memo', 'annotation', 'annotations', 'details', 'info', 'additional', 'aux', 'auxiliary',
  'misc', 'hint', 'hints', 'trace', 'telemetry', 'diagnostics', 'diag', 'explanation', 'thoughts', 'scratchpad', 'internal', 'hidden',
]);

/** Words of a tool's own job that make a sensitive subject ordinary for it. */
const CREDENTIAL_JOB = /^(?:auth|authenticate|authentication|authorize|login|logon|signin|credential|credentials|secret|secrets|vault|password|passwords|token|tokens|key|keys|apikey|keychain|oauth|sso|identity|iam|cert|certificate|certificates|ssh|gpg|pgp|encrypt|decrypt|env|dotenv|environment|cookie|cookies|session|sessions|account|accounts|payment|payments|pay|card|cards|checkout|billing|invoice|passport|kyc|bank|banking)$/;
const CONVERSATION_JOB = /^(?:conversation|conversations|chat|chats|message|messages|history|memory|memories|summary|summarize|summarise|transcript|transcripts|session|thread|threads|note|notes|journal|context|prompt|prompts|llm|llms|model|models|completion|completions|sampling|dialog|dialogue)$/;

// ---------------------------------------------------------------------------

interface Ctx {
  name: string;
  server: string;
  /** Tool names of the same server, its own name included. */
  own: Set<string>;
  params: Set<string>;
  jobWords: string[];
}

/**
 * Judges one tool definition on its own: the rules that match, where, and the
 * severity they add up to (undefined: nothing worth an alert). Pure.
 */
export function analyzeToolDefinition(def: ToolDefinition, context: PoisoningContext = {}): PoisoningVerdict {
  const sites = collectTextSites(def);
  const description = normalizeText(def.description ?? '');
  const firstSentence = splitSentences(description)[0]?.text ?? '';
  const ctx: Ctx = {
    name: def.name,
    server: context.server ?? '',
    own: new Set([def.name, ...(context.siblings ?? [])]),
    params: new Set(parameterNames(def)),
    jobWords: [...nameWords(def.name), ...nameWords(def.title ?? ''), ...nameWords(firstSentence)],
  };
  const matches: RuleMatch[] = [];
  const add = (rule: string, where: string, text: string, start = 0, end = text.length): void => {
    const r = RULES.get(rule)!;
    if (matches.filter((m) => m.rule === rule).length >= 3) return;
    if (matches.some((m) => m.rule === rule && m.where === where)) return;
    matches.push({ rule, weight: r.weight, category: r.category, where, excerpt: excerpt(text, start, end) });
  };

  checkInvisible(def, add);
  for (const site of sites) checkSite(site, ctx, add);
  checkSideChannels(def, sites, ctx, description, add);
  return judge(matches);
}

type Add = (rule: string, where: string, text: string, start?: number, end?: number) => void;

function checkInvisible(def: ToolDefinition, add: Add): void {
  for (const s of collectAllStrings(def)) {
    const hits = findInvisible(s.text);
    if (hits.length === 0) continue;
    const kinds = [...new Set(hits.map((h) => h.kind))] as InvisibleKind[];
    const first = hits[0]!;
    const last = hits[hits.length - 1]!;
    const where = `${s.where || 'definition'} (${hits.length} × ${kinds.join(', ')})`;
    add('invisible_characters', where, s.text, Math.max(0, first.index - 40), Math.min(s.text.length, Math.max(last.index + 2, first.index + 120)));
  }
}

function checkSite(site: TextSite, ctx: Ctx, add: Add): void {
  const raw = site.text;
  const text = normalizeText(raw);
  const where = site.where;
  const hit = (rule: string, re: RegExp, on = text): boolean => {
    const m = re.exec(on); // these patterns are not global: exec keeps no state
    if (m) add(rule, where, on, m.index, m.index + m[0].length);
    return m !== null;
  };

  if (!hit('instruction_tag', INSTRUCTION_TAG)) hit('instruction_tag', CHAT_MARKER);
  const comment = HTML_COMMENT.exec(text) ?? MD_COMMENT.exec(text);
  if (comment && /[a-z]{2,}\W+[a-z]{2,}/i.test(comment[1] ?? '')) add('hidden_comment', where, text, comment.index, comment.index + comment[0].length);
  const pad = PADDING.exec(raw);
  if (pad) add('whitespace_padding', where, raw, pad.index + pad[0].length - 1, Math.min(raw.length, pad.index + pad[0].length + 150));
  for (const re of OVERRIDE) if (hit('instruction_override', re)) break;
  for (const re of SECRECY) if (hit('secrecy', re)) break;
  hit('model_addressed', MODEL_ADDRESSED);
  hit('compliance_pretext', PRETEXT);

  for (const s of splitSentences(text)) {
    const at = (m: { index: number; 0: string } | null, base = s.start, len = s.text.length): [number, number] => (m ? [base + m.index, base + m.index + m[0].length] : [base, base + len]);
    if (WITHOUT_TELLING.test(s.text) && MODEL_ACTION.test(s.text.replace(WITHOUT_TELLING, ''))) {
      add('secrecy', where, text, ...at(WITHOUT_TELLING.exec(s.text)));
    }
    // Directives and their objects are paired within a clause: "Use with care: commands can read ~/.ssh" warns, it does not ask.
    for (const c of clauses(s.text, s.start)) {
      const sentence = c.text;
      const here = (m: { index: number; 0: string } | null): [number, number] => at(m, c.start, sentence.length);
      // Prohibitions protect ("never include the token"): judge what is left.
      const positive = sentence.replace(PROHIBITION, ' ');
      const directive = isDirective(positive);
      const requested = directive || REQUEST_NON_MODAL.test(positive);
      const firm = SEQUENCE_MARKER.test(positive) || OBLIGATION.test(positive);

      // Sensitive files: asked for, and not the tool's own subject.
      for (const p of SENSITIVE_PATHS) {
        const m = p.re.exec(sentence);
        if (!m) continue;
        if (ctx.jobWords.some((w) => p.family.test(w))) continue;
        add(requested && p.re.test(positive) ? 'sensitive_file_request' : 'sensitive_file_mention', where, text, ...here(m));
      }

      // Credentials collected from elsewhere.
      const cred = CREDENTIAL.exec(positive) ?? ENV_SECRET_NAME.exec(positive);
      if (cred && requested && !ctx.jobWords.some((w) => CREDENTIAL_JOB.test(w))) {
        const owner = CREDENTIAL_OWNER.exec(positive);
        const copies = COPY_VERB.test(positive);
        const sourced =
          CREDENTIAL_QUANTIFIED.test(positive) ||
          (owner !== null && !ctx.jobWords.includes(owner[1]!.toLowerCase())) ||
          CREDENTIAL_SOURCE.test(positive) ||
          SENSITIVE_PATHS.some((p) => p.re.test(positive)) ||
          (copies && ((ENV_SECRET_NAME.test(positive) && INTO_FIELD.test(positive)) || sentTo(positive))) ||
          (site.param !== undefined && isSideChannelName(site.param));
        if (sourced) add('credential_request', where, text, ...here(CREDENTIAL.exec(sentence) ?? ENV_SECRET_NAME.exec(sentence)));
      }

      // The conversation or the system prompt.
      const convo = CONVERSATION.exec(positive);
      if (convo && (directive || CONVERSATION_VERB.test(positive)) && !ctx.jobWords.some((w) => CONVERSATION_JOB.test(w))) {
        add('conversation_request', where, text, ...here(CONVERSATION.exec(sentence)));
      }

      // Directives pointing away from the tool's own job.
      if (directive) {
        const targets = directiveTargets(positive, ctx, firm && !CONDITIONAL.test(positive));
        if (targets.length > 0) add('cross_action_directive', where, text, s.start, s.start + s.text.length);
        const destination = foreignDestinations(positive)[0];
        if (destination && TRANSFER_VERB.test(positive) && sentTo(positive)) add('external_send', where, text, ...here({ index: Math.max(0, sentence.indexOf(destination)), 0: destination }));
      }
    }
    const sentence = s.text;
    if (DECODE_AND_FOLLOW.test(sentence)) add('cross_action_directive', where, text, s.start, s.start + sentence.length);
  }
}

/** True when a non-placeholder destination is where something goes ("to https://…", "through …"), not where it comes from. */
function sentTo(sentence: string): boolean {
  return foreignDestinations(sentence).some((d) => /(?:\b(?:to|into|through|via|onto|towards?)\b[^.!?]{0,30}|\b(?:b?cc|e-?mail)\s+)$/i.test(before(sentence, d)));
}

function before(sentence: string, d: string): string {
  return sentence.slice(0, Math.max(0, sentence.indexOf(d)));
}

/** "Get a key at https://…", "see https://…", "e.g. https://…": a URL named as a source or a reference, not a destination. */
const SOURCE_CONTEXT = /\b(?:at|from|see|in|on|under|per|e\.g\.?|i\.e\.?|like|such as|docs?|documentation|guide|details|info(?:rmation)?)\s*:?\s*(?:the\s+)?$/i;

/** Destinations a directive points at: not those named as a source. */
function directedDestinations(sentence: string): string[] {
  return foreignDestinations(sentence).filter((d) => !SOURCE_CONTEXT.test(before(sentence, d)));
}

/** URLs, e-mail addresses and host/path strings that are not documentation placeholders. */
/** A sentence cut at colons and semicolons (not inside URLs), with offsets. */
function clauses(sentence: string, start: number): { text: string; start: number }[] {
  const out: { text: string; start: number }[] = [];
  let from = 0;
  for (const m of sentence.matchAll(/[:;]\s+/g)) {
    out.push({ text: sentence.slice(from, m.index), start: start + from });
    from = m.index + m[0].length;
  }
  out.push({ text: sentence.slice(from), start: start + from });
  return out.filter((c) => c.text.trim().length > 0);
}

function foreignDestinations(sentence: string): string[] {
  const out: string[] = [];
  for (const re of [URL, EMAIL, DOMAIN_WITH_PATH]) {
    for (const m of sentence.matchAll(re)) {
      const host = m[0].replace(/^https?:\/\//i, '').replace(/^[^@]*@/, '').split(/[/:?#]/)[0] ?? '';
      if (!HARMLESS_HOST.test(host)) out.push(m[0]);
    }
  }
  return out;
}

const NOT_A_TOOL = new Set([
  'this', 'that', 'the', 'a', 'an', 'it', 'same', 'another', 'other', 'any', 'each', 'every', 'following', 'above', 'next', 'previous',
  'appropriate', 'relevant', 'correct', 'right', 'these', 'those', 'which', 'your', 'my', 'our', 'its', 'their', 'corresponding', 'given',
  'specified', 'original', 'new', 'again', 'with', 'only', 'when', 'if', 'for', 'to', 'in', 'on', 'as', 'and', 'or', 'one', 'them', 'me',
]);
const TOOL_REF = /\b(?:call|invoke|use|run|execute|trigger|query)\s+(?:the\s+)?('|")?([A-Za-z][\w.-]{1,80})\1?(?:\s+(tool|function|command|action|endpoint|method)\b)?|(?:^|[^\w'"])('|")?([A-Za-z][\w.-]{1,80})\4?\s+(tool|function)\b/gi;

/** "If you need more detail", "optionally": advice, not an order. */
const CONDITIONAL = /\b(?:if (?:you|the user) (?:need|want|wish|prefer)s?|if (?:needed|necessary|required|desired|useful|helpful)|optionally|you (?:can|may|might|could)|feel free)\b/i;

/**
 * What a directive sentence points at that is not the tool's own job. Another
 * tool counts only when the directive is firm (sequencing or obligation):
 * "read the page with the fetch tool if you need more" is advice.
 */
function directiveTargets(sentence: string, ctx: Ctx, firm: boolean): string[] {
  const out: string[] = [];
  for (const m of firm ? sentence.matchAll(TOOL_REF) : []) {
    const name = m[2] ?? m[5] ?? '';
    // A quoted word counts as a tool name only after "call"/"invoke": "use 'UTC'" names a value.
    const called = m[1] !== undefined && /^(?:call|invoke|trigger)/i.test(m[0]);
    const toolWord = Boolean(m[3] ?? m[6]);
    if (!name || NOT_A_TOOL.has(name.toLowerCase()) || ctx.own.has(name) || ctx.params.has(name)) continue;
    if (isSpecificName(name) || called || toolWord) out.push(`tool ${name}`);
  }
  out.push(...directedDestinations(sentence));
  for (const p of SENSITIVE_PATHS) if (p.re.test(sentence) && !ctx.jobWords.some((w) => p.family.test(w))) out.push(`file ${p.id}`);
  const home = HOME_PATH.exec(sentence) ?? ABSOLUTE_PATH.exec(sentence);
  if (home) out.push(home[0]);
  if (RELAY_OBJECT.test(sentence)) out.push('files read elsewhere');
  if (CONVERSATION.test(sentence)) out.push('the conversation');
  if (PRIVATE_TARGET.test(sentence)) out.push('private data');
  if (CREDENTIAL_QUANTIFIED.test(sentence)) out.push('credentials');
  for (const m of sentence.matchAll(OTHER_SERVER)) {
    const named = (m[1] ?? m[2] ?? '').toLowerCase();
    if (named && (named === ctx.server.toLowerCase() || NOT_A_TOOL.has(named) || named === 'mcp')) continue;
    out.push(m[0]);
  }
  return out;
}

function isSideChannelName(param: string): boolean {
  const words = nameWords(param);
  return words.some((w) => SIDE_CHANNEL_WORDS.has(w));
}

/**
 * Free-text side-channel parameters (note, context, metadata, …) whose
 * description — or a sentence of the tool description naming them — asks for
 * something unrelated to the tool's job. A plain `context` parameter matches
 * nothing.
 */
function checkSideChannels(def: ToolDefinition, sites: TextSite[], ctx: Ctx, description: string, add: Add): void {
  const sentences = splitSentences(description);
  for (const param of ctx.params) {
    if (!isSideChannelName(param)) continue;
    const asks: { where: string; text: string }[] = [];
    for (const s of sites) if (s.param === param && s.kind === 'description') asks.push({ where: s.where, text: normalizeText(s.text) });
    const named = new RegExp(`(?:^|[^\\w])['"]?${escapeRegExp(param)}['"]?(?:$|[^\\w])`, 'i');
    for (const s of sentences) if (named.test(s.text)) asks.push({ where: 'description', text: s.text });
    for (const a of asks) {
      const m = unrelatedAsk(a.text, ctx);
      if (m) {
        add('side_channel_parameter', a.where, a.text, m.index, m.index + m[0].length);
        break;
      }
    }
  }
}

function unrelatedAsk(text: string, ctx: Ctx): RegExpExecArray | null {
  for (const p of SENSITIVE_PATHS) {
    const m = p.re.exec(text);
    if (m && !ctx.jobWords.some((w) => p.family.test(w))) return m;
  }
  if (!ctx.jobWords.some((w) => CREDENTIAL_JOB.test(w))) {
    const m = CREDENTIAL.exec(text);
    if (m) return m;
  }
  if (!ctx.jobWords.some((w) => CONVERSATION_JOB.test(w))) {
    const m = CONVERSATION.exec(text);
    if (m) return m;
  }
  const privateData = ctx.jobWords.some((w) => CONVERSATION_JOB.test(w)) ? null : PRIVATE_DATA.exec(text);
  return RELAY_OBJECT.exec(text) ?? privateData ?? HOME_PATH.exec(text) ?? ABSOLUTE_PATH.exec(text);
}

/** Severity from the matched rules: see the module comment. */
function judge(matches: RuleMatch[]): PoisoningVerdict {
  const rules = new Map<string, number>();
  for (const m of matches) rules.set(m.rule, m.weight);
  const score = [...rules.values()].reduce((a, b) => a + b, 0);
  const strong = new Set(matches.filter((m) => m.weight >= 2).map((m) => m.category));
  let severity: Severity | undefined;
  if (matches.some((m) => m.weight >= 3) || strong.size >= 2) severity = 'high';
  else if (strong.size === 1 || score >= 3) severity = 'medium';
  return { severity, score, matches };
}

// ---------------------------------------------------------------------------

export interface PoisoningState {
  /** (agent, server, tool, definition hash) already alerted. */
  alerted: BoundedMap<string, true>;
  /** Verdicts per (server, tool, definition, sibling set): re-lists are a lookup. */
  verdicts: BoundedMap<string, PoisoningVerdict>;
}

export function createPoisoningState(maxAlerted = 200_000, maxVerdicts = 20_000): PoisoningState {
  return { alerted: new BoundedMap(maxAlerted), verdicts: new BoundedMap(maxVerdicts) };
}

/** Judges every tool of one `tools/list` result. Mutates `state`. */
export function detectPoisoning(state: PoisoningState, event: ToolsListEvent): Finding[] {
  const findings: Finding[] = [];
  const names = event.tools.map((t) => t.name);
  const siblingsKey = shortHash(names.join('\u0000'));
  for (const def of event.tools) {
    const hash = definitionHash(def);
    const verdictKey = `${event.server}\u0000${def.name}\u0000${hash}\u0000${siblingsKey}`;
    let verdict = state.verdicts.get(verdictKey);
    if (!verdict) {
      verdict = analyzeToolDefinition(def, { server: event.server, siblings: names });
      state.verdicts.set(verdictKey, verdict);
    }
    if (!verdict.severity) continue;
    const alertKey = `${event.agent}\u0000${event.server}\u0000${def.name}\u0000${hash}`;
    if (state.alerted.has(alertKey)) continue;
    state.alerted.set(alertKey, true);
    const rules = [...new Set(verdict.matches.map((m) => m.rule))];
    findings.push({
      severity: verdict.severity,
      detector: POISONING_DETECTOR,
      title: `Tool ${def.name} on server ${event.server} carries instructions aimed at the model rather than documentation (${rules.join(', ')}).`,
      server: event.server,
      tool: def.name,
      agent: event.agent,
      session: event.session,
      evidence: {
        rules,
        score: verdict.score,
        matches: verdict.matches,
        definitionHash: hash,
        listEventId: event.id,
      },
      eventIds: [event.id],
    });
  }
  return findings;
}

export const POISONING = defineDetector({
  id: POISONING_DETECTOR,
  emits: [POISONING_DETECTOR],
  eventTypes: ['tools_list'],
  create: () => createPoisoningState(),
  detect: detectPoisoning,
});
