/**
 * Issue 8 item 11 (the command-line half): raw `store query` held every sample of the range before printing
 * (3.4 M samples took 1.32 GB), and `dbc inspect` built its whole text / JSON document in memory (a 50 MB DBC took
 * 2.4 GB, and --json crashed in JSON.stringify). Both now stream. Checked with the peak RSS of the command run in
 * a child (test/cli/_rss-child.ts), against the same command with a tiny output over the same input: the
 * difference is what the output costs. Before the fix: +230 MB (store query, 600 k samples), +120 MB / +330 MB
 * (dbc inspect text / --json, an 11 MB DBC); after: a few MB.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TimeSeriesStore } from '../../src/store/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');

/** Runs the CLI in a child; returns its peak RSS in MB and the bytes it wrote to stdout. */
function peak(args: string[]): Promise<{ mb: number; stdoutBytes: number; code: number | null; stderr: string }> {
  const script = join(here, fromSource ? '_rss-child.ts' : '_rss-child.js');
  const argv = [...(fromSource ? ['--import', 'tsx'] : []), script, ...args];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => {
      bytes += b.length;
    });
    p.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    p.on('error', reject);
    p.on('close', (code) => {
      const m = /sigflow-test-maxrss-mb=(\d+)/.exec(stderr);
      if (!m) return reject(new Error(`no peak RSS from the child (exit ${code}): ${stderr}`));
      resolve({ mb: Number(m[1]), stdoutBytes: bytes, code, stderr });
    });
  });
}

describe('commands that stream their output: memory does not grow with it', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-cli-memory-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('raw store query over 600 k samples', async () => {
    const file = join(dir, 'big.db');
    const s = TimeSeriesStore.open(file);
    const N = 600_000;
    for (let at = 0; at < N; at += 50_000) {
      s.write(
        Array.from({ length: 50_000 }, (_, i) => ({
          time: BigInt(at + i) * 1_000_000n,
          measurement: 'm',
          tags: { d: 'x' },
          fields: { v: (at + i) * 0.25 },
        })),
      );
    }
    s.close();
    const small = await peak(['store', 'query', file, 'm', '--from', '0', '--to', '1000000']);
    const all = await peak(['store', 'query', file, 'm', '--from', '0', '--to', String(N * 1_000_000)]);
    assert.equal(all.code, 0, all.stderr);
    assert.ok(all.stdoutBytes > 600_000 * 20, `the whole range was printed (${all.stdoutBytes} bytes)`);
    assert.ok(all.mb - small.mb < 60, `store query: ${all.mb} MB vs ${small.mb} MB for one sample`);
  });

  it('dbc inspect (text and --json) of an 11 MB DBC', async () => {
    const lines = ['VERSION ""', '', 'NS_ :', '', 'BS_:', '', 'BU_: ECU', ''];
    for (let m = 0; m < 20_000; m++) {
      lines.push(`BO_ ${m + 1} Message_${m}: 8 ECU`);
      for (let k = 0; k < 8; k++)
        lines.push(` SG_ Signal_${m}_${k} : ${k * 8}|8@1+ (0.5,-10) [0|100] "unit" Vector__XXX`);
      lines.push('');
    }
    const dbc = join(dir, 'big.dbc');
    writeFileSync(dbc, `${lines.join('\n')}\n`);
    const one = await peak(['dbc', 'inspect', dbc, '--message', 'Message_5']);
    assert.equal(one.code, 0, one.stderr);
    const text = await peak(['dbc', 'inspect', dbc]);
    const json = await peak(['dbc', 'inspect', dbc, '--json']);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(json.code, 0, json.stderr);
    assert.ok(json.stdoutBytes > 50_000_000, `the whole document was printed (${json.stdoutBytes} bytes)`);
    assert.ok(text.mb - one.mb < 50, `dbc inspect: ${text.mb} MB vs ${one.mb} MB for one message`);
    assert.ok(json.mb - one.mb < 50, `dbc inspect --json: ${json.mb} MB vs ${one.mb} MB for one message`);
  });
});
