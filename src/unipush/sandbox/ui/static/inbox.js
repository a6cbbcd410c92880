// The unipush sandbox inbox page: each push drawn the way its platform shows it, live.
// Entries arrive as server-sent events from /api/events (every entry so far, then each new one).
// Everything from a payload is set as text or as an http(s) image URL, never parsed as HTML.
'use strict';

const entries = new Map(); // id -> entry
const feed = document.getElementById('feed');
const providerFilter = document.getElementById('provider');
const deviceFilter = document.getElementById('device');
const statusLine = document.getElementById('status');

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'f') el.dataset.f = value;
    else if (key === 'cls') el.className = value;
    else if (key === 'bg') el.style.backgroundColor = value; // CSSOM, which the page's CSP allows
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false || child === '') continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const obj = (value) => (value && typeof value === 'object' && !Array.isArray(value) ? value : {});
const str = (value) => (typeof value === 'string' && value ? value : null);
const json = (value) => JSON.stringify(value, null, 2);

function img(url, cls, f) {
  const safe = str(url) && /^(https?:|data:image\/)/i.test(url) ? url : null;
  if (!safe) return null;
  const el = h('img', { cls, f, src: safe, alt: '', referrerpolicy: 'no-referrer' });
  el.addEventListener('error', () => el.classList.add('broken'));
  return el;
}

function host(url) {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// -- iOS (APNs) -------------------------------------------------------------------------------

function ios(entry) {
  const payload = obj(entry.payload);
  const aps = obj(payload.aps);
  const alert = typeof aps.alert === 'string' ? { body: aps.alert } : obj(aps.alert);
  const ours = obj(payload.unipush);
  const topic = entry.request.headers['apns-topic'] || 'app';
  const app = topic.split('.').pop();
  const title = str(alert.title) || (alert['title-loc-key'] ? `[${alert['title-loc-key']}]` : null);
  const body = str(alert.body) || (alert['loc-key'] ? `[${alert['loc-key']}]` : null);
  if (!title && !body && !str(alert.subtitle)) {
    return h('div', { cls: 'silent' }, 'Background push: iOS shows nothing, the app is woken with the payload.');
  }
  // The image is fetched by the app's notification service extension (mutable-content: 1).
  const image = str(ours.image);
  const actions = Object.keys(obj(ours.actions));
  const badge = Number.isInteger(aps.badge) ? aps.badge : null;
  const card = h(
    'div',
    { cls: 'ios', tabindex: 0, title: 'Long-press (or click) to expand, as on iOS' },
    h(
      'div',
      { cls: 'ios-banner' },
      h('div', { cls: 'app-icon', title: topic }, badge !== null && badge > 0 ? h('span', { cls: 'badge', f: 'badge' }, badge) : null),
      h(
        'div',
        { cls: 'ios-text' },
        h('div', { cls: 'ios-top' }, h('span', { cls: 'app', f: 'app' }, app), h('span', { cls: 'when' }, 'now')),
        h('div', { cls: 'title', f: 'title' }, title),
        str(alert.subtitle) ? h('div', { cls: 'subtitle', f: 'subtitle' }, alert.subtitle) : null,
        h('div', { cls: 'body', f: 'body' }, body),
      ),
      img(image, 'thumb', 'image'),
    ),
    h(
      'div',
      { cls: 'ios-expanded' },
      img(image, 'big', null),
      actions.length
        ? h(
            'ul',
            { cls: 'ios-actions', title: `category ${aps.category || '(none)'}: the app registers the action titles` },
            actions.map((id) => h('li', { f: 'action' }, id)),
          )
        : null,
    ),
  );
  let timer = null;
  const toggle = () => card.classList.toggle('expanded');
  card.addEventListener('pointerdown', () => {
    timer = setTimeout(() => {
      timer = null;
      toggle();
    }, 450);
  });
  card.addEventListener('pointerup', () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
      toggle();
    }
  });
  card.addEventListener('keydown', (event) => event.key === 'Enter' && toggle());
  return card;
}

// -- Android (FCM) ----------------------------------------------------------------------------

function android(entry) {
  const message = obj(entry.payload);
  const common = obj(message.notification);
  const config = obj(message.android);
  const an = obj(config.notification);
  const data = obj(message.data);
  const title = str(an.title) || str(common.title);
  const body = str(an.body) || str(common.body);
  if (!title && !body) {
    return h('div', { cls: 'silent' }, 'Data message: Android shows nothing, the app receives the data.');
  }
  const actions = Array.isArray(parseJson(data['unipush.actions'])) ? parseJson(data['unipush.actions']) : [];
  const project = (entry.request.path.match(/projects\/([^/]+)/) || [])[1];
  const app = str(config.restricted_package_name) || project || 'app';
  const color = /^#[0-9a-f]{6}$/i.test(an.color || '') ? an.color : null;
  const count = Number.isInteger(an.notification_count) ? an.notification_count : null;
  const link = str(an.click_action) || str(data['unipush.deep_link']);
  return h(
    'div',
    { cls: 'android' },
    h(
      'div',
      { cls: 'a-head' },
      h('span', { cls: 'small-icon', f: 'icon', title: an.icon || 'default icon', bg: color }),
      h('span', { cls: 'app', f: 'app' }, app),
      h('span', { f: 'channel', title: 'notification channel' }, an.channel_id || 'Miscellaneous'),
      h('span', { cls: 'when' }, 'now'),
      count !== null && count > 0 ? h('span', { cls: 'badge', f: 'badge', title: 'notification_count' }, count) : null,
    ),
    h('div', { cls: 'title', f: 'title' }, title),
    h('div', { cls: 'body', f: 'body' }, body),
    img(str(an.image) || str(common.image), 'big', 'image'),
    actions.length
      ? h(
          'div',
          { cls: 'a-actions' },
          actions.map((action) => h('button', { type: 'button', f: 'action', title: action.deep_link || '' }, action.title || action.id)),
        )
      : null,
    link ? h('div', { cls: 'click' }, 'tap opens ', h('span', { f: 'click' }, link)) : null,
  );
}

// -- browser (Web Push) -----------------------------------------------------------------------

function browser(entry) {
  const payload = obj(entry.payload);
  const n = payload.notification && typeof payload.notification === 'object' ? obj(payload.notification) : payload;
  const title = str(n.title);
  if (!title) {
    return h('div', { cls: 'silent' }, 'No notification in the payload: the service worker decides what to show.');
  }
  const data = obj(n.data);
  const link = str(n.navigate) || str(obj(data.unipush).navigate) || str(data.url);
  const site = host(link) || 'this site';
  const badge = Number.isInteger(payload.app_badge) ? payload.app_badge : Number.isInteger(n.app_badge) ? n.app_badge : null;
  const actions = Array.isArray(n.actions) ? n.actions : [];
  return h(
    'div',
    { cls: 'web' },
    h(
      'div',
      { cls: 'w-head' },
      img(n.badge, 'w-badge', 'badge-icon'),
      h('span', { cls: 'app', f: 'app' }, site),
      h('span', { cls: 'when' }, 'now'),
      badge !== null && badge > 0 ? h('span', { cls: 'badge', f: 'badge', title: 'app badge' }, badge) : null,
    ),
    h(
      'div',
      { cls: 'w-main' },
      h('div', { cls: 'w-text' }, h('div', { cls: 'title', f: 'title' }, title), h('div', { cls: 'body', f: 'body' }, str(n.body))),
      img(n.icon, 'w-icon', 'icon'),
    ),
    img(n.image, 'big', 'image'),
    actions.length
      ? h(
          'div',
          { cls: 'w-actions' },
          actions.map((a) => h('button', { type: 'button', f: 'action', title: a.navigate || '' }, obj(a).title || a.action)),
        )
      : null,
    link ? h('div', { cls: 'click' }, 'click opens ', h('span', { f: 'click' }, link)) : null,
  );
}

// -- one entry --------------------------------------------------------------------------------

// APNs and FCM say why in the body (reason, errorCode); a push service often only in the status.
function reasonText(entry) {
  const reason = entry.result.reason;
  const body = obj(parseJson(entry.response.body));
  return str(body.reason) || reason || '';
}

function refused(entry) {
  const result = entry.result;
  return h(
    'div',
    { cls: 'refused-card' },
    h('div', { cls: 'r-status', f: 'status' }, `${entry.response.status} ${reasonText(entry)}`.trim()),
    h('div', { f: 'verdict' }, result.token_invalid ? 'Dead token: delete it (the client calls on_invalid_token).' : result.retryable ? 'Refused for now: the client retries.' : 'Refused.'),
    h('pre', { cls: 'error-body', f: 'error-body' }, entry.response.body || '(empty body)'),
  );
}

// The SendResult fields that say something (null and false left out; ok always kept).
function resultShown(result) {
  return Object.fromEntries(Object.entries(result).filter(([key, value]) => key === 'ok' || (value !== null && value !== false)));
}

function requestText(entry) {
  const r = entry.request;
  const lines = [`${r.method} ${r.path} HTTP/${r.http_version}`];
  for (const [name, value] of Object.entries(r.headers)) lines.push(`${name}: ${value}`);
  lines.push('', r.encrypted ? `(${r.body_bytes} bytes, aes128gcm; decrypted below)` : `(${r.body_bytes} bytes)`);
  return lines.join('\n');
}

function card(entry) {
  const draw = { apns: ios, fcm: android, webpush: browser }[entry.provider];
  const device = entry.delivered && draw ? draw(entry) : refused(entry);
  const when = new Date(entry.received_at);
  const meta = h(
    'div',
    { cls: 'meta' },
    h('span', { cls: `chip p-${entry.provider}` }, { apns: 'APNs · iOS', fcm: 'FCM · Android', webpush: 'Web Push · browser' }[entry.provider] || entry.provider),
    h('span', { cls: 'device', title: entry.target }, entry.device),
    h('time', { datetime: entry.received_at }, when.toLocaleTimeString()),
    h('span', { cls: entry.result.ok ? 'chip ok' : 'chip bad', f: 'result-status' }, entry.response.status),
    entry.collapse_key ? h('span', { cls: 'chip', title: 'collapse key' }, `⟳ ${entry.collapse_key}`) : null,
    entry.replaces.length ? h('span', { cls: 'chip', f: 'replaces' }, `replaced ${entry.replaces.length} earlier`) : null,
    entry.expires_at ? h('span', { cls: 'chip expired-chip', title: `expires ${entry.expires_at}` }, 'expired') : null,
  );
  const sealed = entry.provider === 'webpush' && !entry.delivered;
  const payloadLabel = entry.provider === 'webpush' && entry.delivered ? 'Payload (decrypted)' : 'Payload';
  const payloadText = entry.payload !== null ? json(entry.payload) : sealed ? '(encrypted for the browser: not readable here)' : '(not JSON)';
  const details = h(
    'div',
    { cls: 'details' },
    meta,
    h('details', { open: !entry.delivered }, h('summary', {}, 'Request as received'), h('pre', { f: 'request' }, requestText(entry))),
    h('details', { open: entry.delivered }, h('summary', {}, payloadLabel), h('pre', { f: 'payload' }, payloadText)),
    h('details', { open: true }, h('summary', {}, 'SendResult the client got'), h('pre', { f: 'result' }, json(resultShown(entry.result)))),
  );
  const el = h('article', { cls: `entry provider-${entry.provider}${entry.delivered ? '' : ' refused'}` }, h('div', { cls: 'device-view' }, device), details);
  el.dataset.id = entry.id;
  el.dataset.provider = entry.provider;
  el.dataset.target = entry.target;
  if (entry.collapse_key) el.dataset.collapse = entry.collapse_key;
  if (entry.expires_at) el.dataset.expires = String(Date.parse(entry.expires_at));
  markExpired(el, entry.expired);
  return el;
}

function markExpired(el, expired) {
  el.classList.toggle('expired', Boolean(expired));
  el.dataset.expired = expired ? '1' : '0';
}

function add(entry) {
  if (entries.has(entry.id)) return;
  entries.set(entry.id, entry);
  for (const old of entry.replaces || []) {
    // As the device does: the newer notification with the same collapse key takes the older one's place.
    const shown = feed.querySelector(`article[data-id="${old}"]`);
    if (shown) shown.remove();
    if (entries.has(old)) entries.get(old).replaced_by = entry.id;
  }
  if (entry.replaced_by) return;
  const el = card(entry);
  const newer = [...feed.children].find((child) => Number(child.dataset.id) < entry.id);
  feed.insertBefore(el, newer || null);
  if (![...deviceFilter.options].some((o) => o.value === entry.target)) {
    deviceFilter.append(h('option', { value: entry.target }, `${entry.provider} ${entry.device}`));
  }
  filter();
}

function filter() {
  const provider = providerFilter.value;
  const device = deviceFilter.value;
  let visible = 0;
  for (const el of feed.children) {
    const show = (!provider || el.dataset.provider === provider) && (!device || el.dataset.target === device);
    el.hidden = !show;
    visible += show ? 1 : 0;
  }
  document.getElementById('empty').hidden = visible > 0;
}

function tick() {
  const now = Date.now();
  for (const el of feed.querySelectorAll('article[data-expires]')) {
    markExpired(el, Number(el.dataset.expires) <= now);
  }
}

providerFilter.addEventListener('change', filter);
deviceFilter.addEventListener('change', filter);
document.getElementById('clear').addEventListener('click', async () => {
  await fetch('/api/clear', { method: 'POST' });
  feed.replaceChildren();
  filter();
});

const events = new EventSource('/api/events');
events.addEventListener('open', () => {
  statusLine.textContent = 'live: new pushes appear as they arrive';
  document.body.dataset.live = '1';
});
events.addEventListener('error', () => {
  statusLine.textContent = 'sandbox not reachable: reconnecting…';
  document.body.dataset.live = '0';
});
events.addEventListener('message', (event) => add(JSON.parse(event.data)));
setInterval(tick, 1000);
filter();
