// The dev page's client: the same FAPI calls, form bodies and envelopes as clerk-js.
const API = '/v1';
const $ = (id) => document.getElementById(id);
let client = null;
let autofill = null;

const b64url = {
  decode: (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)),
  encode: (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
};

async function fapi(method, path, fields) {
  const url = new URL(API + path, location.origin);
  let verb = method;
  if (method !== 'GET' && method !== 'POST') { url.searchParams.set('_method', method); verb = 'POST'; }
  const session = client?.last_active_session_id;
  if (session && !path.startsWith('/client')) url.searchParams.set('_clerk_session_id', session);
  const res = await fetch(url, {
    method: verb,
    credentials: 'include',
    headers: verb === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
    body: verb === 'POST' ? new URLSearchParams(fields || {}) : undefined,
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = body.errors?.[0];
    throw new Error(e ? `${e.long_message} (${e.code})` : `HTTP ${res.status}`);
  }
  if ('client' in body) client = body.client;
  return body.response ?? body;
}

function say(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function currentUser() {
  const session = client?.sessions?.find((s) => s.id === client.last_active_session_id);
  return session?.user ?? null;
}

function render() {
  const user = currentUser();
  $('signed-out').hidden = !!user;
  $('signed-in').hidden = !user;
  if (!user) { startAutofill(); return; }
  $('who').textContent = user.username;
  const list = $('passkeys');
  list.replaceChildren();
  for (const pk of user.passkeys) {
    const li = document.createElement('li');
    const name = document.createElement('input');
    name.value = pk.name;
    name.setAttribute('aria-label', `Name of passkey ${pk.name}`);
    const rename = document.createElement('button');
    rename.textContent = 'Rename';
    rename.onclick = () => act(() => fapi('PATCH', `/me/passkeys/${pk.id}`, { name: name.value }), 'Renamed.');
    const del = document.createElement('button');
    del.textContent = 'Delete';
    del.onclick = () => act(() => fapi('DELETE', `/me/passkeys/${pk.id}`), 'Deleted.');
    const used = pk.last_used_at ? new Date(pk.last_used_at).toLocaleString() : 'never';
    li.append(name, ' ', rename, del, document.createTextNode(` last used: ${used}`));
    list.append(li);
  }
  if (!user.passkeys.length) list.innerHTML = '<li>No passkeys yet.</li>';
}

async function act(fn, done) {
  try { await fn(); say(done); } catch (e) { say(e.message, true); }
  render();
}

function credentialJSON(cred) {
  const r = cred.response;
  const response = { clientDataJSON: b64url.encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64url.encode(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = b64url.encode(r.authenticatorData);
    response.signature = b64url.encode(r.signature);
    response.userHandle = r.userHandle ? b64url.encode(r.userHandle) : null;
  }
  return JSON.stringify({ id: cred.id, rawId: b64url.encode(cred.rawId), type: cred.type, authenticatorAttachment: cred.authenticatorAttachment, response });
}

async function createPasskey() {
  const pending = await fapi('POST', '/me/passkeys');
  const options = JSON.parse(pending.verification.nonce);
  options.challenge = b64url.decode(options.challenge);
  options.user.id = b64url.decode(options.user.id);
  for (const c of options.excludeCredentials || []) c.id = b64url.decode(c.id);
  let cred;
  try {
    cred = await navigator.credentials.create({ publicKey: options });
  } catch (e) {
    await fapi('DELETE', `/me/passkeys/${pending.id}`).catch(() => {});
    throw new Error(`The browser did not create a passkey: ${e.message}`);
  }
  await fapi('POST', `/me/passkeys/${pending.id}/attempt_verification`, { strategy: 'passkey', public_key_credential: credentialJSON(cred) });
}

async function signIn(mediation) {
  if (autofill) autofill.abort();
  const controller = new AbortController();
  if (mediation === 'conditional') autofill = controller;
  const signIn = await fapi('POST', '/client/sign_ins', { strategy: 'passkey' });
  const options = JSON.parse(signIn.first_factor_verification.nonce);
  options.challenge = b64url.decode(options.challenge);
  for (const c of options.allowCredentials || []) c.id = b64url.decode(c.id);
  const cred = await navigator.credentials.get({ publicKey: options, mediation, signal: controller.signal });
  const done = await fapi('POST', `/client/sign_ins/${signIn.id}/attempt_first_factor`, { strategy: 'passkey', public_key_credential: credentialJSON(cred) });
  await fapi('POST', `/client/sessions/${done.created_session_id}/touch`, { intent: 'select_session' });
}

async function startAutofill() {
  if (autofill || !window.PublicKeyCredential?.isConditionalMediationAvailable) return;
  if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
  signIn('conditional').then(() => { autofill = null; say('Signed in.'); render(); }).catch((e) => {
    autofill = null;
    if (e.name !== 'AbortError') say(e.message, true);
  });
}

$('sign-up-form').onsubmit = (ev) => {
  ev.preventDefault();
  act(() => fapi('POST', '/client/sign_ups', { username: $('username').value }), 'Signed up. Now create a passkey.');
};
$('sign-in').onclick = () => act(() => signIn('optional'), 'Signed in.');
$('create-passkey').onclick = () => act(createPasskey, 'Passkey created.');
$('sign-out').onclick = () => act(() => fapi('DELETE', '/client/sessions'), 'Signed out.');
$('get-token').onclick = () => act(async () => {
  const t = await fapi('POST', `/client/sessions/${client.last_active_session_id}/tokens`);
  $('token').textContent = t.jwt;
}, 'Token issued.');

(async () => {
  const env = await fapi('GET', '/environment');
  $('rp-id').textContent = location.hostname;
  document.title = `${env.display_config.application_name} — try passkeys`;
  await fapi('GET', '/client').catch(() => {});
  render();
})();
