// Drives Debian's headless Chromium through one login for tests/browser_e2e.rs.
// Usage: node drive.mjs <authorize-url> <approve|deny> <screenshot.png>
// Prints one JSON object: where the browser ended up and what the page said, or the error.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [authorizeUrl, decision, screenshot] = process.argv.slice(2);
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openrouter-pkce-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  colorScheme: process.env.COLOR_SCHEME === 'dark' ? 'dark' : 'light',
  args: [
    '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic',
  ],
});
let result;
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(authorizeUrl);
  await Promise.all([
    page.waitForURL(/\/callback/, { timeout: 15000 }),
    page.click(decision === 'approve' ? '#approve' : '#deny'),
  ]);
  await page.waitForSelector('h1#heading', { timeout: 15000 });
  await page.waitForLoadState('load');
  fs.mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  result = {
    url: page.url(),
    title: await page.title(),
    heading: (await page.textContent('h1#heading')).trim(),
    message: (await page.textContent('#message')).trim(),
    lang: await page.getAttribute('html', 'lang'),
    // The inline stylesheet applied (a CSP hash mismatch would leave the default black).
    headingColor: await page.$eval('h1#heading', (e) => getComputedStyle(e).color),
  };
} catch (e) {
  result = { error: String(e && e.message ? e.message : e) };
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
