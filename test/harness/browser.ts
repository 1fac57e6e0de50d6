/**
 * A real browser for the console's tests: Chromium from Debian (`chromium` in .ci/apt-packages, or
 * $SIGFLOW_CHROMIUM) driven by playwright-core — no browser download. Missing: the tests that need it are
 * skipped with a loud message, or fail when CI demands every service (SIGFLOW_REQUIRE_SERVICES=1).
 * Screenshots go to one folder per test run under the temp dir ($SIGFLOW_ARTIFACTS to choose it), kept after the
 * run and named in the test output.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { servicesRequired } from './services.js';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

export function chromiumPath(): string | null {
  const own = process.env.SIGFLOW_CHROMIUM;
  if (own) return existsSync(own) ? own : null;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

let warned = false;

/** Chromium headless, or null (skipped loudly) when it is not installed. */
export async function launchBrowser(): Promise<Browser | null> {
  const path = chromiumPath();
  if (!path) {
    const msg = 'chromium is not installed (apt-get install chromium, or set SIGFLOW_CHROMIUM)';
    if (servicesRequired) throw new Error(`SIGFLOW_REQUIRE_SERVICES=1 but ${msg}`);
    if (!warned) process.stderr.write(`\n*** ${msg}: the browser tests are SKIPPED ***\n\n`);
    warned = true;
    return null;
  }
  const { chromium } = await import('playwright-core');
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
  return chromium.launch({ executablePath: path, args: ['--no-sandbox', '--disable-gpu'] });
}

/** The folder screenshots of this run go to (made on first use). */
export const artefactsDir: string =
  process.env.SIGFLOW_ARTIFACTS ?? join(tmpdir(), `sigflow-console-shots-${new Date().toISOString().slice(0, 10)}`);

/** Saves a full-page screenshot as `<name>.png` and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(artefactsDir, { recursive: true });
  const path = join(artefactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const require = createRequire(import.meta.url);

/**
 * axe-core's serious and critical violations on the page (WCAG 2 A/AA and best practices). The page's
 * Content-Security-Policy keeps injected scripts out: the page must come from a context with `bypassCSP: true`.
 */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.addScriptTag({ content: source });
  const violations = (await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(o: unknown): Promise<{ violations: unknown[] }> } }).axe;
    const r = await axe.run({ runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] });
    return r.violations;
  })) as { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
