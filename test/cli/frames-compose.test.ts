/**
 * `sigflow frames | sigflow dbc decode` composes (issue 8, items 7 and 19): the frame line `frames` writes is the one
 * `dbc decode` reads, so the pipe decodes the values `sigflow decode` does on the same file (J1939 included; t and
 * device passed through); a standard id above 0x7FF is an input error; one output line per input line (blank
 * lines too); exit 1 when no line decoded and some were bad; a 16 MiB line is one error line, not the end.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';

const dbcFiles = join(fixturesDir, 'canedge/dbc/api-examples/examples');
const J1939 = join(dbcFiles, 'data-processing/dbc_files/CSS-Electronics-SAE-J1939-DEMO.dbc');
const GNSS = join(dbcFiles, 'other/concatenate-mf4-by-period/dbc_files/gnss.dbc');

type Value = { t: string; device: string; chn: number; message: string; signal: string; value: unknown };

function lines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
}

/** The values of `dbc decode` output lines, in the shape of `sigflow decode` NDJSON (without sa). */
function flatten(out: Record<string, unknown>[]): Value[] {
  const values: Value[] = [];
  for (const o of out) {
    if (o.error) continue;
    for (const [signal, value] of Object.entries(o.phys as Record<string, unknown>)) {
      values.push({
        t: o.t as string,
        device: o.device as string,
        chn: o.chn as number,
        message: o.message as string,
        signal,
        value,
      });
    }
  }
  return values;
}

describe('sigflow frames | sigflow dbc decode', () => {
  for (const [name, log, dbc] of [
    ['J1939 (29-bit ids, PGN matching)', join(fixturesDir, 'canedge', '00000001-60B621D9.MF4'), J1939],
    ['gnss.dbc (names repeated in the file)', join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4'), GNSS],
  ] as const) {
    it(`decodes the values sigflow decode does: ${name}`, async () => {
      const frames = await runCli(['frames', log]);
      assert.equal(frames.code, 0, frames.stderr);
      const piped = await runCli(['dbc', 'decode', '--dbc', dbc], { input: frames.stdout });
      assert.equal(piped.code, 0, piped.stderr);
      const out = lines(piped.stdout);
      assert.equal(out.length, lines(frames.stdout).length, 'one output line per frame line');
      const direct = await runCli(['decode', log, '--dbc', dbc]);
      assert.equal(direct.code, 0, direct.stderr);
      const want = lines(direct.stdout).map(({ sa: _sa, bus: _bus, ...v }) => v);
      const got = flatten(out);
      assert.ok(want.length > 100, `${want.length} values`);
      assert.deepEqual(got, want);
    });
  }

  it('a standard id above 0x7FF, a blank line and bad lines each get their output line; exit statuses', async () => {
    const input = [
      '{"id":419361278,"data":"0102030405060708"}', // 0x18FEF1FE (CCVS1) without "ext"
      '',
      '{"t":"5","device":"D1","bus":"CAN","chn":2,"id":419361278,"ext":true,"data":"ffffffffffffffff"}',
      'not json',
      '{"id":1,"bus":"LIN","data":"00"}',
    ].join('\n');
    const r = await runCli(['dbc', 'decode', J1939], { input: `${input}\n` });
    const out = lines(r.stdout);
    assert.equal(r.stdout.split('\n').length - 1, 5, 'one output line per input line');
    assert.equal(out[0].error, 'input');
    assert.match(String(out[0].detail), /^line 1: id 0x18FEF1FE is above 0x7FF, but "ext" is missing/);
    assert.deepEqual(out[1], { error: 'input', detail: 'line 2: blank line (one frame object per line)' });
    assert.equal(out[2].t, '5');
    assert.equal(out[2].device, 'D1');
    assert.equal(out[2].chn, 2);
    assert.equal(out[2].ext, true);
    assert.equal(typeof out[2].message, 'string', JSON.stringify(out[2]));
    assert.match(String(out[3].detail), /^line 4: not JSON/);
    assert.equal(out[4].error, 'not_decoded');
    assert.equal(r.code, 0, 'a line decoded');

    const bad = await runCli(['dbc', 'decode', J1939], { input: 'x\n\n{"id":2048,"data":"00"}\n' });
    assert.equal(bad.code, 1, bad.stderr);
    assert.equal(lines(bad.stdout).length, 3);
    assert.match(
      bad.stderr,
      /no frame decoded: 3 of 3 input line\(s\) are not valid frame lines \(first: line 1: not JSON/,
    );
    assert.match(bad.stderr, /SF_ERR_LOGDECODE_NO_FRAME_DECODED/);

    const unknown = await runCli(['dbc', 'decode', J1939], { input: '{"id":1,"data":"00"}\n' });
    assert.equal(unknown.code, 0, 'an unknown id is a result, not bad input');
  });

  it('a 16 MiB line is one error line naming its number; the lines after it are decoded (bounded memory)', async () => {
    const good = '{"t":"1","id":419361278,"ext":true,"data":"ffffffffffffffff"}';
    const huge = `{"id":1,"ext":false,"data":"${'a'.repeat(16 * 1024 * 1024)}"}`;
    const r = await runCli(['dbc', 'decode', J1939], { input: `${good}\n${huge}\n${good}\n` });
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.equal(out.length, 3);
    assert.equal(out[1].error, 'input');
    assert.match(String(out[1].detail), /^line 2: longer than 1048576 bytes \(16777246 bytes; skipped\)/);
    assert.deepEqual(out[2], out[0]);
    assert.ok(!out[0].error, JSON.stringify(out[0]));
  });
});
