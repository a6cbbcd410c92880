// Drives headless Chromium against unipush-sw.js for tests/test_service_worker_browser.py.
//
//   node tests/browser/sw_test.mjs <page-url> <plan-json>
//
// <page-url> is the test page on a local HTTP server that also serves /unipush-sw.js. <plan-json> is
//   {"pushes": [{"data": "<payload>", "tag": "<tag it shows>"}...],
//    "clicks": [{"tag": "<tag>", "action": "<action id or empty>"}...],
//    "synthetic": [{"name": "<label>", "data": "<payload>", "native": <bool>}...]}
// Each push is delivered as a real push message through the DevTools command
// ServiceWorker.deliverPushMessage; each click is a NotificationEvent dispatched inside the worker on
// the notification it showed, with clients.openWindow, WindowClient.focus and navigator.setAppBadge
// replaced by recorders (no DevTools command clicks an OS notification). Each synthetic push is a
// PushEvent built inside the worker; "native" gives it the `notification` member a browser with
// Declarative Web Push sets. Prints one JSON object on stdout; exits 1 with {"error"} on failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const DEADLINE_MS = 50_000;
const SETTLE_MS = 200; // after showNotification() resolves, before reading getNotifications()
let diagnostics = async () => null;
const [pageUrl, planJson] = process.argv.slice(2);
if (!pageUrl || !planJson) {
  console.error('usage: node sw_test.mjs <page-url> <plan-json>');
  process.exit(2);
}
const plan = JSON.parse(planJson);
const origin = new URL(pageUrl).origin;

function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function waitFor(check, what, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function run(context) {
  await context.grantPermissions(['notifications'], { origin });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(pageUrl);

  const cdp = await context.newCDPSession(page);
  const registrations = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: updated }) => {
    for (const r of updated) {
      if (r.isDeleted) registrations.delete(r.scopeURL);
      else registrations.set(r.scopeURL, r.registrationId);
    }
  });
  await cdp.send('ServiceWorker.enable');

  const scope = await page.evaluate(async () => {
    await navigator.serviceWorker.register('/unipush-sw.js');
    return (await navigator.serviceWorker.ready).scope;
  });
  const registrationId = await waitFor(() => registrations.get(scope), `the registration of ${scope}`);
  const worker = await waitFor(
    () => context.serviceWorkers().find((w) => w.url().endsWith('/unipush-sw.js')),
    'the service worker handle',
  );

  // Recorders, installed before any push so the worker's handlers see them.
  await worker.evaluate(() => {
    self.__calls = [];
    self.__shown = [];
    const showNotification = ServiceWorkerRegistration.prototype.showNotification;
    ServiceWorkerRegistration.prototype.showNotification = function (title, options) {
      return showNotification.call(this, title, options).then(
        (value) => (self.__shown.push(['shown', title]), value),
        (error) => (self.__shown.push(['rejected', title, String(error)]), Promise.reject(error)),
      );
    };
    self.clients.openWindow = async (url) => {
      self.__calls.push(['openWindow', url]);
      return null;
    };
    WindowClient.prototype.focus = async function () {
      self.__calls.push(['focus', this.url]);
      return this;
    };
    WorkerNavigator.prototype.setAppBadge = async (count) => {
      self.__calls.push(['setAppBadge', count]);
    };
  });

  diagnostics = () => worker.evaluate(() => ({ calls: self.__calls, shown: self.__shown }));

  // Wait for the worker's showNotification() calls to settle, never by polling getNotifications():
  // Chromium's getNotifications() deletes every stored notification the platform does not report as
  // displayed yet (PlatformNotificationContextImpl, "obsolete_notifications"), so a poll that races
  // the display of a new notification makes it vanish for good.
  const settled = (count, what) =>
    waitFor(() => worker.evaluate((n) => self.__shown.length >= n, count), what).then(
      () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS)),
    );
  for (const [index, push] of plan.pushes.entries()) {
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: push.data });
    await settled(index + 1, `showNotification() for push ${index + 1} (tag ${push.tag})`);
  }
  const badgeCalls = await worker.evaluate(() => self.__calls.splice(0));

  const notifications = await page.evaluate(async () => {
    const shown = await (await navigator.serviceWorker.ready).getNotifications();
    return shown.map((n) => ({
      title: n.title,
      body: n.body,
      icon: n.icon,
      image: n.image,
      badge: n.badge,
      tag: n.tag,
      lang: n.lang,
      dir: n.dir,
      renotify: n.renotify,
      silent: n.silent,
      requireInteraction: n.requireInteraction,
      timestamp: n.timestamp,
      vibrate: Array.from(n.vibrate),
      actions: n.actions.map((a) => ({ action: a.action, title: a.title, icon: a.icon })),
      data: n.data,
    }));
  });

  const clicks = await worker.evaluate(async (clickPlan) => {
    const byTag = new Map((await self.registration.getNotifications()).map((n) => [n.tag, n]));
    const results = [];
    for (const { tag, action } of clickPlan) {
      const event = new NotificationEvent('notificationclick', { notification: byTag.get(tag), action });
      const pending = [];
      event.waitUntil = (promise) => pending.push(promise);
      self.dispatchEvent(event);
      await Promise.all(pending);
      results.push({ tag, action, calls: self.__calls.splice(0) });
    }
    return results;
  }, plan.clicks);
  const remaining = await page.evaluate(async () =>
    (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => n.tag),
  );

  const synthetic = await worker.evaluate(async ([pushes, settleMs]) => {
    const results = {};
    self.__shown.splice(0);
    for (const { name, data, native } of pushes) {
      const before = (await self.registration.getNotifications()).length;
      const event = new PushEvent('push', { data });
      if (native) {
        // What a browser with Declarative Web Push passes for a mutable message: its own notification.
        Object.defineProperty(event, 'notification', { value: { title: 'shown by the browser' } });
      }
      const pending = [];
      event.waitUntil = (promise) => pending.push(promise);
      self.dispatchEvent(event);
      await Promise.all(pending);
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      const after = (await self.registration.getNotifications()).length;
      results[name] = {
        waitUntil: pending.length,
        shown: after - before,
        calls: self.__calls.splice(0),
        attempts: self.__shown.splice(0).map(([outcome, , error]) => (error ? `${outcome}: ${error.split(':')[0]}` : outcome)),
      };
    }
    return results;
  }, [plan.synthetic, SETTLE_MS]);

  return { userAgent: await page.evaluate(() => navigator.userAgent), notifications, badgeCalls, clicks, remaining, synthetic };
}

const userDataDir = mkdtempSync(join(tmpdir(), 'unipush-chromium-'));
let context;
let exitCode = 0;
try {
  context = await within(
    chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.UNIPUSH_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [
        '--headless',
        '--no-sandbox', // CI runs as root, where Chromium's sandbox cannot start.
        '--disable-gpu',
        // Keep Chromium from calling Google: the test is offline.
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    }),
    20_000,
    'launching Chromium',
  );
  const result = await within(run(context), DEADLINE_MS, 'the service worker checks');
  process.stdout.write(JSON.stringify(result) + '\n');
} catch (error) {
  const state = await within(diagnostics(), 5_000, 'reading the worker state').catch((e) => String(e));
  process.stdout.write(JSON.stringify({ error: String(error && error.stack ? error.stack : error), state }) + '\n');
  exitCode = 1;
} finally {
  if (context) await within(context.close(), 10_000, 'closing Chromium').catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(exitCode);
