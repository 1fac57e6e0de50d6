/** Renders docs/errors.md from the catalogue (`npm run docs:errors`; a test checks the file is current). */
import { ERRORS, WARNINGS } from './catalogue.js';

function area(code: string): string {
  return code.split('_')[2] ?? '';
}

export function renderErrorsDoc(): string {
  const out: string[] = [
    '# Error and warning codes',
    '',
    'Generated from `src/errors/catalogue.ts` by `npm run docs:errors`; do not edit by hand.',
    '',
    'Every error sigflow reports on purpose carries one of these codes (in logs as `code`, in HTTP answers and',
    'metric labels). A code keeps its meaning once released. Exit status: **2** — the input or the invocation is',
    'wrong (fix it and run again); **1** — it could not be done (the message says why). Set `SIGFLOW_DEBUG=1` to',
    'see the stack trace of an error.',
    '',
    '## Errors',
  ];
  let last = '';
  for (const [code, spec] of Object.entries(ERRORS)) {
    if (area(code) !== last) {
      last = area(code);
      out.push(
        '',
        `### ${last.toLowerCase()}`,
        '',
        '| code | exit | HTTP | means | what to do |',
        '| --- | --- | --- | --- | --- |',
      );
    }
    out.push(`| \`${code}\` | ${spec.exit} | ${spec.http} | ${spec.means} | ${spec.action} |`);
  }
  out.push('', '## Warnings');
  last = '';
  for (const [code, spec] of Object.entries(WARNINGS) as [string, { means: string; action: string }][]) {
    if (area(code) !== last) {
      last = area(code);
      out.push('', `### ${last.toLowerCase()}`, '', '| code | means | what to do |', '| --- | --- | --- |');
    }
    out.push(`| \`${code}\` | ${spec.means} | ${spec.action} |`);
  }
  return `${out.join('\n')}\n`;
}
