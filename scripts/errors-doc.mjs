#!/usr/bin/env node
// Writes docs/errors.md from the error catalogue (src/errors/catalogue.ts, compiled to dist/ by the build).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const { renderErrorsDoc } = await import(join(root, 'dist', 'src', 'errors', 'index.js'));
writeFileSync(join(root, 'docs', 'errors.md'), renderErrorsDoc());
console.log('wrote docs/errors.md');
