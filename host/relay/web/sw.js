// tether's service worker: shows the calls the relay pushes (docs/protocol.md 5.10) and answers
// a permission request from its notification. The relay forwards the worker's text sealed with
// the session key; it is opened here with the key this browser keeps (IndexedDB, the same one
// the page uses), so the text never exists in the clear outside the terminal and the device. A
// device without the key, or a text that does not open, shows only "tether needs you in
// <title>". Only a secure context has service workers, so WebCrypto is always there.
'use strict';
importScripts('/assets/seal.js', '/assets/notify.js');

const { message, opened, describe, tagOf, answer } = self.TetherNotify;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

async function show(data) {
  let parsed = null;
  try { parsed = data ? data.json() : null; } catch (_) { parsed = null; }
  const m = message(parsed);
  if (!m) {
    // Every push must show something (userVisibleOnly): say it could not be read.
    await self.registration.showNotification('tether', { body: 'A notification could not be read.', tag: 'tether:unreadable' });
    return;
  }
  if (m.close) {
    for (const n of await self.registration.getNotifications({ tag: tagOf(m) })) n.close();
    return;
  }
  const { title, options } = describe(m, await opened(m));
  await self.registration.showNotification(title, options);
}

self.addEventListener('push', (event) => event.waitUntil(show(event.data)));

async function focus(session) {
  const url = new URL('/code/' + encodeURIComponent(session), self.location.origin).href;
  const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const c of open) {
    if (c.url.split('#')[0] === url && 'focus' in c) return c.focus();
  }
  return self.clients.openWindow(url);
}

self.addEventListener('notificationclick', (event) => {
  const d = event.notification.data || {};
  event.notification.close();
  if (typeof d.session !== 'string') return;
  if ((event.action === 'allow' || event.action === 'deny') && d.kind === 'permission') {
    // If the answer cannot be sent, open the session instead, where it can be given.
    event.waitUntil(answer(d.session, d.tag, event.action).catch(() => focus(d.session)));
    return;
  }
  event.waitUntil(focus(d.session));
});
