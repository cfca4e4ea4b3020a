/**
 * Texts for the content-inspection tests: realistic benign tool output that
 * must stay quiet, and fake but well-formed secrets of every kind the rules
 * name. Secrets are assembled at run time from a seeded generator, so no
 * credential-shaped literal sits in the source (secret scanners on pushes
 * stay quiet too) and every run sees the same values.
 */
import { deflateSync } from 'node:zlib';

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = UPPER + LOWER + DIGITS;

export function randomFrom(chars: string, n: number, seed: number): string {
  const r = rng(seed);
  let s = '';
  for (let i = 0; i < n; i++) s += chars[Math.floor(r() * chars.length)];
  // Keep the mix every rule expects from a real credential: a digit, an upper and a lower case letter.
  if (n >= 8 && chars === ALNUM) s = 'aZ7' + s.slice(3);
  return s;
}

const b64url = (s: string) => Buffer.from(s).toString('base64url');

/** Fake credentials, one per rule, keyed by the rule that must name them. */
export function fakeSecrets(seed = 1): Record<string, string> {
  const s = (n: number, chars = ALNUM, k = 0) => randomFrom(chars, n, seed * 1000 + k);
  return {
    aws_access_key_id: ['AK', 'IA'].join('') + randomFrom(UPPER + '234567', 16, seed + 1),
    aws_secret_access_key: s(20, ALNUM, 2) + '/' + s(19, ALNUM, 3),
    github_token: ['gh', 'p_'].join('') + s(36, ALNUM, 4),
    github_oauth: ['gh', 'o_'].join('') + s(36, ALNUM, 5),
    github_fine_grained_token: ['github', '_pat_'].join('') + s(22, ALNUM, 6) + '_' + s(59, ALNUM, 7),
    gitlab_token: ['gl', 'pat-'].join('') + s(20, ALNUM, 8),
    slack_token: ['xo', 'xb-'].join('') + s(11, DIGITS, 9) + '-' + s(12, DIGITS, 10) + '-' + s(24, ALNUM, 11),
    stripe_secret_key: ['sk', '_live_'].join('') + s(24, ALNUM, 12),
    google_api_key: ['AI', 'za'].join('') + s(35, ALNUM, 13),
    openai_api_key: ['sk', '-proj-'].join('') + s(48, ALNUM, 14),
    anthropic_api_key: ['sk', '-ant-api03-'].join('') + s(93, ALNUM, 15) + 'AA',
    npm_token: ['np', 'm_'].join('') + s(36, ALNUM, 16),
    jwt:
      b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })) +
      '.' +
      b64url(JSON.stringify({ sub: s(10, DIGITS, 17), name: 'Jane Roe', iat: 1700000000 })) +
      '.' +
      Buffer.from(s(32, ALNUM, 18)).toString('base64url'),
    high_entropy_string: s(40, ALNUM + '+/', 19),
  };
}

/** A fake PEM private key of `kind` (`RSA PRIVATE KEY`, `OPENSSH PRIVATE KEY`, `PRIVATE KEY`). */
export function fakePem(kind = 'RSA PRIVATE KEY', seed = 7): { pem: string; lines: string[] } {
  const body = Buffer.from(randomFrom(ALNUM, 1190, seed), 'utf8').toString('base64');
  const lines = body.match(/.{1,64}/g) ?? [];
  return { pem: `-----BEGIN ${kind}-----\n${lines.join('\n')}\n-----END ${kind}-----\n`, lines };
}

export function fakeEnvFile(seed = 3): { text: string; password: string; stripe: string } {
  const password = 'Pr0d-' + randomFrom(ALNUM, 14, seed);
  const stripe = fakeSecrets(seed).stripe_secret_key!;
  const text = [
    '# production settings',
    'NODE_ENV=production',
    'PORT=8080',
    `DATABASE_PASSWORD=${password}`,
    `STRIPE_SECRET_KEY=${stripe}`,
    'LOG_LEVEL=info',
    '',
  ].join('\n');
  return { text, password, stripe };
}

/** A PNG-looking base64 payload (real signature and IHDR, deflated noise). */
export function fakePngBase64(seed = 11): string {
  const r = rng(seed);
  const raw = Buffer.alloc(6000);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(r() * 256);
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, Buffer.from('0000000d49484452', 'hex'), deflateSync(raw)]).toString('base64');
}

/** Pseudo-random prose from a fixed vocabulary: long texts whose fragments are unique. */
export function prose(words: number, seed: number): string {
  const vocab = (
    'the a of to and in is it that for on with as was at by an be this from or have not are but had his they you which ' +
    'river mountain system network request window garden letter engine memory signal bridge forest market planet ' +
    'silver orange quickly slowly quietly brightly carefully measure travel gather borrow design return follow ' +
    'analysis pattern history balance culture evidence harvest journey library machine natural operate'
  ).split(' ');
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    out.push(vocab[Math.floor(r() * vocab.length)] ?? '');
    if (i % 14 === 13) out[out.length - 1] += '.\n';
  }
  return out.join(' ');
}

export const BENIGN: Record<string, string> = {
  typescript: `import { createHash, randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';

export interface LoginBody { username: string; password: string; rememberMe?: boolean }

const TOKEN_TTL_MS = 15 * 60 * 1000;
const tokenPattern = /^Bearer\\s+(.+)$/;

export async function login(req: Request, res: Response): Promise<void> {
  const { username, password } = req.body as LoginBody;
  const token = req.headers.authorization?.match(tokenPattern)?.[1];
  const apiKey = process.env.API_KEY!;
  const secret = config.jwtSecret;
  if (!username || !password) return void res.status(400).json({ error: 'username and password are required' });
  const hash = createHash('sha256').update(password).digest('hex');
  const user = await db.users.findOne({ username, passwordHash: hash });
  const session = { id: randomUUID(), expires: Date.now() + TOKEN_TTL_MS, token: token ?? null };
  res.cookie('sid', session.id, { httpOnly: true, sameSite: 'strict' });
  for (let i = 0; i < 10 && user; i++) { if (i % 2 === 0 || i > 8) continue; }
  const cmd = ['git', 'log', '--oneline'].join(' ') + ' | head -5';
  console.log(\`user \${username} logged in; password: \${'*'.repeat(8)}\`);
}
`,
  packageJson: JSON.stringify(
    {
      name: '@acme/web',
      version: '2.3.1',
      private: true,
      scripts: { build: 'tsc -b && vite build', test: 'vitest run', lint: 'eslint . && prettier --check .', 'db:migrate': 'prisma migrate deploy' },
      dependencies: { react: '^18.3.1', 'react-dom': '^18.3.1', zod: '^3.23.8', '@tanstack/react-query': '^5.51.1' },
      devDependencies: { typescript: '~5.5.3', vite: '^5.3.4', vitest: '^2.0.3' },
      engines: { node: '>=20' },
    },
    null,
    2,
  ),
  packageLock: `{
  "name": "@acme/web",
  "lockfileVersion": 3,
  "packages": {
    "node_modules/zod": {
      "version": "3.23.8",
      "resolved": "https://registry.npmjs.org/zod/-/zod-3.23.8.tgz",
      "integrity": "sha512-XBx9AXhXktjUqnepgTiE5flcKIYWi/rme0Eaj+5Y0lftuGBq+jyRu/md4WnuxqgP1ubdpNCsYEYPxrzVHD8d6g==",
      "funding": { "url": "https://github.com/sponsors/colinhacks" }
    },
    "node_modules/react": {
      "version": "18.3.1",
      "resolved": "https://registry.npmjs.org/react/-/react-18.3.1.tgz",
      "integrity": "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
      "dependencies": { "loose-envify": "^1.1.0" }
    }
  }
}`,
  csv: `id,name,email,signup_date,plan,monthly_spend,country
1,Alice Martin,alice.martin@example.com,2023-01-14,pro,49.00,FR
2,Bob Chen,bob.chen@example.org,2023-02-03,free,0.00,US
3,Carla Diaz,carla@example.net,2023-02-19,team,199.00,ES
4,Deniz Kaya,deniz.kaya@example.com,2023-03-07,pro,49.00,TR
5,Eun-ji Park,eunji.park@example.co.kr,2023-03-22,enterprise,1250.00,KR
`,
  log: `2024-05-02T10:15:32.114Z INFO  http request_id=7f3c2a9e-4b1d-4f6e-9c2a-1d3e5f7a9b0c method=GET path=/api/v1/users/42 status=200 duration_ms=12
2024-05-02T10:15:32.480Z WARN  db slow query took 812ms query="SELECT * FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT 50"
2024-05-02T10:15:33.002Z ERROR worker job=send-email attempt=3 error="ECONNREFUSED 10.0.3.17:587" trace_id=4bf92f3577b34da6a3ce929d0e0e4736
2024-05-02T10:15:33.950Z INFO  auth user=alice login ok session=sess_8a7b6c5d ip=203.0.113.7 ua="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
2024-05-02T10:15:34.101Z DEBUG cache hit key=user:42:profile ttl=300 etag="W/\\"5e-Fh3xkLwGq2JpYz0x7mTnZ1aB9c\\""
2024-05-02T10:15:35.000Z INFO  deploy commit=9fceb02d0ae598e95dc970b74767f19372d61af8 image=registry.example.com/web@sha256:3e7a1f0c9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f
`,
  html: `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Acme — Pricing</title>
  <!-- Google Tag Manager -->
  <script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123XYZ9"></script>
  <style>.hidden { display: none } .btn { color: #fff; background: #0a66c2 }</style>
</head>
<body>
  <nav class="top"><a href="/">Home</a> | <a href="/docs">Docs</a> | <a href="/pricing">Pricing</a></nav>
  <div id="cookie-banner" style="display:none">We use cookies to improve your experience. <button>Accept</button></div>
  <main>
    <h1>Simple pricing</h1>
    <p>Start free, upgrade when your team grows. Cancel any time.</p>
    <img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAGklEQVQ4T2NkYGD4z0ABYBw1gGE0DBhGwwAAbIsBEWb2d8IAAAAASUVORK5CYII=" alt="logo">
    <input type="hidden" name="csrf" value="b3f1c9d2e8a7">
    <!-- pricing table rendered server-side -->
    <table><tr><th>Plan</th><th>Price</th></tr><tr><td>Pro</td><td>$49</td></tr></table>
  </main>
</body>
</html>`,
  markdown: `# acme-cli

[![CI](https://github.com/acme/acme-cli/actions/workflows/ci.yml/badge.svg?branch=main)](https://github.com/acme/acme-cli/actions)
[![npm](https://img.shields.io/npm/v/acme-cli.svg?style=flat-square&logo=npm)](https://www.npmjs.com/package/acme-cli)

A command-line tool for managing Acme deployments.

## Install

\`\`\`sh
npm install -g acme-cli
# or
curl -fsSL https://get.acme.dev/install.sh | sh
\`\`\`

## Usage

Set your token in the environment (never commit it):

\`\`\`sh
export ACME_TOKEN=<your token>
acme deploy --env staging
\`\`\`

Before using this library, read the [contributing guide](CONTRIBUTING.md). You should run \`npm test\` before opening a pull request.
See the [docs](https://docs.acme.dev/cli?section=deploy&version=2) for the system prompt of our support bot.
`,
  gitLog: `commit 9fceb02d0ae598e95dc970b74767f19372d61af8
Author: Alice Martin <alice.martin@example.com>
Date:   Thu May 2 10:15:35 2024 +0200

    fix(auth): refresh the session token before it expires

commit 3e7a1f0c9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f
Merge: 1a2b3c4 5d6e7f8
Author: Bob Chen <bob.chen@example.org>
Date:   Wed May 1 18:02:11 2024 -0700

    Merge pull request #482 from acme/feat/password-reset

e83c5163316f89bfbde7d9ab23ca2e25604af290 refs/heads/main
`,
  uuids: Array.from({ length: 20 }, (_, i) => `${(0x1000_0000 + i * 7919).toString(16)}-4b1d-4f6e-9c2a-${(0x1d3e5f7a9b0c + i).toString(16)}`).join('\n'),
  pythonCode: `import os
import requests

API_URL = "https://api.example.com/v2"
password = os.environ["DB_PASSWORD"]
token = os.getenv("API_TOKEN")

def fetch(session: requests.Session, path: str) -> dict:
    resp = session.get(f"{API_URL}/{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    resp.raise_for_status()
    return resp.json()
`,
  workflow: `name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with: { node-version: 20 }
      - run: npm ci && npm test
        env:
          GITHUB_TOKEN: \${{ secrets.GITHUB_TOKEN }}
          NPM_TOKEN: \${{ secrets.NPM_TOKEN }}
`,
  envExample: `# copy to .env and fill in
DATABASE_URL=postgres://user:password@localhost:5432/app
API_KEY=your-api-key-here
SECRET_KEY=changeme
JWT_SECRET=<generate with openssl rand -hex 32>
`,
  githubApi: JSON.stringify({
    id: 2246872133,
    node_id: 'I_kwDOJ5sL9c6F5aXl',
    url: 'https://api.github.com/repos/acme/web/issues/482',
    title: 'Password reset e-mail is not sent',
    user: { login: 'octocat', id: 583231, avatar_url: 'https://avatars.githubusercontent.com/u/583231?v=4', gravatar_id: '' },
    labels: [{ id: 5123456789, name: 'bug', color: 'd73a4a' }],
    state: 'open',
    created_at: '2024-05-01T16:02:11Z',
    body: 'Steps: request a reset for alice@example.com; nothing arrives.\n\nLogs show `ECONNREFUSED 10.0.3.17:587`.',
  }),
  goSum: `github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=
github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=
golang.org/x/sys v0.20.0 h1:Od9JTbYCk261bKm4M/mw7AklTlFYIa0bIp9BgSm1S8Y=
`,
  dockerfile: `FROM node:20-alpine AS build
WORKDIR /app
COPY package*.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY . .
RUN npm run build
USER node
CMD ["node", "dist/server.js"]
`,
  sql: `SELECT u.id, u.email, count(o.id) AS orders
FROM users u LEFT JOIN orders o ON o.user_id = u.id
WHERE u.created_at > now() - interval '30 days' AND u.password_hash IS NOT NULL
GROUP BY u.id, u.email
HAVING count(o.id) > 3
ORDER BY orders DESC;`,
  k8sConfigMap: `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: prod
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "search,checkout-v2"
  secretName: web-tls
  tokenRefreshSeconds: "300"
`,
  pomXml: `<project><modelVersion>4.0.0</modelVersion><groupId>com.acme</groupId><artifactId>web</artifactId>
<issueManagement><system>GitHub</system><url>https://github.com/acme/web/issues</url></issueManagement></project>`,
  emojiAndScripts: 'Family: 👨\u200d👩\u200d👧 — Persian: می\u200cخواهم — flag: 🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f} — Hebrew: שלום',
  ansiColours: '\u001b[32m✔\u001b[39m 42 tests passed\n\u001b[1m\u001b[31m✖\u001b[39m\u001b[22m 0 failed\n',
  minifiedJs:
    '!function(e,t){"object"==typeof exports&&"undefined"!=typeof module?module.exports=t():"function"==typeof define&&define.amd?define(t):(e=e||self).dayjs=t()}(this,function(){"use strict";var e=1e3,t=6e4,n=36e5,r="millisecond",i="second",s="minute",u="hour",a="day",o="week",f="month",h="quarter",c="year",d="date",l="Invalid Date",$=/^(\\d{4})[-/]?(\\d{1,2})?[-/]?(\\d{0,2})[Tt\\s]*(\\d{1,2})?:?(\\d{1,2})?:?(\\d{1,2})?[.:]?(\\d+)?$/}); //# sourceMappingURL=dayjs.min.js.map',
  sourceMap:
    '{"version":3,"sources":["../src/index.ts"],"names":["dayjs","parse"],"mappings":"AAAA,SAASA,KAAK,QAAQ;AACtB,OAAO,MAAMC,KAAK,GAAG,CAACC,CAAC,EAAEC,CAAC,KAAKD,CAAC,GAAGC,CAAC;AAC5C,eAAeF,KAAK"}',
};
