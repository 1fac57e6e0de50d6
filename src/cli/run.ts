/** Runs the CLI when this module is the entry point (used by tests under tsx; bin/sigflow calls main directly). */
import { main } from './main.js';

await main(process.argv);
