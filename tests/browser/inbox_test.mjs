// Drives headless Chromium against the sandbox inbox page for tests/test_sandbox_ui_browser.py.
//
//   node tests/browser/inbox_test.mjs <page-url>
//
// Opens the page once (it is never reloaded: what appears later arrives over its event stream), prints
// {"ready": true} when the page's EventSource is open, then answers one JSON command per stdin line
// with one JSON line on stdout:
//   {"wait": {"count": <articles on the page>, "text": "<text the feed must contain>"},
//    "select": ["<css of a <select>>", "<value>"], "click": "<css>", "viewport": [<w>, <h>],
//    "screenshot": "<png path>", "full": <false: the viewport only>, "top": <true: scroll up first>}  -> {"entries": [...], "page": {...}}
//   {"quit": true}                          -> exits 0
// Each entry is an <article> of the feed: its data-* attributes, whether it is shown, and each
// [data-f] element's text (an <img>: its src and whether it loaded), with visibility for actions.
// On any failure prints {"error"} and exits 1.
import { createInterface } from 'node:readline';

import { chromium } from 'playwright-core';

const STEP_MS = 15_000;
const [pageUrl] = process.argv.slice(2);
if (!pageUrl) {
  console.error('usage: node inbox_test.mjs <page-url>');
  process.exit(2);
}

function reply(value) {
  process.stdout.write(JSON.stringify(value) + '\n');
}

function extract() {
  const visible = (el) => el.checkVisibility();
  return {
    entries: [...document.querySelectorAll('#feed > article')].map((article) => {
      const fields = {};
      for (const el of article.querySelectorAll('[data-f]')) {
        const value =
          el.tagName === 'IMG'
            ? { src: el.getAttribute('src'), loaded: el.complete && el.naturalWidth > 0, visible: visible(el) }
            : el.dataset.f === 'action'
              ? { text: el.textContent, visible: visible(el) }
              : el.textContent;
        (fields[el.dataset.f] ??= []).push(value);
      }
      return { ...article.dataset, shown: !article.hidden, classes: article.className, fields };
    }),
    page: {
      live: document.body.dataset.live === '1',
      empty_hint_shown: !document.getElementById('empty').hidden,
      devices: [...document.querySelectorAll('#device option')].map((o) => o.value),
      scroll_width: document.documentElement.scrollWidth,
      client_width: document.documentElement.clientWidth,
    },
  };
}

async function step(page, command) {
  if (command.viewport) await page.setViewportSize({ width: command.viewport[0], height: command.viewport[1] });
  if (command.select) await page.selectOption(command.select[0], command.select[1]);
  if (command.click) await page.click(command.click);
  if (command.wait) {
    const { count, text } = command.wait;
    await page.waitForFunction(
      ([n, t]) =>
        document.querySelectorAll('#feed > article').length === n &&
        (!t || document.getElementById('feed').textContent.includes(t)) &&
        [...document.images].every((img) => img.complete),
      [count ?? 0, text ?? ''],
      { timeout: STEP_MS },
    );
  }
  if (command.top) await page.evaluate(() => window.scrollTo(0, 0));
  if (command.screenshot) await page.screenshot({ path: command.screenshot, fullPage: command.full !== false });
  return page.evaluate(extract);
}

const browser = await chromium.launch({
  executablePath: process.env.UNIPUSH_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  await page.goto(pageUrl);
  await page.waitForFunction(() => document.body.dataset.live === '1', null, { timeout: STEP_MS });
  reply({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line);
    if (command.quit) break;
    let result;
    try {
      result = await step(page, command);
    } catch (error) {
      // Say what the page did show, and what it complained about, next to the failure.
      const shown = await page.evaluate(extract).catch(() => null);
      throw new Error(`${error.message}\npage: ${JSON.stringify(shown)}\nproblems: ${JSON.stringify(problems)}`);
    }
    reply({ ...result, problems });
  }
} catch (error) {
  reply({ error: String(error && error.stack ? error.stack : error) });
  process.exitCode = 1;
} finally {
  await browser.close();
}
