// tether web client: end-to-end encryption of a session's events (docs/protocol.md §4.7). The
// session key K arrives in the link's fragment (#k=…&g=…), which browsers never send to a
// server. The primitives are WebCrypto's, and K is kept in IndexedDB as a non-extractable
// CryptoKey, so the page can use it after a reload but no script (ours included) can read its
// bytes back. Browsers offer WebCrypto only in a secure context (HTTPS, or this computer);
// on plain HTTP to another machine (the embedded relay on a LAN address) the page uses the
// audited noble AES-GCM and HKDF that the relay serves itself (vendor/, pinned by hash), and
// keeps K's bytes instead. Exposed as TetherSeal (on the window, or the service worker's scope) for app.js, sw.js and the
// browser tests.
'use strict';
(() => {
  // The page's window, or the service worker's global scope (sw.js imports this file too).
  const root = typeof window !== 'undefined' ? window : self;
  const LABEL = 'tether-e2e-v1';
  const NONCE_BYTES = 12;
  const TAG_BYTES = 16;
  const KEY_BYTES = 32;
  const SENDER = /^[A-Za-z0-9_-]{1,64}$/;
  const PLAIN_TYPES = new Set(['session_state', 'worker_status', 'catch_up_truncated']);
  const utf8 = new TextEncoder();

  // Every type but the relay's own three travels sealed, types added later included.
  const isSealed = (type) => !PLAIN_TYPES.has(type);

  // ------------------------------------------------------------ base64url, strict

  function encode(bytes) {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // Without padding, only the URL-safe alphabet, and canonical (the spare bits of the last
  // character zero): exactly one spelling per byte string, as the Rust side reads it.
  function decode(text) {
    if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
    let bytes;
    try {
      const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
      bytes = Uint8Array.from(s, (c) => c.charCodeAt(0));
    } catch (_) {
      return null;
    }
    return encode(bytes) === text ? bytes : null;
  }

  // ------------------------------------------------------------ the fragment

  // `#k=<43 base64url characters>` and optionally `&g=<generation>`; other parameters are
  // ignored, a repeated k or g refused. Answers null when there is no k at all, else
  // {raw, g} or {error}.
  function parseFragment(hash) {
    const text = String(hash || '').replace(/^#/, '');
    const found = {};
    for (const part of text.split('&')) {
      const at = part.indexOf('=');
      const name = at < 0 ? part : part.slice(0, at);
      if (name !== 'k' && name !== 'g') continue;
      if (name in found) return { error: `The link names its ${name === 'k' ? 'key' : 'key generation'} twice.` };
      found[name] = at < 0 ? '' : part.slice(at + 1);
    }
    if (!('k' in found)) return null;
    const raw = found.k.length === 43 ? decode(found.k) : null;
    if (!raw || raw.length !== KEY_BYTES) return { error: 'The key in the link is damaged (it must be 32 bytes of base64url).' };
    let g = 0;
    if ('g' in found) {
      if (!/^[0-9]{1,9}$/.test(found.g)) return { error: 'The key generation in the link is not a number.' };
      g = Number(found.g);
    }
    return { raw, g };
  }

  // ------------------------------------------------------------ the primitives

  // Two backends with one shape: importKey(raw) -> base key, deriveKeys(base, extractable) ->
  // {worker, client}, encrypt/decrypt(key, nonce, aad, bytes) -> bytes (decrypt throws when the
  // tag does not verify). A key says which backend it belongs to by its type.
  const webcrypto = {
    name: 'webcrypto',
    // K as an HKDF key: usable only to derive, never readable (WebCrypto refuses an
    // extractable HKDF key anyway).
    importKey: (raw) => crypto.subtle.importKey('raw', raw, 'HKDF', false, ['deriveKey']),
    async deriveKeys(hkdf, extractable = false) {
      const one = (source) => crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: utf8.encode(LABEL), info: utf8.encode(source) },
        hkdf, { name: 'AES-GCM', length: 256 }, extractable, ['encrypt', 'decrypt']);
      const [worker, client] = await Promise.all([one('worker'), one('client')]);
      return { worker, client };
    },
    async encrypt(key, nonce, aad, bytes) {
      return new Uint8Array(await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, key, bytes));
    },
    async decrypt(key, nonce, aad, bytes) {
      return new Uint8Array(await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, key, bytes));
    },
  };

  let nobleModules = null;
  // Loaded only where it is needed, from the relay itself (the page's CSP allows nothing else).
  const loadNoble = () => (nobleModules ||= Promise.all([
    import('/assets/vendor/noble-ciphers/aes.js'),
    import('/assets/vendor/noble-hashes/hkdf.js'),
    import('/assets/vendor/noble-hashes/sha2.js'),
  ]).then(([aes, hkdf, sha2]) => ({ gcm: aes.gcm, hkdf: hkdf.hkdf, sha256: sha2.sha256 })));

  const noble = {
    name: 'noble',
    // The bytes themselves, copied: there is no non-extractable key outside WebCrypto.
    importKey: async (raw) => Uint8Array.from(raw),
    async deriveKeys(raw) {
      const { hkdf, sha256 } = await loadNoble();
      const one = (source) => hkdf(sha256, raw, utf8.encode(LABEL), utf8.encode(source), 32);
      return { worker: one('worker'), client: one('client') };
    },
    async encrypt(key, nonce, aad, bytes) {
      const { gcm } = await loadNoble();
      return gcm(key, nonce, aad).encrypt(bytes);
    },
    async decrypt(key, nonce, aad, bytes) {
      const { gcm } = await loadNoble();
      return gcm(key, nonce, aad).decrypt(bytes);
    },
  };

  const secure = () => !!(root.isSecureContext && root.crypto && crypto.subtle);
  const backendOf = (key) => (key instanceof Uint8Array ? noble : webcrypto);
  // CryptoKey itself exists only in a secure context.
  const isKey = (key) => (key instanceof Uint8Array
    ? key.length === KEY_BYTES
    : typeof CryptoKey !== 'undefined' && key instanceof CryptoKey);

  // Nonces and sender ids need only getRandomValues, which every context has.
  const available = () => !!(root.crypto && crypto.getRandomValues);

  // ------------------------------------------------------------ keys

  // K, as the backend of this context keeps it.
  const importKey = (raw) => (secure() ? webcrypto : noble).importKey(raw);

  // key(source) = HKDF-SHA256(K, salt "tether-e2e-v1", info source), one per direction.
  async function deriveKeys(base, extractable = false) {
    const backend = backendOf(base);
    const keys = await backend.deriveKeys(base, extractable);
    return { ...keys, backend };
  }

  // ------------------------------------------------------------ sealing and opening

  // One line per field; a field with a newline could make two events' lines alike, so there is
  // no associated data for it (and nothing opens).
  function associatedData(session, eventId, type, source, g) {
    const fields = [LABEL, session, eventId, type, source, String(g)];
    if (fields.some((f) => typeof f !== 'string' || f.includes('\n'))) return null;
    return fields.join('\n');
  }

  const plaintext = (from, n, payload) => utf8.encode(JSON.stringify({ from, n, payload }));

  // `ctx` is {session, id, type, source, g}: where the event will be stored.
  async function sealWithNonce(keys, ctx, from, n, payload, nonce) {
    const aad = associatedData(ctx.session, ctx.id, ctx.type, ctx.source, ctx.g);
    const key = keys[ctx.source];
    if (aad === null || !key) throw new Error('cannot seal this event');
    const ct = await keys.backend.encrypt(key, nonce, utf8.encode(aad), plaintext(from, n, payload));
    return { v: 1, g: ctx.g, nonce: encode(nonce), ct: encode(ct) };
  }

  // A fresh random nonce per event: the envelope is made once and resent as is.
  function seal(keys, ctx, from, n, payload) {
    return sealWithNonce(keys, ctx, from, n, payload, crypto.getRandomValues(new Uint8Array(NONCE_BYTES)));
  }

  const isObject = (v) => !!v && typeof v === 'object' && !Array.isArray(v);

  // Opens `ev` (as stored and streamed) with the keys of generation `g`. Answers {ok: true,
  // from, n, payload} or {ok: false, why}: `unsealed` (not an envelope), `newer` / `older`
  // (another generation, named in `g`), `forged` (does not open), `malformed` (opens, but not
  // the documented plaintext). Only what answers ok may be shown, run or taken as an answer.
  async function open(keys, g, session, ev) {
    const env = ev && ev.payload;
    if (!isObject(env) || env.v !== 1 || !Number.isSafeInteger(env.g) || env.g < 0) return { ok: false, why: 'unsealed' };
    const nonce = decode(env.nonce);
    const ct = decode(env.ct);
    if (!nonce || nonce.length !== NONCE_BYTES || !ct || ct.length < TAG_BYTES) return { ok: false, why: 'unsealed' };
    if (env.g > g) return { ok: false, why: 'newer', g: env.g };
    if (env.g < g) return { ok: false, why: 'older', g: env.g };
    // The relay's own events are never sealed: one that claims to be is made up.
    const key = ev.source === 'worker' || ev.source === 'client' ? keys[ev.source] : null;
    const aad = associatedData(session, ev.id, ev.type, ev.source, g);
    if (!key || aad === null) return { ok: false, why: 'forged' };
    let plain;
    try {
      plain = await keys.backend.decrypt(key, nonce, utf8.encode(aad), ct);
    } catch (_) {
      return { ok: false, why: 'forged' };
    }
    let value;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
    } catch (_) {
      return { ok: false, why: 'malformed' };
    }
    if (!isObject(value) || typeof value.from !== 'string' || !SENDER.test(value.from)
      || !Number.isSafeInteger(value.n) || value.n < 1 || !isObject(value.payload)) {
      return { ok: false, why: 'malformed' };
    }
    return { ok: true, from: value.from, n: value.n, payload: value.payload };
  }

  // A sender id for one page load: 'p_' and 16 random hex digits.
  // A random (version 4) UUID, an event's id. crypto.randomUUID needs a secure context, and the
  // embedded relay is often plain HTTP on a LAN.
  function uuid() {
    if (root.isSecureContext && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  function newSender() {
    return 'p_' + Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // ------------------------------------------------------------ the ledger

  // The counters a receiver has seen, per sender: a replay is a repeat, a dropped event a gap,
  // a held-back one late. The same rules and bounds as tether-seal's Ledger (ledger.rs), so
  // the page and the terminal judge a stream alike. Pure: the tests drive it directly.
  const MAX_SENDERS = 4096;
  const MAX_MISSING = 1024;

  class Ledger {
    constructor() {
      this.senders = new Map(); // sender -> {highest, missing: [[from, to]…] ascending, trimmed}
      this.afterTrim = false;
    }

    // The stream announced trimmed history (catch_up_truncated): the next event of every
    // sender may skip what was trimmed, and a sender first seen from now on may start past 1.
    truncated() {
      this.afterTrim = true;
      for (const s of this.senders.values()) s.trimmed = true;
    }

    // Records event `n` of `sender`: {order: 'fresh' | 'repeat' | 'gap' | 'late', missing}
    // (`missing`: how many a gap skipped).
    observe(sender, n) {
      let s = this.senders.get(sender);
      if (!s) {
        // A Map iterates in insertion order: the first key is the oldest sender.
        if (this.senders.size >= MAX_SENDERS) this.senders.delete(this.senders.keys().next().value);
        s = { highest: 0, missing: [], trimmed: this.afterTrim };
        this.senders.set(sender, s);
      }
      if (n > s.highest) {
        const skipped = n - s.highest - 1;
        let verdict = { order: 'fresh', missing: 0 };
        if (skipped > 0 && !s.trimmed) {
          if (s.missing.length >= MAX_MISSING) s.missing.shift();
          s.missing.push([s.highest + 1, n - 1]);
          verdict = { order: 'gap', missing: skipped };
        }
        s.highest = n;
        s.trimmed = false;
        return verdict;
      }
      const at = s.missing.findIndex(([from, to]) => from <= n && n <= to);
      if (at < 0) return { order: 'repeat', missing: 0 };
      const [from, to] = s.missing[at];
      const rest = [];
      if (from < n) rest.push([from, n - 1]);
      if (n < to) rest.push([n + 1, to]);
      s.missing.splice(at, 1, ...rest);
      return { order: 'late', missing: 0 };
    }
  }

  // ------------------------------------------------------------ where keys are kept

  // One database, one object store: session id -> {g, key} with `key` the HKDF CryptoKey
  // (structured-cloned as is, so it stays non-extractable), or K's bytes where there is no
  // WebCrypto.
  const DB = 'tether';
  const STORE = 'keys';

  function db() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('the key store is blocked by another tab'));
    });
  }

  async function transact(mode, work) {
    const d = await db();
    try {
      return await new Promise((resolve, reject) => {
        const tx = d.transaction(STORE, mode);
        const result = work(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(result.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error || new Error('aborted'));
      });
    } finally {
      d.close();
    }
  }

  const isEntry = (v) => isObject(v) && Number.isSafeInteger(v.g) && isKey(v.key);

  // The key kept for `session`: {g, key, print} or null (`print` as `fingerprint` made it).
  async function recall(session) {
    const v = await transact('readonly', (s) => s.get(session));
    return isEntry(v) ? { g: v.g, key: v.key, print: typeof v.print === 'string' ? v.print : '' } : null;
  }

  // Which key a link carries, so that a kept key is never replaced unnoticed (the key itself
  // cannot be read back to compare): SHA-256 of the label and K, hex. It tells nothing of K.
  async function fingerprint(raw) {
    const data = new Uint8Array([...utf8.encode(LABEL + ' fingerprint\n'), ...raw]);
    const digest = secure()
      ? new Uint8Array(await crypto.subtle.digest('SHA-256', data))
      : (await loadNoble()).sha256(data);
    return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // Keeps `key` (fingerprint `print`) of generation `g` for `session` unless a newer
  // generation is kept already; answers what is kept now. Whether an older key of this session
  // may be replaced at all is the caller's question to the person.
  async function remember(session, g, key, print = '') {
    const d = await db();
    try {
      return await new Promise((resolve, reject) => {
        const tx = d.transaction(STORE, 'readwrite');
        const s = tx.objectStore(STORE);
        let kept = { g, key, print };
        const get = s.get(session);
        get.onsuccess = () => {
          const was = get.result;
          if (isEntry(was) && was.g > g) kept = { g: was.g, key: was.key, print: typeof was.print === 'string' ? was.print : '' };
          else s.put({ g, key, print }, session);
        };
        tx.oncomplete = () => resolve(kept);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error || new Error('aborted'));
      });
    } finally {
      d.close();
    }
  }

  root.TetherSeal = Object.freeze({
    LABEL, isSealed, available, parseFragment, importKey, deriveKeys, associatedData, seal, open,
    newSender, uuid, Ledger, recall, remember, fingerprint,
    b64url: Object.freeze({ encode, decode }),
    // For the known-answer test only: app.js never passes a nonce or exports a key.
    testing: Object.freeze({
      plaintext,
      sealWithNonce,
      deriveExtractable: (hkdf) => deriveKeys(hkdf, true),
      // The backend plain HTTP uses, for the known-answer test in a secure page.
      nobleKey: (raw) => noble.importKey(raw),
      secure,
    }),
  });
})();
