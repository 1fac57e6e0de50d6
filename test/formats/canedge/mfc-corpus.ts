/** The three real MFC samples of ../shared/data and their asammdf/reference JSON (null without the corpus). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedData } from '../../harness/paths.js';

export interface MfcSample {
  name: string;
  path: string;
  ref: { container_header: { device: string }; mdf_size_of_decompressed: number; mdf_sha256_of_decompressed: string };
}

const SESSION = ['api-examples', 'examples', 'other', 'concatenate-mf4-by-period', 'LOG', '5BC57FEC', '00000001'];
const NAMES = ['00000005-643E503A.MFC', '00000006-643E5292.MFC', '00000007-643E54EA.MFC'];

export function mfcSamples(): MfcSample[] {
  if (!sharedData) return [];
  const root = sharedData;
  return NAMES.map((name) => ({
    name,
    path: join(root, 'canedge', ...SESSION, name),
    ref: JSON.parse(readFileSync(join(root, 'canedge', 'reference', `${SESSION.join('__')}__${name}.json`), 'utf8')),
  }));
}
