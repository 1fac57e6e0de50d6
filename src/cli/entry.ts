/**
 * Runs the CLI when this module is the entry point: the tests run it under tsx (src/cli/entry.ts) or compiled
 * (dist/src/cli/entry.js); bin/sigflow calls runAndExit() directly.
 */
import { runAndExit } from './main.js';

await runAndExit(process.argv);
