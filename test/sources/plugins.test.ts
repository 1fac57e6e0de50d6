/**
 * The source registry: every registered plugin is a complete plugin folder — a README.md naming each key of its
 * schema and holding a "Delivery guarantee" section, and a sample.yaml whose `source:` validates with the plugin's
 * schema (and as a pipeline's `source:` in the root configuration).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { pipelineEntrySchema } from '../../src/config/index.js';
import { SOURCE_PLUGINS, sourcePlugin } from '../../src/sources/index.js';
import { repoRoot } from '../harness/paths.js';

/** zod's issues, one `path: message` line each. */
const issues = (e: { issues: { path: PropertyKey[]; message: string }[] } | undefined) =>
  (e?.issues ?? []).map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('\n');

test('plugin types are unique and each is found by sourcePlugin', () => {
  assert.ok(SOURCE_PLUGINS.length > 0);
  assert.equal(new Set(SOURCE_PLUGINS.map((p) => p.type)).size, SOURCE_PLUGINS.length, 'plugin types are unique');
  for (const p of SOURCE_PLUGINS) {
    assert.equal(sourcePlugin(p.type), p);
    assert.equal(p.schema.shape.type.value, p.type, `${p.type}: the schema's type literal is the plugin's type`);
    assert.ok(p.description.length > 10, `${p.type}: has a description`);
    assert.ok(p.guarantee.length > 10, `${p.type}: states its guarantee`);
  }
});

for (const p of SOURCE_PLUGINS) {
  const dir = join(repoRoot, 'src', 'sources', p.type);

  test(`${p.type}: README.md documents every key and the delivery guarantee`, () => {
    const readmePath = join(dir, 'README.md');
    assert.ok(existsSync(readmePath), `src/sources/${p.type}/README.md is missing`);
    const readme = readFileSync(readmePath, 'utf8');
    assert.match(
      readme,
      /## Delivery guarantee/,
      `src/sources/${p.type}/README.md has no "Delivery guarantee" section`,
    );
    for (const key of Object.keys(p.schema.shape))
      assert.ok(readme.includes(`\`${key}\``), `src/sources/${p.type}/README.md does not document the key \`${key}\``);
  });

  test(`${p.type}: sample.yaml is a source: section that validates`, () => {
    const samplePath = join(dir, 'sample.yaml');
    assert.ok(existsSync(samplePath), `src/sources/${p.type}/sample.yaml is missing`);
    const sample = parseYaml(readFileSync(samplePath, 'utf8')) as { source?: Record<string, unknown> } | null;
    assert.ok(sample && typeof sample.source === 'object' && sample.source !== null, `${p.type}: has a source: key`);
    assert.deepEqual(Object.keys(sample), ['source'], `${p.type}: sample.yaml holds only source:`);
    assert.equal(sample.source.type, p.type, `${p.type}: sample.yaml's source is of type ${p.type}`);

    const r = p.schema.safeParse(sample.source);
    assert.ok(r.success, `src/sources/${p.type}/sample.yaml does not validate:\n${issues(r.error)}`);
    // and it is a valid `source:` of a pipeline in the root configuration (a source of frames needs a decode
    // section, a source of records has none)
    const decode = p.produces === 'frames' ? { decode: { dbc: 'x.dbc' } } : {};
    const entry = pipelineEntrySchema.safeParse({ name: 'sample', source: sample.source, ...decode });
    const where = `src/sources/${p.type}/sample.yaml`;
    assert.ok(entry.success, `${where} is not a valid pipelines[].source:\n${issues(entry.error)}`);
  });
}
