/**
 * Topic templates of the `mqtt` sink: text with `{measurement}` and `{tag:<name>}` placeholders, checked when the
 * sink is created (an unknown placeholder, a stray brace or a wildcard is SF_ERR_UPLINK_CONFIG), filled per record.
 */
import { SigflowError } from '../../errors/index.js';
import { topicProblem } from '../../mqtt/index.js';
import type { TelemetryRecord } from '../../records/index.js';

type Part = { text: string } | { measurement: true } | { tag: string };

export class TopicTemplate {
  private readonly parts: Part[] = [];

  constructor(
    readonly template: string,
    where: string,
  ) {
    const fail = (why: string): never => {
      throw new SigflowError('SF_ERR_UPLINK_CONFIG', `${where}: topic ${JSON.stringify(template)}: ${why}`, {
        where,
      });
    };
    const re = /\{([^{}]*)\}/g;
    let last = 0;
    const text = (s: string) => {
      if (/[{}]/.test(s)) fail('a "{" or "}" outside a placeholder');
      if (/[+#]/.test(s)) fail('"+" and "#" are wildcards, not allowed in a topic to publish to');
      if (s) this.parts.push({ text: s });
    };
    for (let m = re.exec(template); m !== null; m = re.exec(template)) {
      text(template.slice(last, m.index));
      const name = m[1];
      if (name === 'measurement') this.parts.push({ measurement: true });
      else if (name.startsWith('tag:') && name.length > 4) this.parts.push({ tag: name.slice(4) });
      else fail(`unknown placeholder {${name}} (known: {measurement}, {tag:<name>})`);
      last = m.index + m[0].length;
    }
    text(template.slice(last));
  }

  /** The tags the template needs. */
  get tags(): string[] {
    return this.parts.flatMap((p) => ('tag' in p ? [p.tag] : []));
  }

  /** The topic of a record, or why it has none (a missing tag, a wildcard in a value). */
  render(r: TelemetryRecord): string | { problem: string } {
    let out = '';
    for (const p of this.parts) {
      if ('text' in p) out += p.text;
      else if ('measurement' in p) out += r.measurement;
      else {
        const v = r.tags[p.tag];
        if (v === undefined || v === '') return { problem: `no "${p.tag}" tag for topic ${this.template}` };
        out += v;
      }
    }
    const why = topicProblem(out);
    return why === null ? out : { problem: why };
  }
}
