// tether web client: the live conversation of one session (/code/<session-id>).
// Vanilla ES2020, no build step. Untrusted text (the model's, the user's, command output) only
// ever reaches the page through createTextNode/textContent and vetted attributes: nothing here
// parses HTML. The conversation is end-to-end encrypted (seal.js, loaded first): every event
// of a sealed type is opened before anything of it is drawn, and what this page sends is
// sealed.
'use strict';
(() => {
  const route = /^\/code\/([^/]+)\/?$/.exec(location.pathname);
  if (!route) return;
  const sessionId = decodeURIComponent(route[1]);
  const base = '/v1/code/sessions/' + encodeURIComponent(sessionId);
  // The session key travels in the fragment (seal.js); it leaves the address bar before
  // anything else happens, so it is not in the history, a bookmark or a shared screenshot.
  const Seal = window.TetherSeal;
  const fragment = Seal ? Seal.parseFragment(location.hash) : null;
  if (fragment || /[#&]k=/.test(location.hash)) history.replaceState(history.state, '', location.pathname + location.search);
  // A key opened in this very page (the link followed where the session is already open) is a
  // navigation within the document: load the page again to take it.
  window.addEventListener('hashchange', () => { if (Seal && Seal.parseFragment(location.hash)) location.reload(); });
  const $ = (id) => document.getElementById(id);
  const ui = {
    scroller: $('scroller'), messages: $('messages'), composer: $('composer'), input: $('input'),
    send: $('send'), stop: $('stop'), state: $('state'), worker: $('worker'), title: $('title'),
    subtitle: $('subtitle'), connection: $('connection'), completions: $('completions'),
    approvals: $('approvals'), jump: $('jump'), banner: $('banner'), notify: $('notify'),
    notifyPanel: $('notify-panel'), notifyKinds: $('notify-kinds'), notifyOff: $('notify-off'), notifyClose: $('notify-close'),
  };
  const stats = { firstMessageAt: null, paintDelays: [] };
  window.tetherStats = stats;

  // ---------------------------------------------------------------- small helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v == null || v === false) continue;
        if (k === 'class') el.className = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) if (c != null && c !== false) el.append(c);
    return el;
  }

  const uuid = () => Seal.uuid();

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const str = (v) => (typeof v === 'string' ? v : '');
  const backoff = (n) => Math.min(15000, 400 * 2 ** Math.min(n, 6)) * (0.5 + Math.random() / 2);
  const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

  function store(key, value) {
    try {
      if (value == null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, JSON.stringify(value));
    } catch (_) { /* private mode or full: not essential */ }
  }
  function load(key) {
    try { return JSON.parse(sessionStorage.getItem(key) || 'null'); } catch (_) { return null; }
  }

  // ---------------------------------------------------------------- markdown -> DOM

  const md = (() => {
    const FENCE = /^( {0,3})(`{3,}|~{3,})(.*)$/;
    const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
    const HR = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
    const QUOTE = /^ {0,3}>[ ]?(.*)$/;
    const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])(?:([ \t]+)(.*))?$/;
    const TABLE_SEP = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
    const BLANK = /^[ \t]*$/;
    const INLINE = new RegExp([
      /\\(?<esc>[!-/:-@[-`{-~])/,
      /(?<tick>`+)(?<code>[^`]|[^`][\s\S]{0,3000}?[^`])\k<tick>(?!`)/,
      /<(?<auto>(?:https?:\/\/|mailto:)[^\s<>]+)>/,
      /(?<img>!?)\[(?<ltext>(?:[^[\]\\]|\\[\s\S]|\[[^[\]]*\])*)\]\([ \t]*<?(?<lurl>[^\s<>()]*(?:\([^\s<>()]*\)[^\s<>()]*)*)>?(?:[ \t]+(?:"[^"]*"|'[^']*'))?[ \t]*\)/,
      /(?<url>https?:\/\/[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}*_~])/,
      /\*\*(?=\S)(?<b1>[\s\S]{0,3000}?\S)\*\*/,
      /__(?=\S)(?<b2>[\s\S]{0,3000}?\S)__(?![A-Za-z0-9])/,
      /~~(?=\S)(?<del>[\s\S]{0,3000}?\S)~~/,
      /\*(?=[^\s*])(?<i1>[\s\S]{0,3000}?[^\s*\\])\*(?!\*)/,
      /_(?=[^\s_])(?<i2>[\s\S]{0,3000}?[^\s_\\])_(?![A-Za-z0-9])/,
    ].map((r) => r.source).join('|'), 'g');

    function safeUrl(raw) {
      const s = raw.replace(/\\([!-/:-@[-`{-~])/g, '$1').trim();
      if (!/^(https?:\/\/|mailto:)/i.test(s)) return null;
      try {
        const u = new URL(s);
        return /^(https?|mailto):$/.test(u.protocol) ? u.href : null;
      } catch (_) {
        return null;
      }
    }

    function link(href, parent) {
      const a = h('a', { href, rel: 'noopener noreferrer', target: '_blank' });
      parent.append(a);
      return a;
    }

    function text(parent, s) {
      if (!s) return;
      const parts = s.split('\n');
      parts.forEach((p, i) => {
        if (i) parent.append(h('br'));
        if (p) parent.append(p);
      });
    }

    function inline(src, parent, depth = 0, inLink = false) {
      if (depth > 8) return text(parent, src);
      const re = new RegExp(INLINE.source, 'g');
      let last = 0;
      let m;
      while ((m = re.exec(src))) {
        const g = m.groups;
        const at = m.index;
        // `_` emphasis never starts inside a word (snake_case_names).
        if ((g.b2 != null || g.i2 != null) && at > 0 && /[A-Za-z0-9]/.test(src[at - 1])) {
          re.lastIndex = at + 1;
          continue;
        }
        if (inLink && (g.auto != null || g.ltext != null || g.url != null)) {
          re.lastIndex = at + 1;
          continue;
        }
        text(parent, src.slice(last, at));
        last = re.lastIndex;
        if (g.esc != null) parent.append(g.esc);
        else if (g.code != null) {
          let c = g.code.replace(/\n/g, ' ');
          if (/^ .*[^ ].* $/.test(c)) c = c.slice(1, -1);
          parent.append(h('code', null, c));
        } else if (g.auto != null) {
          const href = safeUrl(g.auto);
          if (href) link(href, parent).append(g.auto.replace(/^mailto:/i, ''));
          else text(parent, m[0]);
        } else if (g.ltext != null) {
          const href = safeUrl(g.lurl || '');
          if (!href) {
            inline(g.ltext, parent, depth + 1, inLink);
          } else {
            const a = link(href, parent);
            if (g.img) a.append('🖼 ');
            inline(g.ltext || href, a, depth + 1, true);
          }
        } else if (g.url != null) {
          const href = safeUrl(g.url);
          if (href) link(href, parent).append(g.url);
          else text(parent, g.url);
        } else {
          const [tag, inner] = g.b1 != null ? ['strong', g.b1] : g.b2 != null ? ['strong', g.b2]
            : g.del != null ? ['del', g.del] : ['em', g.i1 != null ? g.i1 : g.i2];
          const el = h(tag);
          inline(inner, el, depth + 1, inLink);
          parent.append(el);
        }
      }
      text(parent, src.slice(last));
    }

    const indentOf = (line) => /^ */.exec(line)[0].length;
    const startsBlock = (line) => FENCE.test(line) || HEADING.test(line) || HR.test(line)
      || QUOTE.test(line) || ITEM.test(line);

    function cells(line) {
      let s = line.trim();
      if (s.startsWith('|')) s = s.slice(1);
      if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
      const out = [];
      let cur = '';
      let code = false;
      for (let i = 0; i < s.length; i++) {
        const c = s[i];
        if (c === '\\' && s[i + 1] === '|') { cur += '|'; i++; continue; }
        if (c === '`') code = !code;
        if (c === '|' && !code) { out.push(cur.trim()); cur = ''; continue; }
        cur += c;
      }
      out.push(cur.trim());
      return out;
    }

    function blocks(lines, parent, depth) {
      let i = 0;
      while (i < lines.length) {
        const line = lines[i];
        if (BLANK.test(line)) { i++; continue; }
        let m;
        if ((m = FENCE.exec(line)) && !(m[2][0] === '`' && m[3].includes('`'))) {
          const [, ind, marker, info] = m;
          const body = [];
          const close = new RegExp('^ {0,3}' + (marker[0] === '`' ? '`' : '~') + '{' + marker.length + ',}[ \\t]*$');
          i++;
          while (i < lines.length && !close.test(lines[i])) {
            body.push(lines[i].slice(Math.min(ind.length, indentOf(lines[i]))));
            i++;
          }
          i++;
          const lang = info.trim().split(/\s+/)[0];
          const code = h('code', null, body.join('\n'));
          const copy = h('button', { type: 'button', class: 'copy', title: 'Copy' }, 'Copy');
          parent.append(h('div', { class: 'codeblock' },
            h('div', { class: 'codehead' }, h('span', null, lang), copy), h('pre', null, code)));
          continue;
        }
        if ((m = HEADING.exec(line))) {
          const el = h('h' + m[1].length);
          inline(m[2] || '', el);
          parent.append(el);
          i++;
          continue;
        }
        if (HR.test(line)) { parent.append(h('hr')); i++; continue; }
        if (QUOTE.test(line)) {
          const inner = [];
          while (i < lines.length && !BLANK.test(lines[i])) {
            const q = QUOTE.exec(lines[i]);
            if (q) inner.push(q[1]);
            else if (startsBlock(lines[i])) break;
            else inner.push(lines[i]);
            i++;
          }
          const el = h('blockquote');
          if (depth < 12) blocks(inner, el, depth + 1); else text(el, inner.join('\n'));
          parent.append(el);
          continue;
        }
        if ((m = ITEM.exec(line)) && depth < 12) {
          i = list(lines, i, parent, depth);
          continue;
        }
        if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes('-')) {
          const head = cells(line);
          const aligns = cells(lines[i + 1]).map((c) => (/^:-+:$/.test(c) ? 'center' : /-:$/.test(c) ? 'right' : /^:-/.test(c) ? 'left' : ''));
          i += 2;
          const row = (values, tag) => {
            const tr = h('tr');
            head.forEach((_, k) => {
              const td = h(tag, aligns[k] ? { class: 'align-' + aligns[k] } : null);
              inline(values[k] || '', td);
              tr.append(td);
            });
            return tr;
          };
          const tbody = h('tbody');
          while (i < lines.length && !BLANK.test(lines[i]) && lines[i].includes('|')) {
            tbody.append(row(cells(lines[i]), 'td'));
            i++;
          }
          parent.append(h('div', { class: 'table' }, h('table', null, h('thead', null, row(head, 'th')), tbody)));
          continue;
        }
        const para = [line.replace(/^[ \t]+/, '')];
        i++;
        while (i < lines.length && !BLANK.test(lines[i]) && !startsBlock(lines[i])) {
          para.push(lines[i].replace(/^[ \t]+/, ''));
          i++;
        }
        const p = h('p');
        inline(para.join('\n').replace(/[ \t]+$/, ''), p);
        parent.append(p);
      }
    }

    function list(lines, i, parent, depth) {
      const first = ITEM.exec(lines[i]);
      const ordered = /\d/.test(first[2]);
      const delim = first[2].slice(-1);
      const el = h(ordered ? 'ol' : 'ul');
      if (ordered) {
        const n = parseInt(first[2], 10);
        if (n !== 1) el.setAttribute('start', String(n));
      }
      while (i < lines.length) {
        const m = ITEM.exec(lines[i]);
        if (!m || /\d/.test(m[2]) !== ordered || m[2].slice(-1) !== delim || HR.test(lines[i])) break;
        const rest = m[4] || '';
        const pad = m[3] ? Math.min(m[3].length, 4) : 1;
        const width = m[1].length + m[2].length + pad;
        const item = [m[3] && m[3].length > 4 ? m[3].slice(pad) + rest : rest];
        let loose = false;
        i++;
        while (i < lines.length) {
          const line = lines[i];
          if (BLANK.test(line)) {
            let k = i + 1;
            while (k < lines.length && BLANK.test(lines[k])) k++;
            if (k < lines.length && indentOf(lines[k]) >= width) {
              for (; i < k; i++) item.push('');
              loose = true;
              continue;
            }
            break;
          }
          if (indentOf(line) >= width) { item.push(line.slice(width)); i++; continue; }
          if (startsBlock(line) || BLANK.test(item[item.length - 1])) break;
          item.push(line.trim());
          i++;
        }
        const li = h('li');
        const task = /^\[([ xX])\][ \t]+/.exec(item[0]);
        if (task) {
          item[0] = item[0].slice(task[0].length);
          li.className = 'task';
          li.append(h('span', { class: 'check' }, task[1] === ' ' ? '☐ ' : '☑ '));
        }
        blocks(item, li, depth + 1);
        const p = li.querySelector(':scope > p');
        if (!loose && p) p.replaceWith(...p.childNodes);
        el.append(li);
        // Blank lines between items keep the list going.
        let k = i;
        while (k < lines.length && BLANK.test(lines[k])) k++;
        const next = k < lines.length && ITEM.exec(lines[k]);
        if (k > i && next && /\d/.test(next[2]) === ordered && next[2].slice(-1) === delim) i = k;
      }
      parent.append(el);
      return i;
    }

    return (src) => {
      const frag = document.createDocumentFragment();
      const lines = String(src).replace(/\r\n?/g, '\n').split('\n')
        .map((l) => l.replace(/^[ \t]+/, (ws) => ws.replace(/\t/g, '    ')));
      blocks(lines, frag, 0);
      return frag;
    };
  })();

  // Copy buttons on code blocks (delegated: the blocks are rebuilt while a reply streams).
  ui.messages.addEventListener('click', (e) => {
    const button = e.target.closest('button.copy');
    if (!button) return;
    const code = button.closest('.codeblock').querySelector('code').textContent;
    const done = () => {
      button.textContent = 'Copied';
      setTimeout(() => { button.textContent = 'Copy'; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(code).then(done, () => {});
      return;
    }
    const area = h('textarea', { class: 'offscreen', readonly: true });
    area.value = code;
    document.body.append(area);
    area.select();
    try { if (document.execCommand('copy')) done(); } catch (_) { /* not supported */ }
    area.remove();
  });

  // ---------------------------------------------------------------- the transcript

  let lastSeq = 0;
  // Ids of the latest events, a second guard against a duplicate after the seq check. Only the
  // latest few are kept (a Set iterates in insertion order, so the first is the oldest): an
  // older event's seq is at or below lastSeq, so the seq check refuses it first, and a page
  // left open for days must not keep every id it ever saw.
  const SEEN_IDS = 256;
  const seen = new Set();
  function remember(id) {
    seen.add(id);
    if (seen.size > SEEN_IDS) seen.delete(seen.values().next().value);
  }
  Object.defineProperty(stats, 'rememberedIds', { get: () => seen.size, enumerable: true });
  const assistants = new Map(); // message_id -> {el, body, text, dirty, arrivals}
  const pending = new Map(); // event id -> element of a message sent from this page
  const approvals = new Map(); // request_id -> card
  let commands = [];
  let sessionState = ui.state.dataset.value || 'idle';
  let stick = true;
  let frameAsked = false;
  let firstShown = false;

  // End-to-end encryption (seal.js, docs/protocol.md §4.7): the keys of the generation this
  // device holds, this page's sender id and counter, and what it has seen of each sender.
  let keys = null;
  let generation = 0;
  let haveKeys;
  const keysReady = new Promise((resolve) => { haveKeys = resolve; }); // nothing is sealed before
  const sender = Seal ? Seal.newSender() : '';
  let counter = 0;
  const ledger = Seal ? new Seal.Ledger() : null;
  const sealed = new Map(); // event id -> its sealed event (a promise), resent as is on a retry
  let inbox = Promise.resolve(); // events are opened one after another, in stream order
  let locked = ''; // why the composer is off for good: 'nokey', 'insecure', 'rekeyed'
  let older = null; // {el, count}: the note about events sealed under an earlier key
  // Messages left pending by an earlier load are sent again only once the replay has caught up
  // with what the relay held when this page was made: one it already has comes back and is no
  // longer pending, so no second copy is sealed (its counter would read as a gap everywhere).
  const head = Number(ui.messages.dataset.lastSeq) || 0;
  let caughtUp;
  const replayed = new Promise((resolve) => { caughtUp = resolve; });
  if (head === 0) caughtUp();

  const STATES = { idle: 'idle', running: 'running', requires_action: 'waiting for approval' };
  const when = (ev) => {
    const d = new Date(ev && ev.created_at);
    return isNaN(d) ? null : d.toLocaleString();
  };

  function place(el) {
    // Confirmed messages go before the ones still being sent, which stay at the bottom.
    let before = null;
    for (const p of pending.values()) { if (p.parentNode === ui.messages) { before = p; break; } }
    ui.messages.insertBefore(el, before);
    frame();
  }

  // `seq` is the event's; '' while a message is being sent; undefined for the page's own notices.
  function message(kind, seq, label, body, ev) {
    const el = h('div', { class: 'msg ' + kind, 'data-seq': seq === null ? '' : seq, title: when(ev) });
    if (label) el.append(h('div', { class: 'meta' }, label));
    if (body) el.append(body);
    return el;
  }

  // Only the terminal's own event says "typed in the terminal": a client's payload could claim
  // any origin, and the relay does not read payloads.
  function userMessage(text, origin, seq, ev) {
    const from = origin === 'terminal' && ev && ev.source === 'worker' ? 'terminal' : 'client';
    const el = message('user', seq, from === 'terminal' ? 'terminal' : 'web',
      h('div', { class: 'body' }, text), ev);
    el.dataset.origin = from;
    if (ev && typeof ev.id === 'string') el.dataset.eventId = ev.id;
    return el;
  }

  function notice(text, seq, extra) {
    const el = message('notice', seq == null ? undefined : seq, null, h('div', { class: 'body' }, text));
    if (extra) el.classList.add(extra);
    place(el);
    return el;
  }

  function assistant(id, seq) {
    let a = assistants.get(id);
    if (!a) {
      const body = h('div', { class: 'body md' });
      const el = message('assistant', seq, null, body);
      el.dataset.messageId = id;
      a = { el, body, text: '', dirty: false, final: false, interrupted: false, arrivals: [] };
      assistants.set(id, a);
      place(el);
    }
    return a;
  }

  function finish(a) {
    a.el.classList.remove('streaming');
  }

  // The message a turn failed on: by the id of its event when the terminal names it, else (an
  // older terminal) the newest of the user's with this text that is not already marked (turns
  // run one at a time, so no later one can have failed before it).
  function unsentMessage(text, eventId) {
    if (typeof eventId === 'string') {
      for (const el of ui.messages.querySelectorAll('.msg.user:not(.failed):not(.pending)')) {
        if (el.dataset.eventId === eventId) return el;
      }
      return null;
    }
    const want = text.trim();
    const users = ui.messages.querySelectorAll('.msg.user:not(.failed):not(.pending)');
    for (let i = users.length - 1; i >= 0; i--) {
      const body = users[i].querySelector('.body');
      if (body && body.textContent.trim() === want) return users[i];
    }
    return null;
  }

  // A turn failed before any reply: the terminal took the message back out of the conversation.
  // It is marked as not sent, with why and a button that sends it again (as a new message).
  function markUnsent(el, text, why) {
    el.classList.add('failed', 'unsent');
    const again = h('button', { type: 'button', class: 'retry' }, 'Retry');
    const note = h('div', { class: 'why' }, why + ' ', again);
    el.append(note);
    again.addEventListener('click', () => {
      note.replaceChildren('Sent again below.');
      sendMessage(text);
    });
  }

  function commandOutput(p, seq, ev) {
    const text = str(p.text).replace(ANSI, '');
    const error = p.error === true;
    if (error && typeof p.unsent === 'string') {
      const el = unsentMessage(p.unsent, p.unsent_id);
      if (el) { markUnsent(el, p.unsent, text); frame(); return; }
    }
    const name = str(p.command);
    const label = name === 'btw' ? 'note' : name ? '/' + name : error ? 'error' : 'tether';
    let body;
    if (p.format === 'markdown') {
      body = h('div', { class: 'body md' });
      body.append(md(text));
    } else {
      body = h('pre', { class: 'body' + (/[▀▄█]/.test(text) ? ' art' : '') }, text);
    }
    const el = message('command', seq, label, body, ev);
    if (error) el.classList.add('error');
    place(el);
  }

  function setState(state) {
    sessionState = STATES[state] ? state : 'idle';
    ui.state.dataset.value = sessionState;
    ui.state.textContent = STATES[sessionState];
    ui.stop.disabled = !!locked || sessionState !== 'running';
    ui.stop.classList.remove('stopping');
    if (sessionState === 'idle') {
      // An idle session waits for nothing: no reply streams, no tool awaits an answer (a card
      // left over would be from a turn that ended without one). The end of streaming waits for
      // the frame that shows the text that came with it, or the page would show a finished
      // message with the text of the frame before.
      for (const a of assistants.values()) {
        if (!a.el.classList.contains('streaming')) continue;
        a.final = true;
        a.dirty = true;
        frame();
      }
      for (const card of approvals.values()) card.remove();
      approvals.clear();
    }
  }

  function setWorker(online) {
    const v = online ? 'online' : 'offline';
    ui.worker.dataset.value = v;
    ui.worker.textContent = v;
    document.body.dataset.worker = v;
    ui.input.placeholder = online ? 'Message, or / for commands' : 'The terminal is offline: messages will wait for it';
  }

  function setTitle(title) {
    if (!title) return;
    ui.title.textContent = title;
    document.title = title + ' · tether';
  }

  function clearView(seq) {
    ui.messages.replaceChildren(...pending.values());
    assistants.clear();
    for (const card of approvals.values()) card.remove();
    approvals.clear();
    notice('Conversation cleared', seq, 'cleared');
  }

  function approval(p, seq) {
    const id = str(p.request_id);
    if (!id || approvals.has(id)) return;
    const tool = str(p.tool_name) || 'a tool';
    const input = p.input && typeof p.input === 'object' ? p.input : {};
    let shown = typeof input.command === 'string' ? input.command
      : typeof input.file_path === 'string' ? input.file_path : JSON.stringify(input, null, 2);
    if (shown.length > 4000) shown = shown.slice(0, 4000) + '…';
    const allow = h('button', { type: 'button', class: 'allow' }, 'Allow');
    const deny = h('button', { type: 'button', class: 'deny' }, 'Deny');
    const card = h('div', { class: 'approval', 'data-request-id': id, 'data-seq': seq, role: 'group', 'aria-label': 'Approval for ' + tool },
      h('div', { class: 'approval-title' }, 'Allow ', h('strong', null, tool), '?'),
      str(p.description) ? h('p', null, str(p.description)) : null,
      shown && shown !== '{}' ? h('pre', null, shown) : null,
      h('div', { class: 'approval-actions' }, deny, allow));
    const answer = (behavior) => {
      allow.disabled = deny.disabled = true;
      card.classList.add('answering');
      publish([{ id: uuid(), type: 'control_response', payload: { request_id: id, response: { behavior } } }])
        .catch((e) => {
          allow.disabled = deny.disabled = false;
          card.classList.remove('answering');
          notice('Could not answer: ' + e.message, null, 'error');
        });
    };
    allow.addEventListener('click', () => answer('allow'));
    deny.addEventListener('click', () => answer('deny'));
    card.dataset.tool = tool;
    approvals.set(id, card);
    ui.approvals.append(card);
  }

  function resolveApproval(p, seq, cancelled) {
    const id = str(p.request_id);
    const card = approvals.get(id);
    if (!card) return;
    approvals.delete(id);
    card.remove();
    const tool = card.dataset.tool;
    const verb = (b) => (b === 'allow' ? 'Allowed' : 'Denied');
    let text;
    if (!cancelled) text = `${verb(p.response && p.response.behavior)} ${tool}`;
    else if (p.reason === 'answered') text = `${verb(p.behavior)} ${tool} ${p.by === 'terminal' ? 'in the terminal' : 'on another device'}`;
    else if (p.reason === 'withdrawn') text = `${tool}: the agent withdrew its request`;
    else text = `${tool}: the request was cancelled`;
    notice(text, seq, 'answered');
  }

  // The composer goes off for good, with why on the banner.
  function lock(kind, text) {
    locked = kind;
    document.body.dataset.locked = kind;
    ui.banner.dataset.kind = kind;
    ui.banner.textContent = text;
    ui.banner.hidden = false;
    ui.input.disabled = ui.send.disabled = ui.stop.disabled = true;
    updateCompletions();
    // An answer sealed under a key the terminal no longer holds would never be taken.
    for (const card of approvals.values()) card.remove();
    approvals.clear();
  }

  const unverified = (seq) => notice('A message could not be verified', seq, 'unverified');

  // An event of a sealed type that did not open: never content, never a command, never an
  // answer.
  function refuse(opened, seq) {
    if (opened.why === 'newer') {
      if (locked !== 'rekeyed') {
        lock('rekeyed', "The terminal changed this session's key (/session revoke). Scan the new code in the terminal to keep reading here.");
      }
    } else if (opened.why === 'older') {
      if (older && older.el.isConnected) older.count++;
      else older = { el: notice('', seq, 'older'), count: 1 };
      older.el.querySelector('.body').textContent = older.count === 1
        ? '1 earlier event was sealed with a previous key and cannot be shown here.'
        : `${older.count} earlier events were sealed with a previous key and cannot be shown here.`;
    } else {
      unverified(seq);
    }
  }

  // A gap or a late event is said in the conversation, never skipped silently.
  function integrity(ev, from, verdict, seq) {
    const who = ev.source === 'worker' ? 'the terminal' : from === sender ? 'this device' : 'another device';
    notice(verdict === 'gap'
      ? `Some messages from ${who} are missing: the relay dropped or reordered them.`
      : `A message from ${who} arrived out of order: the relay held it back or reordered it.`, seq, 'integrity');
  }

  // Stream order is kept: each event is checked at once (seq, id) and its opening started at
  // once (WebCrypto opens a replay's events side by side), then it is judged and drawn after
  // the ones before it.
  function handle(ev) {
    if (!ev || typeof ev !== 'object' || typeof ev.type !== 'string') return;
    if (typeof ev.seq === 'number') {
      if (ev.seq <= lastSeq) return;
      lastSeq = ev.seq;
    }
    if (typeof ev.id === 'string') {
      if (seen.has(ev.id)) return;
      remember(ev.id);
    }
    const arrived = performance.now();
    const opening = Seal.isSealed(ev.type) ? Seal.open(keys, generation, sessionId, ev) : null;
    inbox = inbox.then(() => receive(ev, arrived, opening)).catch((e) => console.error(e));
  }

  async function receive(ev, arrived, opening) {
    const seq = typeof ev.seq === 'number' ? ev.seq : null;
    try {
      if (!opening) {
        draw(ev, ev.payload && typeof ev.payload === 'object' ? ev.payload : {}, seq, arrived);
        return;
      }
      const opened = await opening;
      if (!opened.ok) { refuse(opened, seq); return; }
      // Per source too: a client cannot take the terminal's sender id to hide a gap.
      const verdict = ledger.observe(ev.source + ':' + opened.from, opened.n);
      if (verdict.order === 'repeat') return;
      if (verdict.order !== 'fresh') integrity(ev, opened.from, verdict.order, seq);
      draw(ev, opened.payload, seq, arrived);
    } finally {
      if (seq !== null && seq >= head) caughtUp();
    }
  }

  // A verified (or plaintext) event on the page.
  function draw(ev, p, seq, arrived) {
    if (typeof ev.id === 'string') sealed.delete(ev.id);
    switch (ev.type) {
      case 'system_init': {
        commands = (Array.isArray(p.commands) ? p.commands : [])
          .filter((c) => c && typeof c.name === 'string' && c.name)
          .sort((a, b) => a.name.localeCompare(b.name));
        setTitle(str(p.title));
        ui.subtitle.textContent = [str(p.model) || str(p.engine), str(p.cwd)].filter(Boolean).join(' · ');
        updateCompletions();
        break;
      }
      case 'user_message': {
        const mine = pending.get(ev.id);
        if (mine) {
          pending.delete(ev.id);
          savePending();
          mine.classList.remove('pending', 'sent', 'failed');
          mine.dataset.eventId = ev.id;
          mine.dataset.seq = seq == null ? '' : seq;
          mine.title = when(ev) || '';
          place(mine);
        } else {
          place(userMessage(str(p.text), p.origin, seq, ev));
        }
        break;
      }
      case 'assistant_delta': {
        const a = assistant(str(p.message_id) || 'message', seq);
        a.el.classList.add('streaming');
        // A message can go on after its final text (an agent's turn resumes after an approval
        // under the same id): it is streaming again until its next final text.
        a.final = false;
        a.text += str(p.text);
        a.dirty = true;
        a.arrivals.push(arrived);
        frame();
        break;
      }
      case 'assistant_message': {
        const a = assistant(str(p.message_id) || 'message', seq);
        if (typeof p.text === 'string') a.text = p.text;
        a.dirty = true;
        a.final = true;
        a.interrupted = p.interrupted === true;
        frame();
        break;
      }
      case 'command_output': commandOutput(p, seq, ev); break;
      case 'session_state': setState(str(p.state)); break;
      case 'worker_status': setWorker(p.online === true); break;
      // Only the terminal asks for permission: a request from another browser of the same
      // account must not be able to show a fake prompt here.
      case 'control_request': if (p.subtype === 'can_use_tool' && ev.source === 'worker') approval(p, seq); break;
      case 'control_response': resolveApproval(p, seq, false); break;
      case 'control_cancel': resolveApproval(p, seq, true); break;
      case 'conversation_cleared': clearView(seq); break;
      case 'catch_up_truncated':
        ledger.truncated();
        notice('Older messages are no longer kept; the conversation continues from here.', seq, 'truncated');
        break;
      default: break;
    }
  }

  // One DOM update per animation frame: streamed markdown is re-rendered there, then the view
  // follows the bottom if it was there.
  function frame() {
    if (frameAsked) return;
    frameAsked = true;
    requestAnimationFrame(flush);
  }

  function flush() {
    frameAsked = false;
    const arrivals = [];
    for (const a of assistants.values()) {
      if (!a.dirty) continue;
      a.dirty = false;
      a.body.replaceChildren(md(a.text));
      // The final text and the end of streaming show in the same frame.
      if (a.final) finish(a);
      if (a.interrupted) {
        a.el.classList.add('interrupted');
        a.body.append(h('div', { class: 'stopped' }, 'interrupted'));
      }
      arrivals.push(...a.arrivals);
      a.arrivals.length = 0;
    }
    if (stick) ui.scroller.scrollTop = ui.scroller.scrollHeight;
    else ui.jump.hidden = false;
    const first = !firstShown && ui.messages.querySelector('.msg');
    if (first) firstShown = true;
    // Measured at the frame after the DOM update, when it has been painted.
    if (arrivals.length || first) {
      requestAnimationFrame(() => {
        const now = performance.now();
        if (first) stats.firstMessageAt = now;
        if (stats.paintDelays.length > 20000) stats.paintDelays.splice(0, 10000);
        for (const t of arrivals) stats.paintDelays.push(now - t);
      });
    }
  }

  ui.scroller.addEventListener('scroll', () => {
    const s = ui.scroller;
    stick = s.scrollHeight - s.scrollTop - s.clientHeight < 60;
    if (stick) ui.jump.hidden = true;
  }, { passive: true });
  ui.jump.addEventListener('click', () => {
    stick = true;
    ui.jump.hidden = true;
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
  });

  // ---------------------------------------------------------------- connection

  const params = new URLSearchParams(location.search);
  let transport = params.get('transport');
  if (!transport) { try { transport = localStorage.getItem('tether.transport'); } catch (_) { /* none */ } }
  const useWs = transport === 'ws' && 'WebSocket' in window;

  let connState = '';
  function setConnection(state, text) {
    if (state === connState && !text) return;
    connState = state;
    ui.connection.dataset.state = state;
    ui.connection.textContent = text || { live: '', connecting: 'Connecting…', reconnecting: 'Reconnecting…', closed: '' }[state];
    document.body.dataset.connection = state;
  }

  let lastByte = 0;
  let current = null; // {close()} of the open stream
  let wake = null; // resolves the reconnect wait early
  let socket = null;
  // WebSocket: the write in flight on this socket, `{item, waiting}` with the ids not yet back on
  // the stream. A first send asks no ack: the page sees its own events come back, which tells it
  // they are stored. A resend asks for one, since a copy stored earlier is not sent again.
  let inflight = null;

  class Fatal extends Error {
    constructor(message, href, action) {
      super(message);
      this.href = href;
      this.action = action;
    }
  }

  function why(status) {
    const login = '/login?next=' + encodeURIComponent(location.pathname);
    if (status === 401) return new Fatal('You are logged out.', login, 'Log in');
    if (status === 404) return new Fatal('This session no longer exists.', '/code', 'Your sessions');
    if (status === 403) return new Fatal('The relay refused this connection.', login, 'Log in again');
    return null;
  }

  // After a WebSocket fails we cannot see its status: ask the session itself.
  async function probe() {
    try {
      const r = await fetch(base, { cache: 'no-store', credentials: 'same-origin' });
      return why(r.status);
    } catch (_) {
      return null;
    }
  }

  function sse() {
    return new Promise((resolve, reject) => {
      const abort = new AbortController();
      current = { close: () => abort.abort() };
      (async () => {
        const r = await fetch(`${base}/events/stream?from_seq=${lastSeq}`, {
          headers: { accept: 'text/event-stream' }, cache: 'no-store', credentials: 'same-origin', signal: abort.signal,
        });
        if (!r.ok || !r.body) {
          throw why(r.status) || new Error('HTTP ' + r.status);
        }
        lastByte = Date.now();
        setConnection('live');
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        let moved = false;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          lastByte = Date.now();
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = [];
            let type = 'message';
            for (const line of block.split('\n')) {
              if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
              else if (line.startsWith('event:')) type = line.slice(line[6] === ' ' ? 7 : 6);
            }
            // The node is stopping (docs/protocol.md 5.6): the stream ends next; move at once.
            if (type === 'reconnect') { moved = true; continue; }
            if (type === 'message' && data.length) {
              try { handle(JSON.parse(data.join('\n'))); } catch (e) { console.error(e); }
            }
          }
        }
        return moved ? 'moved' : 'ended';
      })().then(resolve, reject);
    });
  }

  function ws() {
    return new Promise((resolve, reject) => {
      const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${base}/ws?from_seq=${lastSeq}`;
      const s = new WebSocket(url);
      let opened = false;
      let ended = false;
      const end = async (code) => {
        if (ended) return;
        ended = true;
        if (socket === s) socket = null;
        inflight = null;
        sending = false;
        if (code === MOVING) { resolve('moved'); return; }
        if (!opened || code === 4410) {
          const fatal = await probe();
          if (fatal) { reject(fatal); return; }
        }
        resolve('ended');
      };
      // A dead network may never complete the closing handshake: do not wait for it.
      current = { close: () => { s.close(); end(1006); } };
      s.onopen = () => {
        opened = true;
        socket = s;
        inflight = null;
        lastByte = Date.now();
        setConnection('live');
        pump();
      };
      s.onmessage = (e) => {
        lastByte = Date.now();
        let v;
        try { v = JSON.parse(e.data); } catch (_) { return; }
        if (v && (v.ack || v.error) && !v.type) {
          // A keepalive's reply names no event; any other is the one write in flight's.
          const named = v.ack ? Array.isArray(v.ack.events) && v.ack.events.length : Array.isArray(v.ids) && v.ids.length;
          if (!named) return;
          const w = inflight;
          inflight = null;
          if (w) settle(w.item, v.ack ? null : new Error(str(v.error && v.error.message) || 'Refused.'));
          return;
        }
        try { handle(v); } catch (err) { console.error(err); }
        if (inflight && v && inflight.waiting.delete(v.id) && !inflight.waiting.size) {
          const w = inflight;
          inflight = null;
          settle(w.item, null);
        }
      };
      s.onclose = (e) => end(e.code);
    });
  }

  // WebSocket close code of a node that is stopping (RFC 6455 "service restart").
  const MOVING = 1012;
  // A move off a connection younger than this is quick: the first is obeyed at once, a second
  // in a row waits its backoff, so that no relay can make the page spin.
  const QUICK_MOVE = 1000;

  async function connect() {
    let attempt = 0;
    let quickMoves = 0;
    let moves = 0;
    setConnection('connecting');
    for (;;) {
      const started = Date.now();
      let how = 'failed';
      try {
        how = await (useWs ? ws() : sse());
      } catch (e) {
        if (e instanceof Fatal) {
          setConnection('closed', e.message + ' ');
          ui.connection.append(h('a', { href: e.href }, e.action));
          ui.stop.disabled = true;
          return;
        }
      }
      current = null;
      if (Date.now() - started > 5000) attempt = 0;
      if (how === 'moved') {
        const lasted = Date.now() - started;
        const atOnce = lasted >= QUICK_MOVE || quickMoves === 0;
        quickMoves = lasted < QUICK_MOVE ? quickMoves + 1 : 0;
        ui.connection.dataset.moved = String(++moves);
        if (atOnce) {
          setConnection('reconnecting', 'The relay is restarting — reconnecting…');
          continue;
        }
      }
      setConnection('reconnecting', navigator.onLine === false ? 'Offline — waiting for the network…' : 'Reconnecting…');
      await Promise.race([sleep(backoff(attempt++)), new Promise((r) => { wake = r; })]);
      wake = null;
    }
  }

  function reconnectNow() {
    if (wake) wake();
    else if (current && Date.now() - lastByte > 30000) current.close();
  }
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) reconnectNow(); });
  // A connection can die silently (a phone changing networks): keepalives arrive every 15 s,
  // so 40 s of silence means it is gone.
  setInterval(() => {
    if (!current || connState !== 'live') return;
    if (socket && socket.readyState === 1 && Date.now() - lastByte > 20000) {
      // Asks its ack: the browser keeps pings from the page, so only a reply shows the
      // connection still carries bytes back.
      socket.send('{"events":[]}');
    }
    if (Date.now() - lastByte > 40000) current.close();
  }, 5000);

  // ---------------------------------------------------------------- publishing

  // One batch in flight at a time, retried with the same event ids until the relay answers
  // (it deduplicates by id), so nothing is lost or doubled by a network error.
  const outbox = [];
  let sending = false;

  // Sealed under key('client') as the next of this page's events: the counter is taken here, in
  // the order events are made, and the envelope is kept so that every retry of this id sends
  // the same ciphertext.
  function sealEvent(e) {
    let done = sealed.get(e.id);
    if (!done) {
      const n = ++counter;
      done = keysReady
        .then(() => Seal.seal(keys, { session: sessionId, id: e.id, type: e.type, source: 'client', g: generation }, sender, n, e.payload))
        .then((payload) => ({ id: e.id, type: e.type, payload }));
      sealed.set(e.id, done);
    }
    return done;
  }

  function publish(events) {
    return new Promise((resolve, reject) => {
      const item = { events: null, resolve, reject, tries: 0, sent: 0 };
      outbox.push(item);
      // Sent in the order made, once sealed (pump waits for the first item's envelopes).
      Promise.all(events.map(sealEvent)).then((done) => {
        item.events = done;
        pump();
      }, (e) => {
        outbox.splice(outbox.indexOf(item), 1);
        reject(e);
        pump();
      });
    });
  }

  function settle(item, error) {
    sending = false;
    if (outbox[0] === item) outbox.shift();
    // Stored (or refused for good): no retry will need these envelopes, except a message's
    // Retry button after a refusal, which sends the very same one.
    if (!error) for (const e of item.events) sealed.delete(e.id);
    if (error) item.reject(error); else item.resolve();
    pump();
  }

  function retry(item, wait) {
    sending = false;
    setTimeout(pump, wait == null ? backoff(item.tries++) : wait);
  }

  async function pump() {
    if (sending || !outbox.length || !outbox[0].events) return;
    const item = outbox[0];
    if (useWs) {
      if (!socket || socket.readyState !== 1) return; // sent when the socket opens
      sending = true;
      const ack = item.sent++ > 0;
      inflight = ack ? { item, waiting: new Set() } : { item, waiting: new Set(item.events.map((e) => e.id)) };
      socket.send(JSON.stringify(ack ? { events: item.events } : { events: item.events, ack: false }));
      return;
    }
    const body = JSON.stringify({ events: item.events });
    sending = true;
    let r;
    try {
      r = await fetch(base + '/events', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body, credentials: 'same-origin', cache: 'no-store',
      });
    } catch (_) {
      retry(item);
      return;
    }
    if (r.ok) {
      await r.json().catch(() => null);
      settle(item, null);
    } else if (r.status >= 500 || r.status === 429 || r.status === 408) {
      const after = parseInt(r.headers.get('retry-after') || '', 10);
      retry(item, after > 0 ? after * 1000 : undefined);
    } else {
      settle(item, new Error(await refusal(r, `The relay refused this (HTTP ${r.status}).`)));
    }
  }

  // The relay's words for refusing `r` (its `{error: {message}}`), or `fallback`.
  async function refusal(r, fallback) {
    try { return (await r.json()).error.message || fallback; } catch (_) { return fallback; }
  }

  function savePending() {
    store('tether.pending.' + sessionId, [...pending].map(([id, el]) => ({ id, text: el.dataset.text })));
  }

  // `after`: a promise to wait for before sealing and sending (see `replayed`).
  function sendMessage(text, id, after) {
    id = id || uuid();
    const el = userMessage(text, 'client', null);
    el.classList.add('pending');
    el.dataset.text = text;
    pending.set(id, el);
    ui.messages.append(el);
    stick = true;
    frame();
    savePending();
    const go = () => {
      // It came back on the stream meanwhile: the relay has it.
      if (!pending.has(id)) return;
      publish([{ id, type: 'user_message', payload: { text, origin: 'client' } }]).then(
        () => { if (pending.has(id)) el.classList.add('sent'); },
        (e) => {
          pending.delete(id);
          savePending();
          el.classList.remove('pending');
          el.classList.add('failed');
          const again = h('button', { type: 'button', class: 'retry' }, 'Retry');
          el.append(h('div', { class: 'why' }, 'Not sent: ' + e.message + ' ', again));
          again.addEventListener('click', () => { el.remove(); sendMessage(text, id); });
        });
    };
    if (after) after.then(go); else go();
  }

  // ---------------------------------------------------------------- the composer

  let selected = 0;
  let dismissed = null;

  function matches() {
    const m = /^\/(\S*)$/.exec(ui.input.value);
    if (!m || dismissed === ui.input.value) return [];
    const prefix = m[1].toLowerCase();
    return commands.filter((c) => c.name.toLowerCase().startsWith(prefix));
  }

  function updateCompletions() {
    const list = matches();
    if (!list.length) {
      ui.completions.hidden = true;
      ui.completions.replaceChildren();
      ui.input.removeAttribute('aria-activedescendant');
      return;
    }
    selected = Math.max(0, Math.min(selected, list.length - 1));
    ui.completions.replaceChildren(...list.map((c, i) => h('li', {
      'data-name': c.name, role: 'option', id: 'cmd-' + i, class: i === selected ? 'active' : null, 'aria-selected': String(i === selected),
    }, h('span', { class: 'name' }, '/' + c.name, str(c.argument_hint) ? h('span', { class: 'hint' }, ' ' + str(c.argument_hint)) : null),
    h('span', { class: 'desc' }, str(c.description)))));
    ui.completions.hidden = false;
    ui.input.setAttribute('aria-activedescendant', 'cmd-' + selected);
    const active = ui.completions.children[selected];
    if (active && active.scrollIntoView) active.scrollIntoView({ block: 'nearest' });
  }

  function accept(name) {
    ui.input.value = '/' + name + ' ';
    dismissed = null;
    selected = 0;
    updateCompletions();
    grow();
    ui.input.focus();
    ui.input.setSelectionRange(ui.input.value.length, ui.input.value.length);
  }

  function grow() {
    ui.input.style.height = 'auto';
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, Math.max(120, window.innerHeight * 0.4)) + 'px';
  }

  const draftKey = 'tether.draft.' + sessionId;
  ui.input.value = load(draftKey) || '';

  ui.input.addEventListener('input', () => {
    selected = 0;
    updateCompletions();
    grow();
    store(draftKey, ui.input.value || null);
  });

  ui.input.addEventListener('keydown', (e) => {
    if (e.isComposing || e.keyCode === 229) return;
    const open = !ui.completions.hidden;
    const count = ui.completions.children.length;
    if (open && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      selected = (selected + (e.key === 'ArrowDown' ? 1 : count - 1)) % count;
      updateCompletions();
      return;
    }
    const choice = open && ui.completions.children[selected].dataset.name;
    // Enter on a command typed in full runs it; otherwise Enter (or Tab) completes the name.
    if (open && (e.key === 'Tab' || (e.key === 'Enter' && !e.shiftKey && ui.input.value !== '/' + choice))) {
      e.preventDefault();
      accept(choice);
      return;
    }
    if (open && e.key === 'Escape') {
      e.preventDefault();
      dismissed = ui.input.value;
      updateCompletions();
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      submit();
    }
  });

  ui.completions.addEventListener('pointerdown', (e) => {
    const li = e.target.closest('li[data-name]');
    if (!li) return;
    e.preventDefault();
    accept(li.dataset.name);
  });

  function submit() {
    const text = ui.input.value.trim();
    if (!text || locked) return;
    ui.input.value = '';
    store(draftKey, null);
    dismissed = null;
    updateCompletions();
    grow();
    sendMessage(text);
  }

  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
    ui.input.focus();
  });

  ui.stop.addEventListener('click', () => {
    if (locked) return;
    ui.stop.disabled = true;
    ui.stop.classList.add('stopping');
    publish([{ id: uuid(), type: 'control_request', payload: { request_id: uuid(), subtype: 'interrupt' } }])
      .catch((e) => {
        ui.stop.disabled = !!locked || sessionState !== 'running';
        notice('Could not stop: ' + e.message, null, 'error');
      });
  });

  // Keep the composer above an on-screen keyboard where dvh does not follow it (iOS).
  if (window.visualViewport) {
    const fit = () => {
      if (window.visualViewport.scale > 1.01) return;
      document.documentElement.style.setProperty('--app-height', window.visualViewport.height + 'px');
      if (stick) ui.scroller.scrollTop = ui.scroller.scrollHeight;
    };
    window.visualViewport.addEventListener('resize', fit);
    fit();
  }

  // ---------------------------------------------------------------- start

  setState(sessionState);
  setWorker(ui.worker.dataset.value === 'online');
  grow();

  const SCAN = 'Scan the code in the terminal (/session) to open this session here';

  // The key: from the fragment (kept for next time, unless this device keeps a newer
  // generation), else the one kept from an earlier scan. Without one the page shows nothing of
  // the stream: it could not tell the terminal's words from the relay's.
  async function unlock() {
    if (!Seal || !Seal.available()) {
      lock('insecure', 'This browser decrypts sessions only on pages served over HTTPS (or from this computer). '
        + 'Start the relay with --tls-cert and --tls-key, or use a relay behind HTTPS.');
      return false;
    }
    let kept = null;
    if (fragment && fragment.raw) {
      const key = await Seal.importKey(fragment.raw);
      const print = await Seal.fingerprint(fragment.raw);
      const before = await Seal.recall(sessionId).catch(() => null);
      // Anyone can make a link with a key of their own: a kept key is replaced only by a
      // newer generation, and only when the person says they just scanned it (after
      // /session revoke). Otherwise what they type would be sealed for whoever made the link.
      const other = before && before.print !== print;
      if (other && (fragment.g <= before.g || !window.confirm(
        `This link carries a different key for this session (generation ${fragment.g}; this device keeps generation ${before.g}). `
        + 'Use it only if you just scanned the code in your own terminal after /session revoke: anyone can make such a link. '
        + 'Replace the key this device keeps?'))) {
        kept = before;
        notice("This device kept its key for this session: the link's other key was not used.", null, 'error');
      } else {
        // Without IndexedDB (a private window, say) the key serves this page only.
        kept = await Seal.remember(sessionId, fragment.g, key, print).catch(() => ({ g: fragment.g, key, print }));
      }
    } else {
      kept = await Seal.recall(sessionId).catch(() => null);
    }
    if (!kept) {
      lock('nokey', (fragment && fragment.error ? fragment.error + ' ' : '') + SCAN);
      return false;
    }
    if (fragment && fragment.error) notice(fragment.error + ' This device keeps the key from an earlier scan.', null, 'error');
    generation = kept.g;
    keys = await Seal.deriveKeys(kept.key);
    haveKeys();
    return true;
  }

  // ---------------------------------------------------------------- notifications

  // "Notify me on this device" (docs/protocol.md 5.10): this browser's push subscription, kept
  // by the relay for the account under a device id of this browser's own. Permission is asked
  // for only when the button is tapped. Web Push needs a secure context and a service worker;
  // where there is neither, the button stays hidden.
  const pushable = window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  const DEVICE = /^[A-Za-z0-9_-]{1,64}$/;

  function deviceId() {
    let id = null;
    try { id = localStorage.getItem('tether.device'); } catch (_) { /* none kept */ }
    if (!id || !DEVICE.test(id)) {
      id = 'b_' + Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
      try { localStorage.setItem('tether.device', id); } catch (_) { /* this page only */ }
    }
    return id;
  }

  function setNotify(state, why) {
    ui.notify.dataset.state = state;
    ui.notify.setAttribute('aria-pressed', String(state === 'on'));
    const label = state === 'on' ? 'Notifications are on for this device (tap for settings)' : 'Notify me on this device';
    ui.notify.title = why || label;
    ui.notify.setAttribute('aria-label', label);
  }

  function applicationServerKey(text) {
    const bytes = Seal.b64url.decode(text);
    if (!bytes || bytes.length !== 65) throw new Error('the relay gave no usable push key');
    return bytes;
  }

  async function pushApi(path, init) {
    const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store', ...init });
    if (!r.ok) throw new Error(await refusal(r, `HTTP ${r.status}`));
    return r.status === 204 ? null : r.json();
  }

  // What this device is told about: the panel's boxes, checked as the relay lists this device.
  const kindBoxes = () => [...ui.notifyKinds.querySelectorAll('input[type=checkbox]')];
  const chosenKinds = () => kindBoxes().filter((b) => b.checked).map((b) => b.value);
  function showKinds(kinds) {
    for (const box of kindBoxes()) box.checked = kinds.includes(box.value);
  }

  async function putSubscription(sub, kinds) {
    const json = sub.toJSON();
    return pushApi('/v1/push/subscriptions/' + deviceId(), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth }, kinds }),
    });
  }

  // A box changed: the relay is told at once; refused, the boxes go back to what it keeps.
  async function changeKinds(box) {
    const kinds = chosenKinds();
    if (!kinds.length) {
      box.checked = true;
      notice('At least one kind stays on; to stop every notification, turn them off on this device.', null, 'info');
      return;
    }
    const stored = await pushApi('/v1/push/subscriptions/' + deviceId(), {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kinds }),
    });
    showKinds(stored.kinds);
  }

  function togglePanel(open) {
    ui.notifyPanel.hidden = !open;
    ui.notify.setAttribute('aria-expanded', String(open));
    if (open) kindBoxes()[0].focus();
  }

  async function notifyOn() {
    const permission = await Notification.requestPermission();
    if (permission !== 'granted') {
      setNotify('denied', 'Notifications are blocked for this site: allow them in the browser\'s settings.');
      return;
    }
    const registration = await navigator.serviceWorker.register('/sw.js');
    await navigator.serviceWorker.ready;
    const { public_key } = await pushApi('/v1/push/key');
    let sub = await registration.pushManager.getSubscription();
    if (!sub) {
      sub = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: applicationServerKey(public_key) });
    }
    const stored = await putSubscription(sub, chosenKinds().length ? chosenKinds() : kindBoxes().map((b) => b.value));
    showKinds(stored.kinds);
    setNotify('on');
  }

  async function notifyOff() {
    await pushApi('/v1/push/subscriptions/' + deviceId(), { method: 'DELETE' }).catch((e) => {
      if (!/404/.test(e.message)) throw e;
    });
    const registration = await navigator.serviceWorker.getRegistration('/');
    const sub = registration && await registration.pushManager.getSubscription();
    if (sub) await sub.unsubscribe();
    togglePanel(false);
    setNotify('off');
  }

  if (pushable && ui.notify) {
    ui.notify.hidden = false;
    (async () => {
      if (Notification.permission === 'denied') return setNotify('denied', 'Notifications are blocked for this site.');
      const registration = await navigator.serviceWorker.getRegistration('/');
      const sub = registration && await registration.pushManager.getSubscription();
      const mine = sub && (await pushApi('/v1/push/subscriptions')).devices.find((d) => d.device === deviceId());
      if (mine) showKinds(mine.kinds);
      setNotify(mine && Notification.permission === 'granted' ? 'on' : 'off');
    })().catch(() => setNotify('off'));
    // On: the bell opens what this device is told about, and the way to turn it off.
    ui.notify.setAttribute('aria-haspopup', 'dialog');
    ui.notify.setAttribute('aria-expanded', 'false');
    ui.notifyKinds.addEventListener('change', (e) => {
      changeKinds(e.target).catch((err) => {
        notice('The notification settings could not be saved: ' + (err && err.message ? err.message : err), null, 'error');
        pushApi('/v1/push/subscriptions').then((l) => {
          const mine = l.devices.find((d) => d.device === deviceId());
          if (mine) showKinds(mine.kinds);
        }, () => {});
      });
    });
    ui.notifyClose.addEventListener('click', () => togglePanel(false));
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !ui.notifyPanel.hidden) togglePanel(false);
    });
    ui.notifyOff.addEventListener('click', () => {
      notifyOff().catch((e) => notice('Notifications could not be turned off: ' + (e && e.message ? e.message : e), null, 'error'));
    });
    ui.notify.addEventListener('click', () => {
      if (ui.notify.dataset.state === 'on') return togglePanel(ui.notifyPanel.hidden);
      if (ui.notify.dataset.busy) return;
      ui.notify.dataset.busy = '1';
      const was = ui.notify.dataset.state;
      (was === 'on' ? notifyOff() : notifyOn())
        .catch((e) => {
          setNotify(was === 'on' ? 'on' : 'off');
          notice('Notifications could not be ' + (was === 'on' ? 'turned off' : 'turned on') + ': ' + (e && e.message ? e.message : e), null, 'error');
        })
        .finally(() => { delete ui.notify.dataset.busy; });
    });
  }

  // Looking (docs/protocol.md 5.10): while this page is visible and focused, it says so to the
  // relay, which then holds the worker's calls to this person's devices: someone is already
  // watching. Said again every 20 s (the relay forgets it after 45 s, so a page that dies
  // silently mutes nothing for long), and taken back when the page is hidden, blurred or left.
  const LOOK_EVERY_MS = 20000;
  let looking = false;
  let lookTimer = null;

  function look(leaving) {
    const visible = !leaving && document.visibilityState === 'visible' && document.hasFocus();
    clearTimeout(lookTimer);
    if (visible) lookTimer = setTimeout(() => look(false), LOOK_EVERY_MS);
    if (!visible && !looking) return;
    looking = visible;
    fetch('/v1/push/looking/' + encodeURIComponent(sessionId), {
      method: 'PUT',
      credentials: 'same-origin',
      keepalive: true,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ device: deviceId(), visible }),
    }).catch(() => { /* best effort: the relay forgets a silent page */ });
  }

  function watchLooking() {
    for (const name of ['focus', 'blur']) window.addEventListener(name, () => look(false));
    document.addEventListener('visibilitychange', () => look(false));
    window.addEventListener('pagehide', () => look(true));
    look(false);
  }

  unlock().then((ok) => {
    if (!ok) {
      setConnection('closed', '');
      return;
    }
    watchLooking();
    // Messages typed before a reload that the relay may not have yet: shown at once, sealed and
    // sent again with the same ids once the replay has caught up (a duplicate id is
    // recognised and dropped by the relay).
    for (const m of load('tether.pending.' + sessionId) || []) {
      if (m && typeof m.id === 'string' && typeof m.text === 'string') sendMessage(m.text, m.id, replayed);
    }
    connect();
  }, (e) => {
    console.error(e);
    lock('nokey', 'This session could not be opened here: ' + (e && e.message ? e.message : e) + '. ' + SCAN);
    setConnection('closed', '');
  });
})();
