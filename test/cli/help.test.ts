/**
 * Every command's --help (issue 8, item 17): each runnable command has an "Examples:" section whose lines parse
 * (known command, known options, required options given); required options are marked "(required)"; a usage
 * error found by commander — unknown option, missing argument or required option, unknown command — exits 2 in
 * every command, as the docs promise; `import` has no -o. Done in-process over buildProgram() (one child process
 * per case would take minutes), plus a few through the real CLI.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { COMMANDS, indexProgram } from '../../src/cli/commands.js';
import { reportError } from '../../src/cli/main.js';
import { buildProgram } from '../../src/cli/program.js';
import { rootProgram } from '../../src/cli/root.js';
import { runCli } from '../harness/cli.js';

/** Every command with an action (leaf), with its path of names. */
function leaves(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  const subs = cmd.commands as Command[];
  if (subs.length === 0) return [{ path, cmd }];
  return subs.flatMap((c) => leaves(c, [...path, c.name()]));
}

/** Runs `sigflow <args>` in-process; returns stdout, stderr and the exit status main() would give. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const program = buildProgram();
  let out = '';
  let err = '';
  const w = process.stdout.write;
  const e = process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => {
    out += String(c);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => {
    err += String(c);
    return true;
  }) as typeof process.stderr.write;
  let code = 0;
  try {
    await program.parseAsync(['node', 'sigflow', ...args]);
  } catch (x) {
    code = reportError(x);
  } finally {
    process.stdout.write = w;
    process.stderr.write = e;
  }
  return { code, out, err };
}

/** Splits an example line like a shell would, for the simple quoting the examples use. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

const all = leaves(buildProgram());

describe('sigflow <command> --help', () => {
  it('lists the commands the issue names', () => {
    const names = all.map((l) => l.path.join(' '));
    for (const n of [
      'frames',
      'decode',
      'import',
      'logs index',
      'store list',
      'store query',
      'store retention',
      'outbox status',
      'outbox dead-letters',
      'outbox replay',
      'outbox purge',
      'outbox forget-sink',
      'dbc inspect',
      'dbc decode',
    ])
      assert.ok(names.includes(n), n);
  });

  it('each command loads alone: COMMANDS names every command of the full program, and its module registers it', async () => {
    const full = (buildProgram().commands as Command[]).map((c) => c.name()).sort();
    assert.deepEqual(Object.keys(COMMANDS).sort(), full);
    for (const [name, { load }] of Object.entries(COMMANDS)) {
      const program = rootProgram();
      (await load())(program);
      const alone = (program.commands as Command[]).map((c) => c.name());
      assert.ok(alone.includes(name), `${name}'s module registers ${alone.join(', ')}`);
      for (const n of alone) assert.ok(full.includes(n), `${n} (from ${name}'s module) is in the full program`);
    }
  });

  it("the index (sigflow --help) printed from COMMANDS alone is the full program's, at any width", async () => {
    const helpOf = async (program: Command, width: number, args: string[]) => {
      let text = '';
      program.configureOutput({
        writeOut: (s) => {
          text += s;
        },
        writeErr: (s) => {
          text += s;
        },
        getOutHelpWidth: () => width,
        getErrHelpWidth: () => width,
      });
      await assert.rejects(program.parseAsync(['node', 'sigflow', ...args]), (e: { code?: string }) =>
        /^commander\.(helpDisplayed|help)$/.test(e.code ?? ''),
      );
      return text;
    };
    for (const width of [60, 80, 200])
      for (const args of [['--help'], ['help'], []]) {
        const full = await helpOf(buildProgram(), width, args);
        assert.match(full, /update-guard/);
        assert.equal(await helpOf(indexProgram(), width, args), full, `width ${width}, args ${args.join(' ')}`);
      }
  });

  for (const { path, cmd } of all) {
    const name = path.join(' ');
    it(`${name}: an Examples section whose lines parse; required options marked (required)`, async () => {
      const r = await run([...path, '--help']);
      assert.equal(r.code, 0, r.err);
      const m = /\nExamples?:\n((?: {2}.*\n?)+)/.exec(r.out);
      assert.ok(m, `${name} --help has no "Examples:" section:\n${r.out}`);
      // each sigflow command of an example line (a pipeline `a | b` has several)
      const examples = m[1]
        .split('\n')
        .flatMap((l) => l.split(' | '))
        .map((l) => l.trim())
        .filter((l) => l.startsWith('sigflow '));
      assert.ok(
        examples.some(
          (l) =>
            words(l)
              .slice(1, 1 + path.length)
              .join(' ') === name,
        ),
        `an example of ${name}`,
      );
      for (const line of examples) {
        const argv = words(line).slice(1);
        // walk to the command the example runs and check its options are known and its required ones given
        let c = buildProgram() as Command;
        let rest = argv;
        while ((c.commands as Command[]).length > 0) {
          const sub = (c.commands as Command[]).find((s) => s.name() === rest[0]);
          assert.ok(sub, `${name}: example "${line}": unknown command ${rest[0]}`);
          c = sub;
          rest = rest.slice(1);
        }
        const parsed = c.parseOptions(rest);
        assert.deepEqual(parsed.unknown, [], `${name}: example "${line}" uses unknown options`);
        for (const o of c.options) {
          if (o.mandatory)
            assert.ok(
              rest.includes(o.long as string) || (o.short !== undefined && rest.includes(o.short)),
              `${name}: example "${line}" lacks ${o.long}`,
            );
        }
      }
      for (const o of cmd.options) {
        if (o.mandatory) assert.match(o.description, /\(required\)/, `${name} ${o.long} is required: say so`);
      }
    });

    it(`${name}: commander's usage errors exit 2`, async () => {
      const unknown = await run([...path, '--no-such-option']);
      assert.equal(unknown.code, 2, `${name} --no-such-option: ${unknown.err}`);
      // commander checks required options first: either message is a usage error
      assert.match(unknown.err, /unknown option '--no-such-option'|required option|missing required argument/);
      const bare = await run(path);
      const needs = cmd.registeredArguments.some((a) => a.required) || cmd.options.some((o) => o.mandatory);
      if (needs) {
        assert.equal(bare.code, 2, `${name} without its arguments: ${bare.err}`);
        assert.match(bare.err, /missing required argument|required option/);
      }
    });
  }

  it('unknown commands and subcommands exit 2; groups without a subcommand print their help and exit 2', async () => {
    for (const args of [['no-such-command'], ['store', 'nope'], ['outbox', 'nope'], ['logs', 'nope'], ['dbc']]) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    }
  });

  it('import has no -o (it writes into --data-dir): rejected, exit 2, through the real CLI', async () => {
    const r = await runCli(['import', 'x.MF4', '--dbc', 'x.dbc', '-o', 'out.csv']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /unknown option '-o'/);
    assert.match(r.stderr, /^sigflow: unknown option '-o' \(SF_ERR_USAGE\)$/m, 'the one-line form every error has');
    const help = await runCli(['import', '--help']);
    assert.doesNotMatch(help.stdout, /-o, --output/);
  });

  it('through the real CLI: `sigflow help <command>` prints `<command> --help`; `sigflow --help` the index', async () => {
    for (const name of ['frames', 'store']) {
      const [viaHelp, direct] = await Promise.all([runCli(['help', name]), runCli([name, '--help'])]);
      assert.equal(viaHelp.code, 0, viaHelp.stderr);
      assert.match(viaHelp.stdout, new RegExp(`^Usage: sigflow ${name} `));
      assert.equal(viaHelp.stdout, direct.stdout);
    }
    const index = await runCli(['--help']);
    assert.equal(index.code, 0, index.stderr);
    for (const name of Object.keys(COMMANDS)) assert.match(index.stdout, new RegExp(`\\n  ${name}\\b`));
  });
});
