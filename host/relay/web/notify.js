// tether web client: what the service worker (sw.js) does with a pushed call, as functions the
// page can load too, so that the browser tests can drive them (a notification's buttons cannot
// be clicked in a headless browser). docs/protocol.md 5.10: the relay's message is checked
// field by field, the worker's text opened with the session key kept in IndexedDB, and an
// answer sealed like any of this device's messages. Exposed as TetherNotify.
'use strict';
(() => {
  const root = typeof window !== 'undefined' ? window : self;
  const Seal = root.TetherSeal;
  const KINDS = new Set(['permission', 'question', 'done', 'offline']);
  // Limits on what a notification shows: a push message is at most 4 KiB anyway.
  const MAX_TITLE = 120;
  const MAX_BODY = 600;

  const str = (v, max) => (typeof v === 'string' ? v : '').replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, ' ').slice(0, max);

  // The message as the relay sends it (parsed JSON), or null: everything in it is checked
  // before use.
  function message(m) {
    if (!m || typeof m !== 'object' || m.v !== 1) return null;
    if (typeof m.session !== 'string' || !/^session_[A-Za-z0-9_-]{1,100}$/.test(m.session)) return null;
    if (typeof m.tag !== 'string' || !m.tag || m.tag.length > 128 || !KINDS.has(m.kind)) return null;
    return m;
  }

  // The worker's text, `{title?, body?}`, or null when it cannot be read here.
  async function opened(m) {
    if (!m.sealed) return null;
    try {
      const kept = await Seal.recall(m.session);
      if (!kept) return null;
      const keys = await Seal.deriveKeys(kept.key);
      const ev = { id: m.tag, type: 'notification', source: 'worker', payload: m.sealed };
      const r = await Seal.open(keys, kept.g, m.session, ev);
      if (!r.ok || !r.payload || typeof r.payload !== 'object') return null;
      return { title: str(r.payload.title, MAX_TITLE), body: str(r.payload.body, MAX_BODY) };
    } catch (_) {
      return null;
    }
  }

  const tagOf = (m) => m.session + ':' + m.tag;

  // What to show for message `m` (checked) whose text opened as `text` (or null): the
  // notification's title and options.
  function describe(m, text) {
    const title = str(m.title, MAX_TITLE) || 'a session';
    const options = {
      // The relay's own call (the terminal went silent) has no text: the relay holds no key.
      body: text ? text.body : m.kind === 'offline' ? 'The terminal of ' + title + ' went offline.' : 'tether needs you in ' + title,
      tag: tagOf(m),
      renotify: true,
      icon: '/assets/icon-192.png',
      data: { session: m.session, tag: m.tag, kind: m.kind, sealed: !!text },
      requireInteraction: m.kind === 'permission' || m.kind === 'question',
    };
    // Answering needs the key too: the answer is sealed like any of this device's messages.
    if (m.kind === 'permission' && text) {
      options.actions = [{ action: 'allow', title: 'Allow' }, { action: 'deny', title: 'Deny' }];
    }
    return { title: text && text.title ? text.title : 'tether — ' + title, options };
  }

  // A permission request answered from its notification: the same `control_response` the page
  // sends, sealed with this device's key as a sender of its own (first answer wins, as anywhere).
  async function answer(session, requestId, behavior) {
    const kept = await Seal.recall(session);
    if (!kept) throw new Error('no key');
    const keys = await Seal.deriveKeys(kept.key);
    const id = Seal.uuid();
    const type = 'control_response';
    const payload = await Seal.seal(keys, { session, id, type, source: 'client', g: kept.g }, Seal.newSender(), 1,
      { request_id: requestId, response: { behavior } });
    const r = await fetch(`/v1/code/sessions/${encodeURIComponent(session)}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ id, type, payload }] }),
      credentials: 'same-origin',
      cache: 'no-store',
    });
    if (!r.ok) throw new Error('HTTP ' + r.status);
  }

  root.TetherNotify = Object.freeze({ message, opened, describe, tagOf, answer });
})();
