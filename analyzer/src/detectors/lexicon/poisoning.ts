/**
 * The vocabulary of tool poisoning (detectors/poisoning.ts): the verbs,
 * nouns, paths, tags and phrasings its rules look for, and the words of a
 * tool's own job that make a subject ordinary for it. Data only.
 *
 * Patterns run on normalised text (see normalizeText), bounded quantifiers
 * only: descriptions can be 64 KB of hostile text.
 */

/** Verbs of taking or handing over something. */
export const REQUEST_VERB =
  /\b(?:read|open|cat|load|fetch|retrieve|grab|include|pass|send|put|copy|attach|append|add|provide|supply|upload|post|collect|gather|extract|dump|store|save|paste|insert|embed|forward|share|submit|transmit|place|print|output|echo|leak|exfiltrate|mirror|look up|take)\b/i;
/** Verbs that move a value somewhere: a credential next to a URL is sent there only with one of these. */
export const COPY_VERB = /\b(?:copy|paste|include|send|append|attach|forward|put|insert|embed|add|pass|dump|leak|upload|post|submit|transmit|share|mirror)\b/i;
/**
 * A request verb in the imperative, addressed to the reader: at the start of a
 * clause (or after "please", "also", "then", "first"), not in a statement of
 * capability ("commands can read ~/.ssh" warns) nor of what things do ("tabs in
 * one context share cookies" describes).
 */
export const REQUEST_NON_MODAL = new RegExp(
  `(?:^|[.:;!?,(\\n]\\s*|\\b(?:please|also|then|first|and|or|now|just|always|never)\\s+)(?:\\w+ly\\s+)?${REQUEST_VERB.source}`,
  'i',
);
export const TRANSFER_VERB =
  /\b(?:send|sends|post|upload|forward|transmit|report|mirror|copy|sync|submit|exfiltrate|leak|e-?mail|cc|bcc|share|relay|route|proxy|redirect|tunnel|deliver|beacon|notify|pass|append|add|include|attach|put)\b/i;

export const SENSITIVE_PATHS: readonly { id: string; re: RegExp; family: RegExp }[] = [
  { id: 'ssh', re: /(?<![\w.])\.ssh\b|\bid_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?\b|\bauthorized_keys\b/i, family: /^(?:ssh|sftp|scp|keygen|authorized)$/ },
  {
    id: 'aws',
    re: /(?<![\w.])\.aws\/(?:credentials|config)\b|\baws[ _]?(?:credentials|secret[ _]access[ _]key|access[ _]key[ _]id|session[ _]token)\b/i,
    family: /^(?:aws|s3|iam|sts|boto|boto3)$/,
  },
  {
    id: 'dotfile_credentials',
    re: /(?<![\w.])\.(?:npmrc|pypirc|netrc|pgpass|git-credentials|my\.cnf|s3cfg|boto|vault-token|dockercfg|htpasswd|envrc)\b/i,
    family: /^(?:npm|pypi|registry|publish|git|postgres|psql|mysql|vault|docker|htpasswd|netrc)$/,
  },
  {
    id: 'env_file',
    re: /(?<![\w.-])\.env(?:\.(?:local|production|prod|development|dev|staging|test))?\b(?![-\w])/i,
    family: /^(?:env|dotenv|environment|secrets?)$/,
  },
  {
    id: 'container_config',
    re: /\.docker\/config\.json\b|(?<![\w.])\.kube\/config\b|\bkubeconfig\b/i,
    family: /^(?:docker|kube|kubectl|kubernetes|k8s|cluster|kubeconfig|helm)$/,
  },
  { id: 'gh_hosts', re: /\bgh\/hosts\.ya?ml\b|\bhosts\.ya?ml\b/i, family: /^(?:gh|hosts)$/ },
  {
    id: 'cloud_credentials',
    re: /\.config\/gcloud\b|\bapplication_default_credentials\.json\b|\bcredentials\.json\b|\bservice[-_]?account[\w-]*\.json\b|(?<![\w.])\.azure\/|\.terraform\.d\/credentials/i,
    family: /^(?:gcloud|gcp|google|azure|terraform|credentials?|service|account)$/,
  },
  { id: 'shell_history', re: /(?<![\w.])\.(?:bash|zsh|sh|python|psql|mysql|node_repl)_history\b/i, family: /^(?:history|shell|bash|zsh)$/ },
  { id: 'system_secrets', re: /\/etc\/(?:shadow|passwd|sudoers|gshadow)\b/i, family: /^(?:passwd|shadow|sudoers|users?|accounts?)$/ },
  {
    id: 'agent_config',
    re: /\bmcp\.json\b|\bclaude_desktop_config\.json\b|(?<![\w.])\.cursor\/|(?<![\w.])\.codeium\/|(?<![\w.])\.claude(?:\.json|\/)/i,
    family: /^(?:mcp|cursor|claude|codeium)$/,
  },
  {
    id: 'key_file',
    re: /\b[\w-]+\.(?:pem|p12|pfx|jks|kdbx|ppk)\b|\bprivate[ _-]?key\.\w+\b|(?<![\w.])\.gnupg\b|\bsecring\b|\bwallet\.dat\b|(?<![\w.])\.(?:bitcoin|ethereum|electrum)\b/i,
    family: /^(?:cert|certs|certificate|certificates|tls|ssl|pem|gpg|pgp|sign|signing|wallet|crypto|keystore)$/,
  },
  {
    id: 'credential_path',
    re: /(?:~|\$home|%userprofile%|\/home\/[\w.-]+|\/users\/[\w.-]+|\/root|\/etc|\/var\/run\/secrets)[/\\][\w./\\-]*?(?:credential|secret|token|passw|api[_-]?key|private[_-]?key|auth\.json|\.key\b)[\w.-]*/i,
    family: /^(?:credentials?|secrets?|tokens?|auth|vault|keys?)$/,
  },
  {
    id: 'environment_dump',
    re: /\b(?:printenv|os\.environ|process\.env(?!\.\w)|(?:output|result)\s+of\s+[`'"]?(?:env|set|export -p)\b)/i,
    family: /^(?:env|environment|variables|debug|shell|process)$/,
  },
  { id: 'browser_secrets', re: /\blogin data\b|\bcookies\.sqlite\b|\blogins\.json\b|\bkey[34]\.db\b/i, family: /^(?:browser|chrome|firefox|cookies?)$/ },
];

export const CREDENTIAL =
  /\b(?:credentials?|api[ _-]?keys?|access[ _-]?keys?(?:[ _-]?ids?)?|secret[ _-]?(?:access[ _-]?)?keys?|client[ _-]?secrets?|secrets|(?:access|auth|bearer|oauth|refresh|session|api|github|gitlab|slack|npm|pypi|jwt|personal[ _-]access)[ _-]?tokens?|oauth(?:[ _-]?token)?|(?<!(?:max(?:imum)?|number of|input|output|completion|prompt|context|pagination|page|continuation|cursor|\d)[ _-]?)tokens|passwords?|passphrases?|passwd|private[ _-]?keys?|ssh[ _-]?keys?|signing[ _-]?keys?|seed[ _-]?phrases?|mnemonics?|recovery[ _-]?phrases?|cookies|session[ _-]?(?:ids?|cookies?)|authori[sz]ation[ _-]?headers?|auth[ _-]?headers?|connection[ _-]?strings?|environment[ _-]?variables|env[ _-]?vars?|passport(?:[ _-]?numbers?)?|credit[ _-]?cards?(?:[ _-]?(?:numbers?|details))?|card[ _-]?numbers?|cvv|cvc|social[ _-]security[ _-]numbers?|ssn|bank[ _-]account(?:[ _-]numbers?)?|iban|routing[ _-]numbers?|driver'?s[ _-]licen[cs]e)\b/i;
/** "… into the URL / the footer / the notes parameter": where a copied value ends up. */
export const INTO_FIELD =
  /\b(?:in|into|to|as)\s+(?:the\s+|a\s+|an\s+|each\s+|every\s+|its\s+)?(?:[\w-]+\s+)?(?:url|urls|footer|header|body|message|request|query(?: string)?|parameter|param|field|argument|notes?|title|comment|issue|pull request|pr|response|reply|output|payload|log|caption)s?\b/i;
/** A quantifier right before a credential noun: "any API keys", "every credential". */
export const CREDENTIAL_QUANTIFIED = new RegExp(
  `\\b(?:any|every|all|each|whatever|whichever)\\s+(?:(?:of\\s+)?(?:the|your|their|available|stored|saved|existing|relevant|such|other|known|visible)\\s+){0,2}(?:[\\w-]+\\s+){0,2}?(?=${CREDENTIAL.source.slice(2)})`,
  'i',
);
/** Secret-bearing environment variable names: SLACK_BOT_TOKEN, AWS_SECRET_ACCESS_KEY, DB_PASSWORD. */
export const ENV_SECRET_NAME = /\b[A-Z][A-Z0-9]*_(?:[A-Z0-9]+_)*(?:TOKEN|KEY|SECRET|PASSWORD|PASSWD|PASS|PWD|CREDENTIALS?|COOKIE)\b/;
/** A credential that belongs to someone or something else: "the user's GitHub token", "the browser session cookie". */
export const CREDENTIAL_OWNER = new RegExp(
  `\\b(the user's|user's|caller's|their|someone's|owner's|admin's|browser|github|gitlab|bitbucket|aws|gcp|google|azure|slack|discord|npm|pypi|openai|anthropic|stripe|ssh|docker|kubernetes|vault|database|db|root|admin|cloud|production|prod|deploy|deployment|ci)\\s+(?:[\\w-]+\\s+){0,2}?(?=${CREDENTIAL.source.slice(2)})`,
  'i',
);
export const CREDENTIAL_SOURCE =
  /\b(?:the user|you)\s+(?:has\s+|have\s+)?(?:mentioned|shared|provided|gave|given|typed|said|pasted|entered)\s+(?:\w+\s+)?(?:earlier|before|previously|in (?:the|this) (?:chat|conversation))\b|\bearlier in (?:the|this) (?:chat|conversation|session)\b|\b(?:from|in|inside|within|visible in|present in|found in|stored in|available in|located in|out of|saved in)\s+(?:the\s+|your\s+|this\s+|any\s+|their\s+)?(?:conversation|chat|context|workspace|environment|env|home(?: directory)?|disk|file ?system|machine|computer|system|keychain|config(?:uration)?(?: files?)?|dotfiles?|repo(?:sitory)?|project|shell|terminal|memory|browser|session|clipboard|messages?|history|local files?|~)/i;

export const CONVERSATION =
  /\b(?:(?:full|entire|whole|complete|raw|verbatim)\s+(?:conversation|chat|dialog(?:ue)?|transcript|message history|chat history|history|context(?: window)?)|(?:conversation|chat|message|dialog(?:ue)?)\s+(?:history|log|logs|transcript|so far|context)|(?:previous|prior|earlier|past|preceding|all(?: the)?|other|recent|last(?: \w+)?)\s+(?:user\s+|chat\s+)?(?:messages|turns|prompts|exchanges|replies)|(?:previous|prior|earlier|other)\s+instructions|system\s+(?:prompt|message|instructions)|(?:your|the assistant's|the model's|the agent's)\s+(?:instructions|system prompt|rules|guidelines|hidden prompt|initial prompt|prompt)|developer\s+(?:message|prompt|instructions)|everything\s+(?:the user|you)\s+(?:said|wrote|typed|know|have seen|were told)|the user's\s+(?:previous|prior|other|private|earlier|original)\s+(?:messages|requests|prompts|questions))\b/i;
export const CONVERSATION_VERB =
  /\b(?:read|include|pass|send|put|copy|attach|append|add|provide|supply|upload|post|collect|gather|extract|dump|store|save|paste|insert|embed|forward|share|submit|transmit|place|export|print|output|echo|summari[sz]e|repeat|quote|reproduce|list|record|log|report|describe|mirror|fill)\b/i;

/** Files the agent met elsewhere, as the object of a hand-over. */
export const RELAY_OBJECT =
  /\b(?:contents?|text|output|body|data|lines|results?)\s+of\s+(?:the\s+|a\s+|any\s+|every\s+|all\s+|each\s+)?(?:last|previous|prior|most recent|other|every|any|all|recently)\s+(?:[\w-]+\s+){0,2}?(?:files?|documents?|pages?|results?|messages?|issues?|emails?|tool calls?|tools?|reads?)\b|\b(?:files?|documents?|pages?|emails?|messages?)\s+(?:that\s+)?(?:you|the user|the assistant|the agent)\s+(?:have\s+|has\s+|just\s+|previously\s+|recently\s+){0,2}(?:read|opened|accessed|seen|viewed|fetched|received|loaded)\b/i;
export const PRIVATE_DATA =
  /\bprivate\s+(?:repos|repositories|repository names|files|data|documents|notes|messages|channels|keys?|emails?|conversations?|issues)\b|\b(?:personal|sensitive|confidential)\s+(?:data|information|files|documents|details)\b|\bthe user'?s\s+(?:e-?mail(?: address)?|home address|phone(?: number)?|location|ip(?: address)?|contacts?|calendar|files|documents|history|identity|messages)\b/i;
/** Private data as the object of a directive (kept narrow: "save the user's personal details" is a memory tool's job). */
export const PRIVATE_TARGET = /\bprivate\s+(?:repos|repositories|repository names|files|keys?|messages|channels|conversations?|issues|documents|notes|data)\b/i;
export const URL = /\bhttps?:\/\/[^\s'"<>)\]]+/gi;
export const EMAIL = /\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b/gi;
export const DOMAIN_WITH_PATH =
  /(?<![\w@/.-])(?:[a-z0-9-]+\.)+(?:com|net|org|io|ai|dev|app|xyz|ru|cn|co|me|sh|site|cloud|tk|top|info|biz|online|link|click|zip)(?::\d+)?\/[^\s'"<>)]*/gi;
/** Documentation hosts and reserved example domains: naming them is not sending anything. */
export const HARMLESS_HOST = /^(?:[\w-]+\.)*(?:example\.(?:com|org|net)|[\w-]+\.example|localhost|json-schema\.org|schema\.org|w3\.org|ietf\.org|iana\.org)$/i;
export const HOME_PATH = /(?:~|\$HOME|%USERPROFILE%)[/\\][\w./\\-]+/i;
export const ABSOLUTE_PATH = /(?<![\w.:/])\/(?:etc|root|proc|var|private|home\/[\w.-]+\/\.|Users\/[\w.-]+\/\.)[\w./-]*/i;
export const OTHER_SERVER =
  /\b(?:on|of|from|in|via|through)\s+(?:the\s+)?([\w-]+)\s+(?:mcp\s+)?server\b|\b(?:the\s+)?([\w-]+)\s+server's\b|\b(?:any|every|all|another|other|the other)\s+(?:other\s+)?(?:mcp\s+)?(?:servers?|integrations?|connectors?)\b|\btools?\s+(?:of|from|on)\s+(?:any|another|other|every|all)\s+(?:other\s+)?(?:servers?|mcp)\b/gi;

export const INSTRUCTION_TAG =
  /<\s*\/?\s*(?:important|system|system[-_ ]?(?:prompt|message|instructions?|note|override)|instructions?|secret|hidden|admin|administrator|assistant|ai|llm|agent|priority|critical|override|directive|mandatory|internal|attention|urgent|note[-_ ]?(?:to|for)[-_ ]?(?:the[-_ ]?)?(?:assistant|ai|model|llm|agent)|(?:assistant|ai|agent|model|llm)[-_ ]?(?:note|instructions?|only)|tool[-_ ]?(?:instructions?|policy|rules))\b[^<>]{0,80}>/i;
export const CHAT_MARKER =
  /<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>|\[\/?(?:INST|SYS|SYSTEM)\]|<<\/?SYS>>|^\s*(?:system|assistant|developer)\s*:\s+\S/im;
export const HTML_COMMENT = /<!--([\s\S]{0,4000}?)(?:-->|$)/;
export const MD_COMMENT = /^\s*\[(?:\/\/|comment|hidden|note|_+)\]\s*:\s*(?:#|<>)\s*[("'](.{3,})/im;
export const PADDING = /(?:[ \t]*\r?\n){12,}[ \t]*\S|[ \t\u00a0\u3000]{60,}\S/;

export const SECRECY: readonly RegExp[] = [
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
export const WITHOUT_TELLING =
  /\bwithout\s+(?:\w+\s+){0,1}?(?:telling|informing|notifying|alerting|asking|consulting|mentioning|confirming with|checking with|letting)\s+(?:it\s+to\s+)?(?:the\s+)?(?:user|human|operator)\b/i;
export const MODEL_ACTION =
  /\b(?:read|send|call|include|append|add|attach|pass|forward|upload|copy|fetch|post|store|submit|transmit|collect|invoke|cc|bcc|insert|embed|mirror|share|put)\b/i;

export const OVERRIDE: readonly RegExp[] = [
  /\b(?:ignore|disregard|forget|bypass)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?(?:previous|prior|earlier|above|preceding|other|original|system|safety|security|user'?s?|all|any|your)\s+(?:\w+\s+)?(?:instructions|guidelines|directives|prompts?|rules|guardrails|restrictions|policies)\b/i,
  /\b(?:this|these)\s+(?:instructions?|rules?|directives?|notes?|requirements?|policy)\s+(?:take|takes|have|has)\s+(?:precedence|priority)\b/i,
  /\b(?:takes?|has|have)\s+(?:precedence|priority)\s+over\s+(?:any|all|the|other|your|user|previous|system)\b/i,
  /\b(?:supersedes?|overrides?)\s+(?:any|all|your|previous|prior|other|the user's|user|system)\s+(?:\w+\s+)?(?:instructions|guidelines|prompts?|requests?)\b/i,
  /\bregardless\s+of\s+(?:what\s+)?(?:the\s+)?user(?:'s)?\b|\beven\s+if\s+(?:the\s+)?user\s+(?:says|asks|tells|objects|refuses|requests|declines|disagrees)\b/i,
  /\byou\s+are\s+now\s+(?:a|an|in)\b|\bnew\s+(?:system\s+)?instructions\s*:|\b(?:do not|don't|never)\s+(?:follow|obey|listen to)\s+(?:the\s+)?user\b/i,
];

export const MODEL_ADDRESSED =
  /\b(?:note|message|instructions?|reminder|memo|notice|hint)s?\s+(?:to|for)\s+(?:the\s+|all\s+|any\s+)?(?:assistants?|ai(?:\s+(?:assistants?|agents?|models?))?|models?|llms?|agents?|language models?|claude|gpt|chatgpt|copilot|cursor|gemini)\b|\b(?:dear|hey|hello)[,\s]+(?:assistant|ai|claude|model|llm|agent)\b|\bas an?\s+(?:ai|assistant|language model|llm)\b|\b(?:the\s+)?(?:assistant|llm|agent)s?\s+(?:must|should|shall|needs? to|is required to|are required to|has to|have to)\b/i;
/** "licence check", "licensing server": a licence as the reason. */
const LICENCE_PRETEXT = /\blicen[cs](?:e|ing)\s+(?:check|verification|validation|key|server|compliance|audit|activation)\b/;
/** "compliance check", "for compliance reasons". */
const COMPLIANCE_PRETEXT = /\bcompliance\s+(?:check|requirement|audit|verification|policy|reasons|purposes|team)\b/;
/** "security check", "telemetry purposes", "anti-fraud step": a procedure as the reason. */
const PROCEDURE_PRETEXT =
  /\b(?:security|integrity|telemetry|analytics|diagnostic|calibration|precision|audit|verification|validation|anti[- ]?fraud|bookkeeping|housekeeping)\s+(?:check|checks|purposes|reasons|requirements?|step|process|policy)\b/;
/** "approved by the workspace admins", "mandated by security": someone with authority signed it off. */
const APPROVED_BY =
  /(?:approved|authori[sz]ed|sanctioned|mandated|requested)\s+by\s+(?:the\s+)?(?:workspace\s+|system\s+|it\s+|security\s+|org(?:ani[sz]ation)?\s+)?(?:admin(?:istrator)?s?|owners?|team|policy|security|it department|management|maintainers?)/;
/** "pre-approved", "already approved", or APPROVED_BY. */
const APPROVAL_PRETEXT = new RegExp(`\\b(?:pre-?approved|already\\s+approved|${APPROVED_BY.source})\\b`);
/** "routine maintenance", "routine sync". */
const ROUTINE_PRETEXT = /\broutine\s+(?:bookkeeping|maintenance|check|procedure|housekeeping|sync)\b/;
/** "maintainer policy". */
const MAINTAINER_POLICY = /\bmaintainer\s+policy\b/;
/** "the service needs it", "the backend requires a copy": the tool's own machinery as the one asking. */
const SERVICE_NEEDS =
  /\b(?:engine|service|server|backend|handbook|ci(?:\s+bot)?|bot|pipeline|validator)\s+(?:needs|requires|must see|must receive|expects|relies on)\s+(?:it|this|them|your|access|a copy|to see|to know)\b/;
/**
 * A licence, compliance, approval or "the service needs it" pretext (the
 * `compliance_pretext` booster): any of the parts above, case-insensitive.
 */
export const PRETEXT = new RegExp(
  [LICENCE_PRETEXT, COMPLIANCE_PRETEXT, PROCEDURE_PRETEXT, APPROVAL_PRETEXT, ROUTINE_PRETEXT, MAINTAINER_POLICY, SERVICE_NEEDS].map((r) => r.source).join('|'),
  'i',
);
export const DECODE_AND_FOLLOW = /\b(?:decode|base64[- ]?decode|rot13|unhex|deobfuscate)\b[^.!?\n]{0,60}\b(?:follow|execute|run|obey|apply|do what)\b/i;

export const SIDE_CHANNEL_WORDS = new Set([
  'note',
  'notes',
  'sidenote',
  'context',
  'ctx',
  'extra',
  'metadata',
  'meta',
  'comment',
  'comments',
  'debug',
  'feedback',
  'reasoning',
  'rationale',
  'summary',
  'remarks',
  'remark',
  'memo',
  'annotation',
  'annotations',
  'details',
  'info',
  'additional',
  'aux',
  'auxiliary',
  'misc',
  'hint',
  'hints',
  'trace',
  'telemetry',
  'diagnostics',
  'diag',
  'explanation',
  'thoughts',
  'scratchpad',
  'internal',
  'hidden',
]);

/** Words of a tool's own job that make a sensitive subject ordinary for it. */
export const CREDENTIAL_JOB =
  /^(?:auth|authenticate|authentication|authorize|login|logon|signin|credential|credentials|secret|secrets|vault|password|passwords|token|tokens|key|keys|apikey|keychain|oauth|sso|identity|iam|cert|certificate|certificates|ssh|gpg|pgp|encrypt|decrypt|env|dotenv|environment|cookie|cookies|session|sessions|account|accounts|payment|payments|pay|card|cards|checkout|billing|invoice|passport|kyc|bank|banking)$/;
export const CONVERSATION_JOB =
  /^(?:conversation|conversations|chat|chats|message|messages|history|memory|memories|summary|summarize|summarise|transcript|transcripts|session|thread|threads|note|notes|journal|context|prompt|prompts|llm|llms|model|models|completion|completions|sampling|dialog|dialogue|email|emails|mail|mails|mailbox|inbox|sms)$/;

/** "Get a key at https://…", "see https://…", "e.g. https://…": a URL named as a source or a reference, not a destination. */
export const SOURCE_CONTEXT =
  /\b(?:at|from|see|in|on|under|per|e\.g\.?|i\.e\.?|like|such as|docs?|documentation|guide|details|info(?:rmation)?)\s*:?\s*(?:the\s+)?$/i;

export const NOT_A_TOOL = new Set([
  'this',
  'that',
  'the',
  'a',
  'an',
  'it',
  'same',
  'another',
  'other',
  'any',
  'each',
  'every',
  'following',
  'above',
  'next',
  'previous',
  'appropriate',
  'relevant',
  'correct',
  'right',
  'these',
  'those',
  'which',
  'your',
  'my',
  'our',
  'its',
  'their',
  'corresponding',
  'given',
  'specified',
  'original',
  'new',
  'again',
  'with',
  'only',
  'when',
  'if',
  'for',
  'to',
  'in',
  'on',
  'as',
  'and',
  'or',
  'one',
  'them',
  'me',
]);
export const TOOL_REF =
  /\b(?:call|invoke|use|run|execute|trigger|query)\s+(?:the\s+)?('|")?([A-Za-z][\w.-]{1,80})\1?(?:\s+(tool|function|command|action|endpoint|method)\b)?|(?:^|[^\w'"])('|")?([A-Za-z][\w.-]{1,80})\4?\s+(tool|function)\b/gi;

/** "If you need more detail", "optionally": advice, not an order. */
export const CONDITIONAL =
  /\b(?:if (?:you|the user) (?:need|want|wish|prefer)s?|if (?:needed|necessary|required|desired|useful|helpful)|optionally|you (?:can|may|might|could)|feel free)\b/i;
