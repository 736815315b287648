// tether: the login form keeps the link's fragment. A session's key travels in it (#k=…,
// docs/protocol.md §4.7), and a form post would drop it: the form's address carries it, and
// the relay's 303 after the post, having no fragment of its own, inherits the request's.
'use strict';
(() => {
  const form = document.querySelector('form[method=post][action^="/login"]');
  if (form && location.hash) form.setAttribute('action', form.getAttribute('action').split('#')[0] + location.hash);
})();
