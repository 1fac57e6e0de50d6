/**
 * Runs the sigflow CLI in this process and, at exit, prints its peak RSS on stderr as `sigflow-test-maxrss-mb=<n>`
 * (not a test file: memory tests spawn it like test/harness/cli.ts runs the CLI). Usage: _rss-child <args…>
 */
import { main } from '../../src/cli/main.js';

process.on('exit', () => {
  process.stderr.write(`\nsigflow-test-maxrss-mb=${Math.round(process.resourceUsage().maxRSS / 1024)}\n`);
});
await main([process.argv[0], 'sigflow', ...process.argv.slice(2)]);
