// The admin console's script (docs/protocol.md §17). It holds no power of its own: it signs
// nothing and reads nothing but through the Backend API, with the signed-in session's token
// (minted through FAPI on this origin, refreshed before it expires, as clerk-js does) as
// `Authorization: Bearer`. Every check is the server's; a destructive call answered
// `session_reverification_required` runs the session-verification passkey ceremony clerk-js
// uses, then is retried once. Data is written with textContent only, never as HTML.
import * as latch from './fapi.js';

const $ = (id) => document.getElementById(id);
const BAPI = '/bapi/v1';
/** Mint a new token when the one held has less than this many seconds left (clerk-js: ~17). */
const REFRESH_BEFORE_SECS = 20;
const AUDIT_PAGE = 20;

// ---------- messages ----------

function say(text) {
  $('error').textContent = '';
  $('status').textContent = text;
}

function fail(err) {
  $('status').textContent = '';
  $('error').textContent = err?.message || String(err);
}

async function busy(button, fn) {
  button.disabled = true;
  try {
    return await fn();
  } catch (e) {
    fail(e);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

const when = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');

// ---------- the session token and the Backend API ----------

let token = null;
let tokenExp = 0;

async function sessionJwt() {
  if (token && tokenExp - Date.now() / 1000 > REFRESH_BEFORE_SECS) return token;
  const minted = await latch.sessionToken();
  token = minted.jwt;
  const payload = JSON.parse(new TextDecoder().decode(latch.b64url.decode(token.split('.')[1])));
  tokenExp = payload.exp;
  return token;
}

/** A Backend API refusal: `code` is Clerk's error code. */
class BapiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

async function bapi(method, path, body, retried = false) {
  const res = await fetch(BAPI + path, {
    method,
    credentials: 'omit', // the Backend API reads no cookie: the bearer token is everything
    headers: { authorization: `Bearer ${await sessionJwt()}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = json.errors?.[0];
    if (e?.code === 'session_reverification_required' && !retried) {
      await reverify();
      return bapi(method, path, body, true);
    }
    throw new BapiError(e ? `${e.long_message} (${e.code})` : `HTTP ${res.status}`, e?.code, res.status);
  }
  return json;
}

/** The session-verification ceremony (protocol §16): a fresh passkey assertion for this session. */
async function reverify() {
  say('This action needs a fresh confirmation: use your passkey…');
  const sid = latch.currentClient().last_active_session_id;
  await latch.fapi('POST', `/client/sessions/${sid}/verify`, { level: 'first_factor' });
  const prepared = await latch.fapi('POST', `/client/sessions/${sid}/verify/prepare_first_factor`, { strategy: 'passkey' });
  const options = JSON.parse(prepared.first_factor_verification.nonce);
  options.challenge = latch.b64url.decode(options.challenge);
  for (const c of options.allowCredentials || []) c.id = latch.b64url.decode(c.id);
  let cred;
  try {
    cred = await navigator.credentials.get({ publicKey: options });
  } catch (e) {
    throw new latch.BrowserRefused('use a passkey', e);
  }
  await latch.fapi('POST', `/client/sessions/${sid}/verify/attempt_first_factor`, {
    strategy: 'passkey',
    public_key_credential: latch.credentialJSON(cred),
  });
}

// ---------- tables ----------

function cell(text, code = false) {
  const td = document.createElement('td');
  if (code) {
    const c = document.createElement('code');
    c.textContent = text ?? '—';
    td.append(c);
  } else {
    td.textContent = text ?? '—';
  }
  return td;
}

function button(label, className, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  if (className) b.className = className;
  b.addEventListener('click', () => onClick(b));
  return b;
}

function fill(tableId, rows, empty) {
  const body = $(tableId).querySelector('tbody');
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = cell(empty);
    td.colSpan = $(tableId).querySelectorAll('th').length;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const cells of rows) {
    const tr = document.createElement('tr');
    tr.append(...cells);
    body.append(tr);
  }
}

// ---------- users ----------

async function searchUsers(query) {
  const params = new URLSearchParams({ limit: '50' });
  if (query) params.set('query', query);
  const users = await bapi('GET', `/users?${params}`);
  fill('users', users.map((u) => {
    const open = document.createElement('td');
    open.append(button('Open', 'secondary', () => openUser(u.id).catch(fail)));
    return [cell(u.username), cell(u.id, true), cell(when(u.created_at)), open];
  }), 'No user matches.');
}

let shownUser = null;

function storage(p) {
  if (p.backed_up) return 'Synced (backed up)';
  if (p.backup_eligible) return 'Backup eligible, not backed up yet';
  return 'Device-bound';
}

// The PRF extension's result at registration, as the browser reported it (null: not reported,
// as clerk-js never does).
function prf(p) {
  if (p.prf_enabled === true) return 'Supported';
  if (p.prf_enabled === false) return 'Not supported';
  return 'Not reported';
}

async function openUser(id) {
  const user = await bapi('GET', `/users/${encodeURIComponent(id)}`);
  shownUser = user;
  $('user').hidden = false;
  $('user-name').textContent = user.username;
  $('user-id').textContent = user.id;
  $('recovery').hidden = true;
  $('recovery-url').value = '';
  await Promise.all([showPasskeys(user.id), showSessions(user.id)]);
  $('user-title').focus();
}

// The authenticator's name, after its icon for the page's colour scheme when Latch knows one
// (a data: image URI from Latch's own dataset; anything else is not shown).
function authenticatorCell(p) {
  const td = cell(p.authenticator_name ?? 'Unknown authenticator');
  const dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  const src = dark ? p.authenticator_icon_dark : p.authenticator_icon_light;
  if (typeof src === 'string' && src.startsWith('data:image/')) {
    const icon = document.createElement('img');
    icon.src = src;
    icon.alt = '';
    icon.width = 20;
    icon.height = 20;
    icon.className = 'authenticator-icon';
    td.prepend(icon, ' ');
  }
  return td;
}

async function showPasskeys(userId) {
  const { data } = await bapi('GET', `/passkeys?user_id=${encodeURIComponent(userId)}`);
  fill('passkeys', data.map((p) => {
    const actions = document.createElement('td');
    actions.append(button('Delete passkey', 'danger', (b) => busy(b, async () => {
      await bapi('DELETE', `/users/${encodeURIComponent(userId)}/passkeys/${encodeURIComponent(p.id)}`);
      say(`Passkey “${p.name}” deleted.`);
      await showPasskeys(userId);
      await loadAudit();
    })));
    return [cell(p.name), authenticatorCell(p), cell(when(p.created_at)), cell(when(p.last_used_at)), cell(storage(p)), cell(prf(p)), actions];
  }), 'No passkeys.');
}

async function showSessions(userId) {
  const { data } = await bapi('GET', `/sessions?user_id=${encodeURIComponent(userId)}&paginated=true&limit=50`);
  fill('sessions', data.map((s) => {
    const actions = document.createElement('td');
    if (s.status === 'active' || s.status === 'pending') {
      actions.append(button('Revoke', 'danger', (b) => busy(b, async () => {
        await bapi('POST', `/sessions/${encodeURIComponent(s.id)}/revoke`);
        say(`Session ${s.id} revoked.`);
        await showSessions(userId);
        await loadAudit();
      })));
    }
    return [cell(s.id, true), cell(s.status), cell(when(s.last_active_at)), actions];
  }), 'No sessions.');
}

// ---------- audit ----------

let auditOffset = 0;

async function loadAudit() {
  const params = new URLSearchParams({ limit: String(AUDIT_PAGE), offset: String(auditOffset) });
  const user = $('audit-user').value.trim();
  const action = $('audit-action').value.trim();
  if (user) params.set('user_id', user);
  if (action) params.set('action', action);
  const { data, total_count: total } = await bapi('GET', `/audit_events?${params}`);
  $('audit-count').textContent = total === 0 ? 'No lines.' : `Lines ${auditOffset + 1}–${auditOffset + data.length} of ${total}, newest first.`;
  $('audit-prev').disabled = auditOffset === 0;
  $('audit-next').disabled = auditOffset + data.length >= total;
  fill('audit', data.map((e) => {
    const by = e.actor ? `${e.actor.type === 'operator' ? 'operator' : 'secret key'} ${e.actor.id}` : (e.client_ip ?? '—');
    return [cell(when(e.at)), cell(e.action), cell(e.error_code ? `${e.outcome} (${e.error_code})` : e.outcome), cell(e.user_id, true), cell(by)];
  }), 'No lines.');
}

// ---------- webhooks ----------

async function loadDeliveries() {
  const status = $('delivery-status').value;
  const { data } = await bapi('GET', `/webhooks/deliveries?status=${status}&limit=50`);
  fill('deliveries', data.map((d) => {
    const actions = document.createElement('td');
    actions.append(button('Replay', 'secondary', (b) => busy(b, async () => {
      const done = await bapi('POST', `/webhooks/deliveries/${encodeURIComponent(d.id)}/replay`);
      say(`Delivery of ${d.event_type} queued again (${done.replayed}).`);
      await loadDeliveries();
      await loadAudit();
    })));
    return [cell(d.event_type), cell(d.status), cell(String(d.attempts)), cell(d.last_error), actions];
  }), status === 'failed' ? 'No failed deliveries.' : 'No pending deliveries.');
}

// ---------- wiring ----------

function wire() {
  $('user-search').addEventListener('submit', (e) => {
    e.preventDefault();
    searchUsers($('user-query').value.trim()).catch(fail);
  });
  $('issue-link').addEventListener('click', () => busy($('issue-link'), async () => {
    const issued = await bapi('POST', '/sign_in_tokens', { user_id: shownUser.id });
    $('recovery-url').value = issued.url ?? issued.token;
    $('recovery').hidden = false;
    say(`Recovery link issued for ${shownUser.username}: it is shown only now.`);
    await loadAudit();
  }));
  $('copy-link').addEventListener('click', () => busy($('copy-link'), async () => {
    await navigator.clipboard.writeText($('recovery-url').value);
    say('Recovery link copied.');
  }));
  $('delete-user').addEventListener('click', () => busy($('delete-user'), async () => {
    if (!window.confirm(`Delete ${shownUser.username} with every passkey and session?`)) return;
    await bapi('DELETE', `/users/${encodeURIComponent(shownUser.id)}`);
    say(`User ${shownUser.username} deleted.`);
    $('user').hidden = true;
    await searchUsers($('user-query').value.trim());
    await loadAudit();
  }));
  $('audit-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    auditOffset = 0;
    loadAudit().catch(fail);
  });
  $('audit-prev').addEventListener('click', () => { auditOffset = Math.max(0, auditOffset - AUDIT_PAGE); loadAudit().catch(fail); });
  $('audit-next').addEventListener('click', () => { auditOffset += AUDIT_PAGE; loadAudit().catch(fail); });
  $('deliveries-load').addEventListener('click', () => loadDeliveries().catch(fail));
  $('delivery-status').addEventListener('change', () => loadDeliveries().catch(fail));
}

(async () => {
  await latch.loadClient();
  const user = latch.currentUser();
  if (!user) {
    $('signed-out').hidden = false;
    return;
  }
  $('who').textContent = `Signed in as ${user.username}`;
  try {
    await bapi('GET', '/users?limit=1');
  } catch (e) {
    if (e instanceof BapiError && (e.status === 401 || e.status === 403)) {
      $('refused').hidden = false;
      $('refused-text').append(` (${e.message})`);
      return;
    }
    throw e;
  }
  $('console').hidden = false;
  wire();
  await Promise.all([searchUsers(''), loadAudit(), loadDeliveries()]);
})()
  .catch(fail)
  .finally(() => { document.body.dataset.ready = 'true'; });
