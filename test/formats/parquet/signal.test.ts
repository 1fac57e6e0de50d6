/**
 * Issue 8 item 20: SIGINT/SIGTERM just after the temporary Parquet file is created must not leave it behind. The
 * handlers used to be installed by the command after `await open()` returned, so a signal in between (the file
 * on disk, the handler not yet there) left `<out>.<pid>-<random>.tmp`. The child (_signal-child.ts) signals itself from
 * the writer's `onCreated` seam, i.e. at exactly that moment, every run: deterministic, no timing loop.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');

function child(out: string, signal: string): Promise<{ signal: string | null; code: number | null; stdout: string }> {
  const script = join(here, fromSource ? '_signal-child.ts' : '_signal-child.js');
  const argv = fromSource ? ['--import', 'tsx', script, out, signal] : [script, out, signal];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    p.on('error', reject);
    p.on('exit', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig, stdout });
    });
  });
}

describe('ParquetFileWriter removeOnSignals', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-parquet-signal-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const signal of ['SIGTERM', 'SIGINT']) {
    it(`${signal} right after the temporary file is created removes it and kills the process`, async () => {
      const out = join(dir, `${signal}.parquet`);
      const r = await child(out, signal);
      assert.match(r.stdout, /created .*\.tmp/, 'the signal was sent while the temporary file existed');
      assert.doesNotMatch(r.stdout, /survived/);
      assert.equal(r.signal, signal, `died of ${signal} (exit code ${r.code})`);
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.startsWith(`${signal}.parquet`)),
        [],
        'no temporary (or final) file left',
      );
    });
  }
});
