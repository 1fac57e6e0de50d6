/**
 * `sigflow packets decode | spec`: binary messages through a bit-field packet spec (built-in `iof`, or a YAML/JSON
 * spec file) — a shell over runPacketDecode (src/pipelines/packets) and the spec compiler (src/codecs/bitfield).
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { BUILTIN_SPECS, loadPacketSpec } from '../codecs/bitfield/index.js';
import { SigflowError } from '../errors/index.js';
import { runPacketDecode } from '../pipelines/packets/index.js';
import { openOutput } from './output.js';

const FORMATS = ['auto', 'hex', 'base64', 'envelope', 'raw'] as const;

export function registerPacketsCommands(program: Command): void {
  const packets = program
    .command('packets')
    .description('binary messages (LoRa, MQTT, radio) decoded with a bit-field packet spec');

  packets
    .command('decode')
    .description('decode messages to NDJSON rows (one message per line, or whole binary files with --format raw)')
    .argument('[inputs...]', 'files, or - for stdin (the default)')
    .requiredOption(
      '--spec <spec>',
      `a built-in spec (${Object.keys(BUILTIN_SPECS).join(', ')}) or a YAML/JSON spec file (required)`,
    )
    .option('--format <format>', `how each message is written: ${FORMATS.join(', ')}`, 'auto')
    .option('-o, --output <file>', 'write the rows here instead of stdout')
    .addHelpText(
      'after',
      `
Input lines: hex (0a1b…), base64, or a gateway envelope {"data":"<base64>","snr":7.5} (auto tells them apart:
{ → envelope, only hex digits → hex, else base64). --format raw: each input file is one binary message.
Output: one JSON line per row: {"kind":"tag","time":"2019-04-29T16:29:29.330Z","source":"msgs.txt","line":3,
"tbr_serial_id":320,"timestamp":1556555369,"comm_protocol":"S256","frequency":69,"tag_id":12,"tag_data":17,…}
(an envelope's other values come along as "envelope":{"snr":7.5}). A line that cannot be read or a message that stops early
(unknown code, cut short) is reported on stderr with file:line and where in the message; the rows before the
stop are written. Exit status 1 if any message had a problem, 2 for bad arguments or a bad spec.

Examples:
  echo '{"data":"BQFcxyZpAAeQdVAZwSJAaQMDDBFRSg==","snr":7.5}' | sigflow packets decode --spec iof
  sigflow packets decode --spec iof uplinks.txt -o rows.ndjson
  sigflow packets decode --spec my-sensor.yaml --format raw message.bin
  sigflow packets spec iof > my-spec.yaml      (a starting point for a spec of your own)`,
    )
    .action(async (inputs: string[], opts: { spec: string; format: string; output?: string }) => {
      const format = opts.format.toLowerCase();
      if (!(FORMATS as readonly string[]).includes(format))
        throw new SigflowError('SF_ERR_USAGE', `--format ${opts.format}: one of ${FORMATS.join(', ')}`);
      const decoder = loadPacketSpec(opts.spec);
      const out = openOutput(opts.output);
      const t0 = performance.now();
      let stats: Awaited<ReturnType<typeof runPacketDecode>>;
      try {
        stats = await runPacketDecode(
          {
            decoder,
            format: format as (typeof FORMATS)[number],
            inputs: inputs.length ? inputs : ['-'],
            onProblem: (where, message) => process.stderr.write(`${where}: ${message}\n`),
          },
          out.stream,
        );
      } catch (e) {
        return out.fail(e);
      }
      await out.finish();
      const s = (performance.now() - t0) / 1000;
      process.stderr.write(
        `packets: ${stats.messages} messages → ${stats.rows} rows in ${s.toFixed(2)} s${stats.problems ? `; ${stats.problems} with problems (above)` : ''}\n`,
      );
      if (stats.problems > 0) process.exitCode = 1;
    });

  packets
    .command('spec')
    .description('print a spec as YAML (after validating it), or the decoder compiled from it')
    .argument('<spec>', `a built-in spec (${Object.keys(BUILTIN_SPECS).join(', ')}) or a YAML/JSON spec file`)
    .option('--source', 'print the generated JavaScript decoder instead')
    .addHelpText(
      'after',
      `
The language (fields of any bit width and offset, big/little endian, signed, scale/offset, maps, blocks chosen
by a field, packets repeated to the end with variants chosen by a discriminator, derived values) is described in
src/codecs/bitfield/README.md.

Examples:
  sigflow packets spec iof
  sigflow packets spec my-sensor.yaml --source`,
    )
    .action((spec: string, opts: { source?: boolean }) => {
      const d = loadPacketSpec(spec);
      process.stdout.write(opts.source ? `${d.source}\n` : stringify(d.written, { lineWidth: 120 }));
    });
}
