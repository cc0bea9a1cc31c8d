import { describe, expect, it } from 'vitest';
import { lintSource } from '@secretlint/core';
import { creator as recommendPreset } from '@secretlint/secretlint-rule-preset-recommend';
import {
  SECRETLINT_RULES,
  credentialAssignments,
  credentialFlags,
  hasUrlPassword,
  isCredentialName,
  isPlaceholder,
  scanEachForSecrets,
  scanForSecrets,
} from '../src/engine/secret-scan.js';

// Credential-shaped samples are assembled here, so that no scanner flags this file.
function onePasswordToken(): string {
  for (let pad = 0; pad < 3; pad++) {
    const json = JSON.stringify({
      email: 'svc@example.invalid',
      secretKey: 'A3'.repeat(40),
      p: 'x'.repeat(pad),
    });
    const b64 = Buffer.from(json).toString('base64');
    if (/fQ={0,2}$/.test(b64)) return `ops_${b64}`;
  }
  throw new Error('no 1Password-shaped sample');
}

const PEM = [
  '-----BEGIN RSA PRIVATE KEY-----',
  'MIIEow' + 'Zm9vYmFy'.repeat(8),
  '-----END RSA PRIVATE KEY-----',
].join('\n');

/** [name, text, file extension, rules expected]. */
const SAMPLES: Array<[string, string, string, string[]]> = [
  [
    'AWS secret access key beside its name',
    `AWS_SECRET_ACCESS_KEY=${'Ab3x'.repeat(10)}`,
    '.env',
    ['aws'],
  ],
  [
    'AWS documentation example key (built-in allow list)',
    'aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    '.env',
    [],
  ],
  [
    'AWS access key ID alone (off by secretlint default)',
    `id=AKIA${'Q2W3E4R5T6Y7U8I9'}`,
    '.txt',
    [],
  ],
  ['PEM private key', PEM, '.txt', ['privatekey']],
  [
    'GCP service-account key file',
    JSON.stringify({ type: 'service_account', private_key_id: 'abc123', private_key: `${PEM}\n` }),
    '.json',
    ['gcp', 'privatekey'],
  ],
  ['GitHub personal access token', `token ${'ghp_' + 'x9Kq'.repeat(9)}`, '.txt', ['github']],
  ['npm access token', `NPM_TOKEN=${'npm_' + 'Q7rT'.repeat(9)}`, '.txt', ['npm']],
  [
    '.npmrc auth token',
    `//registry.npmjs.org/:_authToken=${'abc123'.repeat(4)}`,
    '.npmrc',
    ['npm'],
  ],
  ['basic-auth URL', `https://deploy:${'Zq7wPx2'}@registry.example.com/v2`, '.txt', ['basicauth']],
  ['Slack bot token', `xoxb-${'1234567890'}-${'AbCdEfGh1234'}`, '.txt', ['slack']],
  ['SendGrid API key', `SG.${'a'.repeat(22)}.${'b'.repeat(43)}`, '.txt', ['sendgrid']],
  ['Shopify access token', `shpat_${'0123456789abcdef'.repeat(2)}`, '.txt', ['shopify']],
  [
    'OpenAI API key',
    `sk-${'a1B2c3D4e5F6g7H8i9J0'}T3BlbkFJ${'k1L2m3N4o5P6q7R8s9T0'}`,
    '.txt',
    ['openai'],
  ],
  ['Linear API key', `lin_api_${'a1b2'.repeat(10)}`, '.txt', ['linear']],
  ['1Password service-account token', onePasswordToken(), '.txt', ['1password']],
  ['ordinary configuration', 'log.level=info\nserver.port=8080\n', '.properties', []],
];

async function lintSourceRules(content: string, ext: string): Promise<string[]> {
  const result = await lintSource({
    source: { content, filePath: `sample${ext}`, ext, contentType: 'text' },
    options: {
      config: {
        rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: recommendPreset }],
      },
      noPhysicFilePath: true,
    },
  });
  const prefix = '@secretlint/secretlint-rule-';
  return [...new Set(result.messages.map((m) => m.ruleId.slice(prefix.length)))].sort();
}

describe('secret-scan: secretlint rules run synchronously', () => {
  it('loads the recommended preset without the comment filter', () => {
    expect(SECRETLINT_RULES).toEqual(
      expect.arrayContaining([
        'aws',
        'gcp',
        'privatekey',
        'npm',
        'basicauth',
        'slack',
        'github',
        'openai',
      ]),
    );
    expect(SECRETLINT_RULES).not.toContain('filter-comments');
  });

  it.each(SAMPLES)('%s: same rules as lintSource', async (_name, text, ext, rules) => {
    const ours = [
      ...new Set(scanForSecrets(text, { fileName: `sample${ext}` }).map((h) => h.rule)),
    ].sort();
    expect(ours).toEqual([...rules].sort());
    expect(ours).toEqual(await lintSourceRules(text, ext));
  });

  it.each(SAMPLES.filter((s) => s[3].length > 0))(
    '%s: the hit does not carry the secret',
    (_name, text, ext) => {
      const hits = scanForSecrets(text, { fileName: `sample${ext}` });
      const emitted = JSON.stringify(hits);
      for (const part of text.split(/[\s=:@/]+/).filter((p) => p.length >= 12))
        expect(emitted).not.toContain(part);
    },
  );

  it('scanning many texts at once answers as scanning each alone', () => {
    const texts = SAMPLES.filter(([, , ext]) => ext === '.txt').map(([, text]) => text);
    const mixed = ['plain words', ...texts, '', 'more plain words'];
    expect(scanEachForSecrets(mixed)).toEqual(mixed.map((t) => scanForSecrets(t)));
  });

  it('a match spanning two texts is not trusted: each text is scanned alone', () => {
    const [begin, body, end] = PEM.split('\n') as [string, string, string];
    const texts = [begin, 'unrelated', `${body}\n${end}`, PEM];
    expect(scanEachForSecrets(texts)).toEqual([
      [],
      [],
      [],
      [{ rule: 'privatekey', messageId: 'PrivateKey' }],
    ]);
    expect(scanEachForSecrets([])).toEqual([]);
  });

  it('a secretlint-disable comment does not silence the scan', () => {
    const text = `# secretlint-disable\ntoken ${'ghp_' + 'x9Kq'.repeat(9)}\n`;
    expect(scanForSecrets(text).map((h) => h.rule)).toEqual(['github']);
  });

  it('a .p12 file name does not reach the GCP rule, which reads files from disk', () => {
    expect(() =>
      scanForSecrets('not really pkcs12', { fileName: '/etc/passwd.p12' }),
    ).not.toThrow();
  });

  it('empty text has no hits', () => {
    expect(scanForSecrets('')).toEqual([]);
  });
});

describe('secret-scan: credential-like names', () => {
  it.each([
    ['DB_PASSWORD', true],
    ['dbPassword', true],
    ['MYSQL_ROOT_PASSWORD', true],
    ['DB_PWD', true],
    ['SMTP_PASS', true],
    ['client_secret', true],
    ['SECRET_KEY_BASE', true],
    ['X_API_KEY', true],
    ['APIKey', true],
    ['apikey', true],
    ['AWS_SECRET_ACCESS_KEY', true],
    ['ssh-key', true],
    ['bearertoken', true],
    ['spring.datasource.password', true],
    ['keyStorePassword', true],
    ['password2', true],
    ['DB_PASSWORD_FILE', false],
    ['DB_PASSWORD_PATH', false],
    ['TLS_SECRET_NAME', false],
    ['SECRET_REF', false],
    ['AWS_ACCESS_KEY_ID', false],
    ['TOKEN_URL', false],
    ['TOKEN_TTL', false],
    ['PASSWORD_MIN_LENGTH', false],
    ['CACHE_KEY', false],
    ['PUBLIC_KEY', false],
    ['MAX_TOKENS', false],
    ['TOKENIZER', false],
    ['PASS_THROUGH', false],
    ['BYPASS', false],
    ['PWD', false],
    ['GOOGLE_APPLICATION_CREDENTIALS', false],
    ['LOG_LEVEL', false],
  ])('%s → %s', (name, expected) => {
    expect(isCredentialName(name)).toBe(expected);
  });
});

describe('secret-scan: placeholders and URLs', () => {
  it.each([
    ['', true],
    ['   ', true],
    ['$(DB_PASSWORD)', true],
    ['$(USER):$(PASS)', true],
    ['${TOKEN}', true],
    ['"$TOKEN"', true],
    ['{{ .Values.password }}', true],
    ['true', true],
    ['|', true],
    ['hunter2hunter2', false],
    ['prefix-$(VAR)', false],
    ['12345678', false],
  ])('placeholder %j → %s', (value, expected) => {
    expect(isPlaceholder(value)).toBe(expected);
  });

  it.each([
    ['postgres://app:pw4pw@db:5432/app', true],
    ['redis://:pw4pw@cache:6379', true],
    ['mongodb://app:pw4pw@h1,h2/db?replicaSet=rs0', true],
    ['amqp://app:$(AMQP_PASSWORD)@broker', false],
    ['https://user@example.com/', false],
    ['https://example.com/a:b@c', false],
    ['jdbc:postgresql://db/app', false],
  ])('URL password in %s → %s', (text, expected) => {
    expect(hasUrlPassword(text)).toBe(expected);
  });
});

describe('secret-scan: keys in configuration text and flags on command lines', () => {
  const none = (): boolean => false;

  it('finds credential keys set to literals, with their lines', () => {
    const text = [
      'server.port=8080',
      'spring.datasource.password=abc123',
      '  password: ${DB_PASSWORD}',
      '  "apiKey": "abc123",',
      'export GITHUB_TOKEN=abc123',
      'password: |',
      'password_file=/run/secrets/db',
    ].join('\n');
    expect(credentialAssignments(text, none)).toEqual([
      { key: 'spring.datasource.password', line: 2 },
      { key: 'apiKey', line: 4 },
      { key: 'GITHUB_TOKEN', line: 5 },
    ]);
  });

  it('skips keys that are allowed', () => {
    expect(credentialAssignments('apiKey=abc123', (n) => n === 'apiKey')).toEqual([]);
  });

  it('finds credential flags and the word holding their value', () => {
    const words = [
      '--db-password=abc',
      '--token',
      'abc',
      '--password',
      '$(P)',
      '-Dx.password=y',
      '--verbose',
      'API_TOKEN=1',
      '-p',
      'x',
    ];
    expect(credentialFlags(words, none)).toEqual([
      { flag: '--db-password', index: 0 },
      { flag: '--token', index: 2 },
      { flag: '-Dx.password', index: 5 },
      { flag: 'API_TOKEN', index: 7 },
    ]);
  });
});
