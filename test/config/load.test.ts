/**
 * Loading a configuration file: YAML and JSON, `${VAR}` interpolation from the environment and the .env files
 * beside the file, positions in every message (syntax, unset variables, malformed .env lines, validation), and
 * redaction of secrets for printing.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${VAR}` in plain strings is what is being tested
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  ConfigError,
  loadAndValidateConfig,
  loadConfigFile,
  redactSecrets,
  validateConfig,
} from '../../src/config/index.js';
import { SigflowError } from '../../src/errors/index.js';

const root = mkdtempSync(join(tmpdir(), 'sigflow-config-load-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh folder holding `files` (name → text); returns its path. */
function folder(files: Record<string, string>): string {
  const dir = join(root, String(n++));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** The message of the ConfigError that `fn` throws (it must throw one: SF_ERR_CONFIG_INVALID, exit 2). */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.code, 'SF_ERR_CONFIG_INVALID');
    assert.equal(e.exitCode, 2);
    return e.message;
  }
  assert.fail('expected a ConfigError');
}

const noDotEnv = { env: {}, loadDotEnv: false };

test('YAML and JSON read alike, with positions', () => {
  const dir = folder({
    'sigflow.yaml': 'outbox:\n  data_dir: /var/lib/sigflow\nsinks:\n  - type: store\n    path: /tmp/s.db\n',
    'sigflow.json':
      '{\n\t"outbox": {"data_dir": "/var/lib/sigflow"},\n\t"sinks": [\n\t\t{"type": "store", "path": "/tmp/s.db"}\n\t]\n}\n',
  });
  const yaml = loadConfigFile(join(dir, 'sigflow.yaml'), noDotEnv);
  const json = loadConfigFile(join(dir, 'sigflow.json'), noDotEnv);
  const expected = { outbox: { data_dir: '/var/lib/sigflow' }, sinks: [{ type: 'store', path: '/tmp/s.db' }] };
  assert.deepEqual(yaml.value, expected);
  assert.deepEqual(json.value, expected);
  assert.deepEqual(yaml.locate(['sinks', 0, 'path']), { line: 5, column: 5 });
  assert.deepEqual(yaml.locate(['sinks', 0]), { line: 4, column: 5 });
  assert.deepEqual(yaml.locate(['outbox']), { line: 1, column: 1 });
  assert.equal(yaml.locate(['sinks', 1]), null);
  assert.equal(yaml.locate(['outbox', 'max_bytes']), null);
  assert.deepEqual(json.locate(['sinks', 0, 'path']), { line: 4, column: 21 });
  assert.equal(yaml.path, join(dir, 'sigflow.yaml'));
});

test('interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, $$; only in string values, never re-interpolated', () => {
  const dir = folder({
    'c.yaml': [
      'plain: ${HOST}',
      'inside: http://${HOST}:${PORT}/write',
      'dflt_unset: ${NOPE:-fallback}',
      'dflt_empty: ${EMPTY:-fallback}',
      'dash_unset: ${NOPE-fallback}',
      'dash_empty: "[${EMPTY-fallback}]"',
      'dollars: cost $$5 and $${HOST} and $HOME',
      'number: ${PORT}',
      'boolean: ${YES}',
      'nested: ${RAW}',
      'quoted: "${HOST}"',
      'quoted_number: "${PORT}"',
      'block: |',
      '  a ${HOST}',
      'list: ["${HOST}", 8086, true]',
      '${HOST}: keys are not interpolated',
      '',
    ].join('\n'),
  });
  const env = { HOST: 'db', PORT: '8086', EMPTY: '', YES: 'true', RAW: '${HOST}$$' };
  const { value } = loadConfigFile(join(dir, 'c.yaml'), { env, loadDotEnv: false });
  assert.deepEqual(value, {
    plain: 'db',
    inside: 'http://db:8086/write',
    dflt_unset: 'fallback',
    dflt_empty: 'fallback',
    dash_unset: 'fallback',
    dash_empty: '[]',
    dollars: 'cost $5 and ${HOST} and $HOME',
    number: 8086, // unquoted: read as if 8086 were written there
    boolean: true,
    nested: '${HOST}$$',
    quoted: 'db',
    quoted_number: '8086', // quoted: a string
    block: 'a db\n',
    list: ['db', 8086, true],
    '${HOST}': 'keys are not interpolated',
  });
});

test('every unset variable is named with its line, in one ConfigError; so is a malformed reference', () => {
  const dir = folder({
    'sigflow.yaml': [
      'outbox:',
      '  data_dir: ${DATA_DIR}',
      'sinks:',
      '  - type: influx',
      '    url: http://h:8086',
      '    text: |',
      '      first line',
      '      token ${INFLUX_TOKEN}',
      '    token: ${INFLUX_TOKEN}',
      '    other: ${BAD:default}',
      '',
    ].join('\n'),
  });
  const file = join(dir, 'sigflow.yaml');
  assert.equal(
    configError(() => loadConfigFile(file, noDotEnv)),
    [
      `${file}:2: \${DATA_DIR} is not set (use \${DATA_DIR:-default} for a default)`,
      `${file}:8: \${INFLUX_TOKEN} is not set (use \${INFLUX_TOKEN:-default} for a default)`,
      `${file}:9: \${INFLUX_TOKEN} is not set (use \${INFLUX_TOKEN:-default} for a default)`,
      `${file}:10: \${BAD:default} is not a variable reference (write \${NAME}, \${NAME:-default} or \${NAME-default}; $$ for a literal $)`,
    ].join('\n'),
  );
  // set but empty counts as set for ${VAR}; a malformed reference stays an error whatever is set
  assert.equal(
    configError(() => loadConfigFile(file, { env: { DATA_DIR: '', INFLUX_TOKEN: 't', BAD: 'x' }, loadDotEnv: false })),
    `${file}:10: \${BAD:default} is not a variable reference (write \${NAME}, \${NAME:-default} or \${NAME-default}; $$ for a literal $)`,
  );
});

test('.env files: process env over config/.env over .env; process.env untouched', () => {
  const dir = folder({
    'c.yaml': 'a: ${A}\nb: ${B}\nc: ${C}\nd: ${D:-unset}\n',
    '.env': 'A=from-dotenv\nB=from-dotenv\nC=from-dotenv\n',
    'config/.env': 'B=from-config\nC=from-config\n',
  });
  const before = { ...process.env };
  const loaded = loadConfigFile(join(dir, 'c.yaml'), { env: { C: 'from-process' } });
  assert.deepEqual(loaded.value, { a: 'from-dotenv', b: 'from-config', c: 'from-process', d: 'unset' });
  assert.deepEqual(loaded.env, { A: 'from-dotenv', B: 'from-config', C: 'from-process' });
  assert.deepEqual({ ...process.env }, before);
  // loadDotEnv: false reads neither; no .env at all is fine
  assert.equal(
    configError(() => loadConfigFile(join(dir, 'c.yaml'), { env: {}, loadDotEnv: false })).split('\n').length,
    3,
  );
  const bare = folder({ 'c.yaml': 'a: ${A:-x}\n' });
  assert.deepEqual(loadConfigFile(join(bare, 'c.yaml'), { env: {} }).value, { a: 'x' });
});

test('.env syntax: export, comments, blank lines, single and double quotes, escapes, inline comments', () => {
  const dir = folder({
    'c.yaml': 'x: 1\n',
    '.env': [
      '# a comment',
      '',
      'export EXPORTED=yes',
      'PLAIN=  some value  ',
      'INLINE=value # a comment',
      'HASH=a#b',
      'SINGLE=\'lit $X \\n "q" # not a comment\'',
      'DOUBLE="line1\\nline2 \\"q\\" back\\\\slash C:\\data" # comment',
      'EMPTY=',
      'SPACED = v',
      '  INDENTED=i',
      'DUP=first',
      'DUP=second',
      '',
    ].join('\r\n'),
  });
  const { env } = loadConfigFile(join(dir, 'c.yaml'), { env: {} });
  assert.deepEqual(env, {
    EXPORTED: 'yes',
    PLAIN: 'some value',
    INLINE: 'value',
    HASH: 'a#b',
    SINGLE: 'lit $X \\n "q" # not a comment',
    DOUBLE: 'line1\nline2 "q" back\\slash C:\\data',
    EMPTY: '',
    SPACED: 'v',
    INDENTED: 'i',
    DUP: 'second',
  });
});

test('a malformed .env line is named file:line (never its text, which may hold a secret)', () => {
  const dir = folder({
    'c.yaml': 'x: 1\n',
    'config/.env': "OK=1\nthis is not an assignment\nQ=\"unclosed\nR='x' trailing\n",
  });
  const env = join(dir, 'config', '.env');
  assert.equal(
    configError(() => loadConfigFile(join(dir, 'c.yaml'), { env: {} })),
    [
      `${env}:2: expected KEY=value`,
      `${env}:3: Q: no closing " on this line`,
      `${env}:4: R: unexpected text after the closing '`,
    ].join('\n'),
  );
});

test('YAML syntax errors and duplicate keys name line and column', () => {
  const dir = folder({
    'dup.yaml': 'outbox:\n  data_dir: a\n  data_dir: b\n',
    'bad.yaml': 'outbox:\n  data_dir: "unclosed\n',
    'dup.json': '{"a": 1,\n "a": 2}\n',
  });
  const dup = join(dir, 'dup.yaml');
  assert.equal(
    configError(() => loadConfigFile(dup, noDotEnv)),
    `${dup}:3:3: Map keys must be unique`,
  );
  assert.match(
    configError(() => loadConfigFile(join(dir, 'dup.json'), noDotEnv)),
    /dup\.json:2:2: Map keys must be unique$/,
  );
  assert.match(
    configError(() => loadConfigFile(join(dir, 'bad.yaml'), noDotEnv)),
    /bad\.yaml:3:1: Missing closing "quote$/,
  );
  try {
    loadConfigFile(dup, noDotEnv);
  } catch (e) {
    assert.equal((e as ConfigError).where, `${dup}:3:3`);
  }
});

test('an unreadable file is SF_ERR_CONFIG_INVALID naming it', () => {
  const missing = join(root, 'missing.yaml');
  assert.throws(
    () => loadConfigFile(missing),
    (e: unknown) =>
      e instanceof SigflowError &&
      e.code === 'SF_ERR_CONFIG_INVALID' &&
      e.exitCode === 2 &&
      e.where === missing &&
      e.message.startsWith(`${missing}: cannot read it (ENOENT`),
  );
  assert.throws(
    () => loadConfigFile(root),
    (e: unknown) => e instanceof SigflowError && /EISDIR/.test(e.message),
  );
});

test('redaction: secret keys at any depth, secret values inside other strings, URL passwords', () => {
  const dir = folder({
    'c.yaml': [
      'sinks:',
      '  - url: https://h/write?token=${INFLUX_TOKEN}&db=x',
      '    token: ${INFLUX_TOKEN}',
      '    password: ""',
      '    username: ${USER_NAME}',
      '    api_key: ${API_KEY:-k-default}',
      '    headers: { Authorization: "Token ${INFLUX_TOKEN}" }',
      '  - connection_string: postgres://sigflow:pw@127.0.0.1/telemetry',
      '    credentials: { user: a, pass: b }',
      '    monkey: banana',
      '    tokens: [1, 2]',
      '',
    ].join('\n'),
  });
  const loaded = loadConfigFile(join(dir, 'c.yaml'), {
    env: { INFLUX_TOKEN: 's3cr3t', USER_NAME: 'writer' },
    loadDotEnv: false,
  });
  assert.deepEqual(loaded.secrets.sort(), ['k-default', 's3cr3t']);
  const shown = redactSecrets(loaded.value, loaded.secrets);
  assert.deepEqual(shown, {
    sinks: [
      {
        url: 'https://h/write?token=<redacted>&db=x',
        token: '<redacted>',
        password: '',
        username: 'writer',
        api_key: '<redacted>',
        headers: { Authorization: 'Token <redacted>' },
      },
      {
        connection_string: 'postgres://sigflow:<redacted>@127.0.0.1/telemetry',
        credentials: '<redacted>',
        monkey: 'banana', // ends in "key" but not "_key"
        tokens: [1, 2],
      },
    ],
  });
  // a deep copy: the loaded value is untouched
  assert.equal((loaded.value as { sinks: { token: string }[] }).sinks[0].token, 's3cr3t');
  // a short secret never matches inside "<redacted>" nor inside a longer one
  assert.deepEqual(redactSecrets({ a: 'red-abc', b: 'abcdef' }, ['red', 'abcdef']), {
    a: '<redacted>-abc',
    b: '<redacted>',
  });
});

test('validation errors name the line: a wrong type deep in sinks[0], an unknown key, a missing key', () => {
  const dir = folder({
    'sigflow.yaml': [
      'outbox:',
      '  data_dir: /var/lib/sigflow',
      'sinks:',
      '  - type: influx',
      '    url: ${INFLUX_URL}',
      '    database: telemetry',
      '    retention_policy: 5',
      '    colour: red',
      '    delivery:',
      '      batch_size: many',
      '  - type: postgres',
      'extra: 1',
      '',
    ].join('\n'),
  });
  const file = join(dir, 'sigflow.yaml');
  const message = configError(() => loadAndValidateConfig(file, { env: { INFLUX_URL: 'nope' }, loadDotEnv: false }));
  const lines = message.split('\n');
  assert.ok(lines.includes(`${file}:5: sinks[0].url: expected an http:// or https:// URL`), message);
  assert.ok(lines.includes(`${file}:7: sinks[0].retention_policy: expected string, got number`), message);
  assert.ok(lines.includes(`${file}:8: sinks[0].colour: unknown key`), message);
  assert.ok(
    lines.some((l) => l.startsWith(`${file}:10: sinks[0].delivery.batch_size: `)),
    message,
  );
  // a missing key: its parent object's line (the list item)
  assert.ok(lines.includes(`${file}:11: sinks[1].connection_string: missing (expected string)`), message);
  assert.ok(lines.includes(`${file}:12: extra: unknown key`), message);

  // inside a union (`server: false` or a server section): the section's own problems, each on its line
  const srv = join(
    folder({
      'sigflow.yaml': [
        'outbox:',
        '  data_dir: /var/lib/sigflow',
        'sinks: [{ type: store, path: /tmp/s.db }]',
        'server:',
        '  consol: true',
        '  auth:',
        '    tokens: 5',
        '',
      ].join('\n'),
    }),
    'sigflow.yaml',
  );
  const srvLines = configError(() => loadAndValidateConfig(srv, { loadDotEnv: false })).split('\n');
  assert.deepEqual(srvLines, [
    `${srv}:7: server.auth.tokens: expected array, got number`,
    `${srv}:5: server.consol: unknown key`,
  ]);
  const none = join(
    folder({ 'sigflow.yaml': 'outbox:\n  data_dir: /d\nsinks: [{ type: store, path: /tmp/s.db }]\nserver: yes\n' }),
    'sigflow.yaml',
  );
  assert.equal(
    configError(() => loadAndValidateConfig(none, { loadDotEnv: false })),
    `${none}:4: server: expected false or object, got string`,
  );

  // valid: the typed config and what was loaded
  const good = folder({
    'sigflow.yaml': 'outbox:\n  data_dir: ${DIR:-/var/lib/sigflow}\nsinks:\n  - type: store\n    path: /tmp/s.db\n',
  });
  const { config, loaded } = loadAndValidateConfig(join(good, 'sigflow.yaml'), noDotEnv);
  assert.equal(config.outbox.data_dir, '/var/lib/sigflow');
  assert.equal(config.sinks[0].type, 'store');
  assert.deepEqual(loaded.secrets, []);
});

test('without locate, validateConfig keeps its message format', () => {
  const value = { outbox: { data_dir: 'd' }, sinks: [{ type: 'store', path: 'p', colour: 'red' }] };
  assert.equal(
    configError(() => validateConfig(value, 'sigflow.yaml')),
    'sigflow.yaml: sinks[0].colour: unknown key',
  );
  // a locate that knows nothing leaves lines without a position too
  assert.equal(
    configError(() => validateConfig(value, 'sigflow.yaml', () => null)),
    'sigflow.yaml: sinks[0].colour: unknown key',
  );
});
