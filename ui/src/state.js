// The page's state lives in the URL: every view can be reloaded, shared and
// navigated with back/forward. get() reads the current URL; set() writes a
// patch (push for navigation, replace for small edits such as typing) and
// tells the listeners.

const DEFAULTS = {
  from: 'now-1h',
  until: 'now',
  view: 'both',
  orient: 'top',
  maxNodes: '8192',
};

let listeners = [];

export function get() {
  const u = new URL(location.href);
  const s = { page: u.pathname.replace(/^\/+|\/+$/g, '') || 'explore' };
  for (const [k, v] of u.searchParams) s[k] = v;
  for (const [k, v] of Object.entries(DEFAULTS)) if (s[k] === undefined) s[k] = v;
  return s;
}

// Applies `patch` (undefined/null/'' remove a key). `replace` keeps the
// history entry (typing, toggles that should not fill the back button).
export function set(patch, { replace = false, page } = {}) {
  const u = new URL(location.href);
  if (page !== undefined) u.pathname = page === 'explore' ? '/' : `/${page}`;
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined || v === null || v === '' || v === false || v === DEFAULTS[k]) u.searchParams.delete(k);
    else u.searchParams.set(k, v === true ? '1' : String(v));
  }
  if (u.href === location.href) return;
  if (replace) history.replaceState(null, '', u);
  else history.pushState(null, '', u);
  notify();
}

export function href(page, params) {
  const u = new URL(location.origin);
  u.pathname = page === 'explore' ? '/' : `/${page}`;
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '' && v !== DEFAULTS[k]) u.searchParams.set(k, v);
  }
  return u.pathname + u.search;
}

export function subscribe(fn) {
  listeners.push(fn);
}

function notify() {
  const s = get();
  for (const fn of listeners) fn(s);
}

window.addEventListener('popstate', notify);
