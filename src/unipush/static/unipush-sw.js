/*
 * unipush-sw.js: a service worker that shows unipush Web Push messages in browsers without native
 * Declarative Web Push, and opens the message's URL when the notification or one of its buttons is
 * clicked. No dependencies; serve it from your site (see docs/service-worker.md) and register it:
 *
 *     navigator.serviceWorker.register('/unipush-sw.js')
 *
 * or import it into your own worker with importScripts('/unipush-sw.js').
 *
 * What it reads (unipush's Web Push encoder, src/unipush/webpush/_encode.py):
 *   - a declarative push message (Push API Editor's Draft, "declarative push message"):
 *       {"web_push": 8030, "notification": {"title", "navigate", "body", "icon", "image", "badge",
 *        "tag", "lang", "dir", "vibrate", "timestamp", "renotify", "silent", "requireInteraction",
 *        "data", "actions": [{"action", "title", "navigate", "icon"}], "mutable"},
 *        "app_badge", "mutable"}
 *   - unipush's "json" payload format: the same object without "web_push".
 * Anything else (no payload, text, other JSON, a message without a title) is left alone for the
 * site's own push listeners; this worker neither shows nor swallows it.
 *
 * Native declarative support: a browser that implements Declarative Web Push (Safari 18.4+) shows a
 * declarative message itself and does not run the push listener at all, unless the message is
 * "mutable"; then the push event carries the notification the browser built ("PushEvent.notification"
 * in the Push API Editor's Draft) and shows it unless the worker replaces it. So a push event with a
 * non-null event.notification is left to the browser: showing one here would show it twice.
 *
 * Clicks: the URLs live in notification.data.unipush = {navigate, actions: {actionId: url}} (the
 * "unipush" data key is reserved by unipush, so it never clashes with the message's own data, which
 * is kept as is beside it). The "navigate" option is deliberately not passed to showNotification:
 * where a browser supports it, it would navigate on its own and this worker would open a second tab.
 *
 * Own listeners: to handle some pushes yourself, either register your listener before importing this
 * file and call event.stopImmediatePropagation() for the pushes you handle, or set
 *     self.unipushOptions = { listen: false };
 * before importScripts and call self.unipush.handlePush(event) / self.unipush.handleClick(event)
 * from your listeners: each returns true when the event was a unipush one it took care of.
 */
(function (scope) {
  'use strict';

  // RFC 8030's number: the Push API's marker of a declarative push message.
  var DECLARATIVE_MARKER = 8030;
  var STRING_OPTIONS = ['body', 'icon', 'image', 'badge', 'tag', 'lang', 'dir'];
  var BOOLEAN_OPTIONS = ['renotify', 'silent', 'requireInteraction'];

  function isObject(value) {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  /**
   * The unipush message in a PushMessageData, or null when the push is not one.
   * A message needs a "notification" object with a string "title"; a declarative message must also
   * carry "web_push": 8030, and an object with another "web_push" value is someone else's.
   */
  function parse(data) {
    if (!data) {
      return null;
    }
    var message;
    try {
      message = data.json();
    } catch (error) {
      return null; // Not JSON: a raw payload for the site's own listener.
    }
    if (!isObject(message) || !isObject(message.notification)) {
      return null;
    }
    if ('web_push' in message && message.web_push !== DECLARATIVE_MARKER) {
      return null;
    }
    var title = message.notification.title;
    if (typeof title !== 'string' || title === '') {
      return null; // A data-only "json" message: the site's own listener decides what to show.
    }
    return message;
  }

  function absoluteUrl(url) {
    if (typeof url !== 'string' || url === '') {
      return null;
    }
    try {
      // The Push API resolves "navigate" against the registration's scope URL.
      return new URL(url, scope.registration.scope).href;
    } catch (error) {
      return null;
    }
  }

  /** The title and the NotificationOptions for a parsed message. */
  function notificationOptions(message) {
    var source = message.notification;
    var options = {};
    STRING_OPTIONS.forEach(function (name) {
      if (typeof source[name] === 'string') {
        options[name] = source[name];
      }
    });
    BOOLEAN_OPTIONS.forEach(function (name) {
      if (typeof source[name] === 'boolean') {
        options[name] = source[name];
      }
    });
    if (Array.isArray(source.vibrate)) {
      options.vibrate = source.vibrate;
    }
    if (typeof source.timestamp === 'number') {
      options.timestamp = source.timestamp;
    }
    var links = { navigate: absoluteUrl(source.navigate), actions: {} };
    if (Array.isArray(source.actions)) {
      options.actions = [];
      source.actions.forEach(function (action) {
        if (!isObject(action) || typeof action.action !== 'string' || typeof action.title !== 'string') {
          return; // NotificationAction requires both: a malformed button is dropped, not fatal.
        }
        var button = { action: action.action, title: action.title };
        if (typeof action.icon === 'string') {
          button.icon = action.icon;
        }
        options.actions.push(button);
        links.actions[action.action] = absoluteUrl(action.navigate) || links.navigate;
      });
    }
    var data = {};
    if (isObject(source.data)) {
      Object.keys(source.data).forEach(function (key) {
        data[key] = source.data[key];
      });
    }
    data.unipush = links;
    options.data = data;
    return { title: source.title, options: options };
  }

  function setAppBadge(count) {
    // Badging API: 0 clears the badge. Decorative: never let it fail the push.
    if (typeof count !== 'number' || !scope.navigator || typeof scope.navigator.setAppBadge !== 'function') {
      return Promise.resolve();
    }
    try {
      return Promise.resolve(scope.navigator.setAppBadge(count)).catch(function () {});
    } catch (error) {
      return Promise.resolve();
    }
  }

  function show(message) {
    var rendered = notificationOptions(message);
    var registration = scope.registration;
    var shown = registration.showNotification(rendered.title, rendered.options).catch(function (error) {
      // "create a notification" throws a TypeError for renotify without a tag or silent with
      // vibrate (hand-written payloads; unipush refuses both): show the text rather than nothing.
      if (!(error instanceof TypeError)) {
        throw error;
      }
      var options = rendered.options;
      var fallback = { body: options.body, icon: options.icon, tag: options.tag, data: options.data };
      return registration.showNotification(rendered.title, fallback);
    });
    return Promise.all([shown, setAppBadge(message.app_badge)]);
  }

  /** Show the push if it is a unipush message the browser did not show itself; true when it was. */
  function handlePush(event) {
    if (event.notification) {
      return false; // Native Declarative Web Push: the browser already has this notification.
    }
    var message = parse(event.data);
    if (message === null) {
      return false;
    }
    event.waitUntil(show(message));
    return true;
  }

  function openOrFocus(url) {
    return scope.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (windows[i].url === url && typeof windows[i].focus === 'function') {
          return windows[i].focus();
        }
      }
      return scope.clients.openWindow(url);
    });
  }

  /** Open the URL of a unipush notification (or of the clicked button); true when it was one. */
  function handleClick(event) {
    var data = event.notification.data;
    var links = isObject(data) && isObject(data.unipush) ? data.unipush : null;
    if (links === null) {
      return false; // Not shown by this worker: the site's own listener handles it.
    }
    event.notification.close();
    var url = links.navigate;
    if (event.action && isObject(links.actions) && links.actions[event.action]) {
      url = links.actions[event.action];
    }
    if (url) {
      event.waitUntil(openOrFocus(url));
    }
    return true;
  }

  scope.unipush = {
    parse: parse,
    notificationOptions: notificationOptions,
    handlePush: handlePush,
    handleClick: handleClick,
  };

  var settings = scope.unipushOptions;
  if (!(isObject(settings) && settings.listen === false)) {
    scope.addEventListener('push', handlePush);
    scope.addEventListener('notificationclick', handleClick);
    // No notificationclose listener: closing a notification needs nothing from unipush.
  }
})(self);
