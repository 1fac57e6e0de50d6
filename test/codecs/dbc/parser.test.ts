/** The DBC grammar, statement by statement, and the lenient/strict handling of real-world quirks. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  Database,
  DbcSyntaxError,
  EncodeError,
  formatDiagnostic,
  parseDbc,
  QUIRK_WARNINGS,
  QUIRKS,
  type QuirkCode,
  writeDbc,
} from '../../../src/codecs/dbc/index.js';
import { SigflowError, WARNINGS } from '../../../src/errors/index.js';
import { runCli } from '../../harness/cli.js';
import { tempDir } from '../../harness/temp.js';

const FULL = `VERSION "1.0"

NS_ :
\tCM_
\tBA_DEF_
\tBA_

BS_:

BU_: ECU1 ECU2 GW

VAL_TABLE_ OnOff 1 "On" 0 "Off" ;

BO_ 100 Engine: 8 ECU1
 SG_ Speed : 0|16@1+ (0.25,0) [0|16383.75] "rpm" ECU2,GW
 SG_ Temp : 23|8@0- (1,-40) [-40|215] "degC" ECU2
 SG_ Mode M : 32|4@1+ (1,0) [0|15] "" ECU2
 SG_ A m1 : 40|8@1+ (1,0) [0|0] "" ECU2
 SG_ B m2 : 40|16@1+ (1,0) [0|0] "" ECU2

BO_ 2147484672 Ext: 64 ECU2
 SG_ F32 : 0|32@1- (1,0) [0|0] "" Vector__XXX
 SG_ F64 : 32|64@1- (2,1) [0|0] "" Vector__XXX
 SG_ Wide : 96|64@1+ (1,0) [0|0] "" Vector__XXX

BO_TX_BU_ 100 : ECU1,GW;

CM_ "Database
comment with \\"quotes\\"";
CM_ BU_ ECU1 "the engine ECU";
CM_ BO_ 100 "engine data";
CM_ SG_ 100 Speed "engine speed";
CM_ EV_ EnvA "an env var";
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_ BO_ "GenMsgSendType" ENUM "Cyclic","OnEvent";
BA_DEF_ SG_ "GenSigStartValue" FLOAT -1e9 1e9;
BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","J1939PG","reserved","reserved","reserved","reserved","reserved","reserved","reserved","reserved","reserved","reserved","StandardCAN_FD","ExtendedCAN_FD";
BA_DEF_ "DBName" STRING;
BA_DEF_ BU_ "NodeHex" HEX 0 255;
BA_DEF_ SG_ "SystemSignalLongSymbol" STRING;
BA_DEF_REL_ BU_SG_REL_ "SigRel" INT 0 10;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_DEF_DEF_ "GenMsgSendType" "OnEvent";
BA_DEF_DEF_ "VFrameFormat" "StandardCAN";
BA_DEF_DEF_REL_ "SigRel" 3;
BA_ "DBName" "demo";
BA_ "NodeHex" BU_ ECU1 17;
BA_ "GenMsgCycleTime" BO_ 100 20;
BA_ "GenMsgSendType" BO_ 100 0;
BA_ "GenSigStartValue" SG_ 100 Speed 400;
BA_ "VFrameFormat" BO_ 2147484672 15;
BA_ "SystemSignalLongSymbol" SG_ 2147484672 Wide "WideSignalWithAVeryLongName";
BA_REL_ "SigRel" BU_SG_REL_ ECU2 SG_ 100 Speed 7;
VAL_ 100 Mode 1 "one" 2 "two" 3 "three (no signals)" ;
VAL_ 100 Temp 0 "raw zero" -1 "raw minus one" ;
SIG_VALTYPE_ 2147484672 F32 : 1;
SIG_VALTYPE_ 2147484672 F64 : 2;
SIG_GROUP_ 100 Grp 1 : Speed Temp;
EV_ EnvA: 0 [0|100] "V" 5 1 DUMMY_NODE_VECTOR0 ECU1;
ENVVAR_DATA_ EnvA: 4;
VAL_ EnvA 0 "zero" 1 "one" ;
SGTYPE_ X : 8@1+ (1,0) [0|1] "" Vector__XXX;
`;

test('the full grammar: every statement kind is read and kept', () => {
  const f = parseDbc(FULL, { file: 'full.dbc' });
  assert.equal(f.version, '1.0');
  assert.deepEqual(f.newSymbols, ['CM_', 'BA_DEF_', 'BA_']);
  assert.deepEqual(
    f.nodes.map((n) => n.name),
    ['ECU1', 'ECU2', 'GW'],
  );
  assert.equal(f.nodes[0].comment, 'the engine ECU');
  assert.equal(f.nodes[0].attributes.get('NodeHex'), 17);
  assert.equal(f.comment, 'Database\ncomment with "quotes"');
  assert.deepEqual(
    f.valueTables[0].choices.map((c) => [c.value, c.label]),
    [
      [1n, 'On'],
      [0n, 'Off'],
    ],
  );
  const [eng, ext] = f.messages;
  assert.equal(eng.id, 100);
  assert.equal(eng.extended, false);
  assert.equal(eng.comment, 'engine data');
  assert.deepEqual(eng.senders, ['ECU1', 'GW']);
  assert.equal(eng.cycleTime, 20);
  assert.equal(eng.sendType, 'Cyclic');
  assert.equal(eng.isFd, false);
  assert.deepEqual(eng.signalGroups, [{ name: 'Grp', repetitions: 1, signals: ['Speed', 'Temp'] }]);
  const [speed, temp, mode, a, b] = eng.signals;
  assert.deepEqual(
    [speed.startBit, speed.length, speed.byteOrder, speed.signed, speed.factor, speed.unit],
    [0, 16, 'little_endian', false, 0.25, 'rpm'],
  );
  assert.deepEqual(speed.receivers, ['ECU2', 'GW']);
  assert.equal(speed.comment, 'engine speed');
  assert.equal(speed.startValue, 400);
  assert.deepEqual([temp.byteOrder, temp.signed, temp.offset], ['big_endian', true, -40]);
  assert.deepEqual(
    temp.choices?.map((c) => c.value),
    [0n, -1n],
  );
  assert.equal(mode.isMultiplexer, true);
  assert.equal(a.multiplexerSignal, 'Mode');
  assert.deepEqual(a.multiplexerRanges, [{ lo: 1, hi: 1 }]);
  assert.deepEqual(b.multiplexerRanges, [{ lo: 2, hi: 2 }]);
  assert.equal(ext.id, 1024);
  assert.equal(ext.extended, true);
  assert.equal(ext.length, 64);
  assert.equal(ext.isFd, true);
  assert.equal(ext.frameFormat, 'ExtendedCAN_FD');
  assert.deepEqual(
    ext.signals.map((s) => [s.name, s.valueType]),
    [
      ['F32', 'float32'],
      ['F64', 'float64'],
      ['WideSignalWithAVeryLongName', 'int'],
    ],
  );
  assert.equal(ext.signals[2].shortName, 'Wide');
  assert.deepEqual(f.relationAttributes, [
    { name: 'SigRel', kind: 'BU_SG_REL_', node: 'ECU2', messageId: 100, signal: 'Speed', value: 7 },
  ]);
  assert.equal(f.attributeDefinitions.get('SigRel')?.defaultValue, 3);
  assert.equal(f.attributes.get('DBName'), 'demo');
  const env = f.environmentVariables[0];
  assert.deepEqual([env.name, env.unit, env.id, env.dataSize, env.comment], ['EnvA', 'V', 1, 4, 'an env var']);
  assert.deepEqual(
    env.choices?.map((c) => c.label),
    ['zero', 'one'],
  );
  assert.equal(f.unknownStatements[0].keyword, 'SGTYPE_');
  assert.deepEqual(
    f.warnings.map((w) => w.code),
    ['unknown_statement'],
  );
});

test('decoding the full example: floats, wide integers, mux defined by VAL_ only, choices by raw value', () => {
  const db = Database.fromText(FULL, 'full.dbc');
  const eng = db.encode('Engine', { Speed: 1500, Temp: -40, Mode: 1, A: 7 });
  const r = db.decodeFrame(100, false, eng);
  assert.ok(r.ok);
  assert.deepEqual(r.phys, { Speed: 1500, Temp: -40, Mode: 1, A: 7 });
  assert.deepEqual(r.choices, { Temp: 'raw zero', Mode: 'one' }); // by raw value: phys -40 is raw 0
  // Mode 3 is defined only by VAL_: the frame decodes to the multiplexer alone.
  const m3 = db.decodeFrame(100, false, db.encode('Engine', { Speed: 0, Temp: 0, Mode: 3 }));
  assert.ok(m3.ok);
  assert.deepEqual(Object.keys(m3.phys).sort(), ['Mode', 'Speed', 'Temp']);
  // Mode 4 is not defined at all.
  const m4 = db.decodeFrame(100, false, db.encode('Engine', { Speed: 0, Temp: 0, Mode: 4 }));
  assert.equal(m4.ok, false);
  assert.equal(!m4.ok && m4.error, 'mux');
  assert.match(!m4.ok ? m4.detail : '', /Mode = 4/);
  const data = db.encode('Ext', { F32: 1.5, F64: -3, WideSignalWithAVeryLongName: 2n ** 64n - 1n });
  const e = db.decodeFrame(1024, true, data);
  assert.ok(e.ok);
  assert.equal(e.phys.F32, 1.5);
  assert.equal(e.phys.F64, -3);
  assert.equal(e.raw.F64, -2);
  assert.equal(e.phys.WideSignalWithAVeryLongName, 2n ** 64n - 1n);
  assert.equal(db.decodeFrame(1024, false, data).ok, false, 'standard id 1024 is not the extended message');
  const short = db.decodeFrame(100, false, eng.subarray(0, 3));
  assert.equal(!short.ok && short.error, 'short');
  const t = db.decodeFrame(100, false, eng.subarray(0, 3), { truncated: true });
  assert.ok(t.ok);
  assert.deepEqual(Object.keys(t.phys).sort(), ['Speed', 'Temp']);
});

test('CRLF line endings and cp1252 files read the same as LF / UTF-8', () => {
  const crlf = FULL.replace(/\n/g, '\r\n');
  const a = parseDbc(FULL);
  const b = parseDbc(crlf);
  assert.equal(b.comment, a.comment);
  assert.equal(b.messages[0].signals.length, 5);
  const dir = tempDir('sigflow-dbc-');
  const p = join(dir, 'cp1252.dbc');
  writeFileSync(
    p,
    Buffer.concat([
      Buffer.from('BO_ 1 M: 1 X\n SG_ S : 0|8@1+ (1,0) [0|0] "'),
      Buffer.from([0xb0, 0x43]),
      Buffer.from('" X\n'),
    ]),
  );
  const db = Database.load([p]);
  assert.equal(db.files[0].encoding, 'cp1252');
  assert.equal(db.messages[0].signals[0].unit, '°C');
});

test('syntax errors name file:line:column and what was expected, in lenient mode too', () => {
  const bad = 'BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (1,0 [0|0] "" X\n';
  assert.throws(
    () => parseDbc(bad, { file: 'bad.dbc' }),
    (e: unknown) =>
      e instanceof DbcSyntaxError &&
      e.line === 2 &&
      e.column === 22 &&
      /expected '\)'/.test(e.message) &&
      e.message.startsWith('bad.dbc:2:22'),
  );
  assert.throws(() => parseDbc('BO_ 1 M: 8 X\n SG_ S : 0|8@2+ (1,0) [0|0] "" X\n'), /byte order 0 \(big-endian\) or 1/);
  assert.throws(() => parseDbc('CM_ "never closed;\n'), /unterminated string/);
  assert.throws(() => parseDbc(' SG_ S : 0|8@1+ (1,0) [0|0] "" X\n'), /SG_ outside of a message/);
  assert.throws(() => parseDbc('BO_ 1 M: 8 X\n SG_ S : 0|65@1+ (1,0) [0|0] "" X\n'), /length 65 is outside 1..64/);
});

const QUIRKY = `BU_: X
BO_ 300000 Big: 8 X
 SG_ 1st : 0|8@1+ (.5,0) [0|0] "" X
 SG_ Second : 4|8@1+ (1,0) [0|0] "" X
 SG_ Third : 60|8@1+ (1,0) [0|0] "" X
CM_ SG_ 300000 "no signal name";
CM_ 300000 "no object kind";
CM_ BO_ 300000 "no semicolon"
VAL_ 300000 Second 1 "one" ;
`;

test('quirks are warnings with positions in lenient mode and errors in strict mode', () => {
  const f = parseDbc(QUIRKY, { file: 'q.dbc' });
  const codes = f.warnings.map((w) => w.code);
  for (const c of [
    'extended_id_without_flag',
    'digit_identifier',
    'leading_dot_number',
    'comment_without_signal',
    'comment_without_kind',
    'missing_semicolon',
    'overlapping_signals',
    'signal_outside_message',
  ]) {
    assert.ok(codes.includes(c), `no ${c} warning in ${codes}`);
  }
  assert.match(formatDiagnostic(f.warnings.find((w) => w.code === 'leading_dot_number')!), /^q\.dbc:3:20: /);
  assert.equal(f.messages[0].extended, true);
  assert.equal(f.messages[0].signals[0].factor, 0.5);
  assert.equal(f.messages[0].comment, 'no semicolon');
  assert.throws(
    () => parseDbc(QUIRKY, { file: 'q.dbc', strict: true }),
    /q\.dbc:3:6: identifier .1st. starts with a digit .*strict mode/,
  );
});

test('a signal reaching past the message end decodes only when the frame carries its bytes', () => {
  const db = Database.fromText(QUIRKY);
  const r8 = db.decodeFrame(300000, true, new Uint8Array(8).fill(0xff));
  assert.ok(r8.ok);
  assert.equal('Third' in r8.phys, false);
  const r9 = db.decodeFrame(300000, true, new Uint8Array(9).fill(0xff));
  assert.ok(r9.ok);
  assert.equal(r9.phys.Third, 255);
});

test('several DBCs combine into one database; clashing ids are reported with both places', () => {
  const dir = tempDir('sigflow-dbc-');
  const a = join(dir, 'a.dbc');
  const b = join(dir, 'b.dbc');
  const c = join(dir, 'c.dbc');
  writeFileSync(a, 'BO_ 1 A: 1 X\n SG_ S : 0|8@1+ (1,0) [0|0] "" X\n');
  writeFileSync(b, 'BO_ 2 B: 1 X\n SG_ S : 0|8@1+ (1,0) [0|0] "" X\n');
  writeFileSync(c, 'BO_ 1 C: 1 X\n SG_ S : 0|8@1+ (1,0) [0|0] "" X\n');
  const db = Database.load([a, b]);
  assert.deepEqual(
    db.messages.map((m) => m.name),
    ['A', 'B'],
  );
  assert.equal(db.signals.length, 2);
  const r = db.decodeFrame(2, false, new Uint8Array([5]));
  assert.ok(r.ok && r.message.name === 'B' && r.phys.S === 5);
  assert.throws(
    () => Database.load([a, c]),
    (e: Error) => /clash/.test(e.message) && e.message.includes('a.dbc') && e.message.includes('c.dbc'),
  );
  assert.throws(() => Database.load([join(dir, 'missing.dbc')]), /cannot read DBC file .*missing\.dbc: ENOENT/);
});

test('J1939: PGN matching is optional and ignores priority and source address', () => {
  const text = `BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","J1939PG";
BA_DEF_DEF_ "VFrameFormat" "J1939PG";
BO_ 2364540158 EEC1: 8 Vector__XXX
 SG_ EngineSpeed : 24|16@1+ (0.125,0) [0|8031.875] "rpm" Vector__XXX
`;
  const db = Database.fromText(text);
  assert.equal(db.messages[0].isJ1939, true);
  const data = db.encode('EEC1', { EngineSpeed: 1000 });
  // Same PGN 0xF004, other priority (3 → 6) and source address (0xFE → 0x00).
  const other = (6 << 26) | (0xf004 << 8) | 0x00;
  assert.equal(db.decodeFrame(other, true, data).ok, false);
  const r = db.decodeFrame(other, true, data, { j1939: true });
  assert.ok(r.ok && r.phys.EngineSpeed === 1000);
});

test('sigflow dbc inspect prints messages, layout and warnings; --json is machine-readable', async () => {
  const dir = tempDir('sigflow-dbc-');
  const p = join(dir, 'full.dbc');
  writeFileSync(p, FULL);
  const text = await runCli(['dbc', 'inspect', p]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /0x064 \(100\) Engine {2}8 bytes {2}sender ECU1,GW/);
  assert.match(text.stdout, /Speed +0\|16 LE unsigned/);
  assert.match(text.stdout, /A +40\|8 +LE unsigned .*when Mode ∈ \{1\}/);
  assert.match(text.stderr, /warning: .*full\.dbc:\d+:1: SGTYPE_ is not interpreted/);
  const json = await runCli(['dbc', 'inspect', p, '--json', '--message', 'Ext']);
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.messages.length, 1);
  assert.equal(parsed.messages[0].fd, true);
  assert.equal(parsed.messages[0].signals[2].name, 'WideSignalWithAVeryLongName');
  const missing = await runCli(['dbc', 'inspect', join(dir, 'nope.dbc')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read DBC file .*nope\.dbc/);
  const strict = await runCli(['dbc', 'inspect', p, '--strict']);
  assert.equal(strict.code, 2);
  assert.match(strict.stderr, /full\.dbc:\d+:1: SGTYPE_ .*strict mode/);
});

test('sigflow dbc decode: one output line per input line, bad lines reported, wide ints as strings', async () => {
  const dir = tempDir('sigflow-dbc-');
  const p = join(dir, 'full.dbc');
  writeFileSync(p, FULL);
  const db = Database.fromText(FULL);
  const ext = Buffer.from(
    db.encode('Ext', { F32: Number.NaN, F64: Number.POSITIVE_INFINITY, WideSignalWithAVeryLongName: 2n ** 63n }),
  ).toString('hex');
  const input = [
    JSON.stringify({ id: 1024, extended: true, data: ext }),
    'not json',
    JSON.stringify({ id: 100, extended: false, data: 'zz' }),
    JSON.stringify({ id: 7, extended: false, data: '00' }),
    '',
    JSON.stringify({ id: 100, extended: false, data: '0102' }),
  ].join('\n');
  const r = await runCli(['dbc', 'decode', p], { input });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 6, 'one output line per input line, the blank one included');
  assert.deepEqual(lines[0].phys, { F32: 'NaN', F64: 'Infinity', WideSignalWithAVeryLongName: '9223372036854775808' });
  assert.equal(lines[1].error, 'input');
  assert.match(lines[1].detail, /line 2: not JSON/);
  assert.match(lines[2].detail, /line 3: data must be hex/);
  assert.equal(lines[3].error, 'unknown_id');
  assert.match(lines[4].detail, /line 5: blank line/);
  assert.equal(lines[5].error, 'short');
  assert.match(r.stderr, /6 line\(s\): decoded 1, unknown_id 1, short 1, bad_input 3/);
});

test('a multiplexer with a long name (SystemSignalLongSymbol) still selects its branches; the writer keeps it', () => {
  const text = `BA_DEF_ SG_ "SystemSignalLongSymbol" STRING;
BO_ 1 M: 2 X
 SG_ Mx M : 0|4@1+ (1,0) [0|0] "" X
 SG_ A m1 : 8|8@1+ (1,0) [0|0] "" X
 SG_ B m2 : 8|8@1+ (1,0) [0|0] "" X
BA_ "SystemSignalLongSymbol" SG_ 1 Mx "MultiplexerWithALongName";
`;
  for (const db of [Database.fromText(text), Database.fromText(writeDbc(parseDbc(text)))]) {
    assert.equal(db.messages[0].signals[1].multiplexerSignal, 'MultiplexerWithALongName');
    const r = db.decodeFrame(1, false, new Uint8Array([2, 7]));
    assert.ok(r.ok);
    assert.deepEqual(r.phys, { MultiplexerWithALongName: 2, B: 7 });
    assert.deepEqual([...db.encode('M', { MultiplexerWithALongName: 1, A: 9, B: 5 })], [1, 9]);
  }
});

test('errors carry catalogue codes; every quirk warning carries its SF_WARN_DBC_ code beside the short one', () => {
  const f = parseDbc(QUIRKY, { file: 'q.dbc' });
  assert.ok(f.warnings.length > 0);
  for (const w of f.warnings) {
    assert.equal(w.warningCode, QUIRK_WARNINGS[w.code as QuirkCode]);
    assert.equal(w.warningCode, `SF_WARN_DBC_${w.code.toUpperCase()}`);
  }
  for (const q of Object.keys(QUIRKS) as QuirkCode[])
    assert.ok(QUIRK_WARNINGS[q] in WARNINGS, `${q} is not in the catalogue`);
  assert.throws(() => parseDbc(QUIRKY, { file: 'q.dbc', strict: true }), {
    code: 'SF_ERR_DBC_STRICT',
    where: 'q.dbc:3:6',
  });
  assert.throws(() => parseDbc('BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (1,0 [0|0] "" X\n', { file: 'bad.dbc' }), {
    code: 'SF_ERR_DBC_SYNTAX',
    where: 'bad.dbc:2:22',
  });
  const dir = tempDir('sigflow-dbc-');
  const a = join(dir, 'a.dbc');
  const c = join(dir, 'c.dbc');
  writeFileSync(a, 'BO_ 1 A: 1 X\n SG_ S : 0|8@1+ (1,0) [0|0] "" X\n');
  writeFileSync(c, 'BO_ 1 C: 1 X\n SG_ S : 0|8@1+ (1,0) [0|0] "" X\n');
  assert.throws(() => Database.load([a, c]), { code: 'SF_ERR_DBC_ID_CLASH' });
  assert.throws(
    () => Database.load([join(dir, 'missing.dbc')]),
    (e: unknown) => {
      assert.ok(e instanceof SigflowError);
      assert.equal(e.code, 'SF_ERR_DBC_READ');
      assert.equal(e.where, join(dir, 'missing.dbc'));
      return true;
    },
  );
  const db = Database.fromText(FULL, 'full.dbc');
  assert.throws(() => db.encode('NoSuchMessage', {}), { code: 'SF_ERR_DBC_UNKNOWN_MESSAGE' });
  assert.throws(
    () => db.encode('Engine', { Speed: 0, Temp: 0 }),
    (e: unknown) => {
      assert.ok(e instanceof EncodeError);
      assert.equal(e.code, 'SF_ERR_DBC_ENCODE');
      return true;
    },
  );
});
