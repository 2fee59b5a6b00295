// The FAPI client shared by the dev page and the account portal: the same calls, form bodies
// and envelopes as clerk-js, and the WebAuthn ceremonies around them. No dependencies.
const API = '/v1';
let client = null;

export const b64url = {
  decode: (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)),
  encode: (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
};

/** A refusal from Latch: `code` is the Clerk error code (`origin_invalid`, `form_identifier_not_found`, …). */
export class FapiError extends Error {
  constructor(message, code, status, meta) {
    super(message);
    this.name = 'FapiError';
    this.code = code;
    this.status = status;
    this.meta = meta ?? {};
  }
}

/** A WebAuthn call the browser refused; `cause.name` is the DOMException's (SecurityError, NotAllowedError, …). */
export class BrowserRefused extends Error {
  constructor(what, cause) {
    super(`The browser did not ${what}: ${cause.message}`);
    this.name = 'BrowserRefused';
    this.cause = cause;
  }
}

export async function fapi(method, path, fields) {
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
    throw new FapiError(e ? `${e.long_message} (${e.code})` : `HTTP ${res.status}`, e?.code, res.status, e?.meta);
  }
  if ('client' in body) client = body.client;
  return body.response ?? body;
}

/** Loads the browser's client (its sessions and signed-in user), if it has one. */
export async function loadClient() {
  await fapi('GET', '/client').catch(() => {});
  return client;
}

export const currentClient = () => client;

/** The client's active session (FAPI's SessionJSON), or null when signed out. */
export function currentSession() {
  return client?.sessions?.find((s) => s.id === client.last_active_session_id) ?? null;
}

export function currentUser() {
  return currentSession()?.user ?? null;
}

export function credentialJSON(cred) {
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
  const json = { id: cred.id, rawId: b64url.encode(cred.rawId), type: cred.type, authenticatorAttachment: cred.authenticatorAttachment, response };
  // At registration, whether the PRF extension Latch asked for is enabled (docs/protocol.md
  // §22.2): Latch records it per passkey. clerk-js sends no client extension results.
  const prf = r.attestationObject && cred.getClientExtensionResults ? cred.getClientExtensionResults().prf : undefined;
  if (typeof prf?.enabled === 'boolean') json.clientExtensionResults = { prf: { enabled: prf.enabled } };
  return JSON.stringify(json);
}

export async function signUp(username) {
  return fapi('POST', '/client/sign_ups', { username });
}

/**
 * Creates a passkey for the signed-in user; a prompt the browser refuses leaves nothing behind.
 * `mediation: 'conditional'`: no prompt, the password manager may create one quietly
 * (the automatic upgrade, docs/protocol.md §20); an aborted `signal` rejects with an AbortError.
 */
export async function createPasskey({ mediation, signal } = {}) {
  const pending = await fapi('POST', '/me/passkeys');
  const options = JSON.parse(pending.verification.nonce);
  options.challenge = b64url.decode(options.challenge);
  options.user.id = b64url.decode(options.user.id);
  for (const c of options.excludeCredentials || []) c.id = b64url.decode(c.id);
  let cred;
  try {
    cred = await navigator.credentials.create({ publicKey: options, ...(mediation ? { mediation } : {}), signal });
  } catch (e) {
    await fapi('DELETE', `/me/passkeys/${pending.id}`).catch(() => {});
    if (e.name === 'AbortError') throw e;
    throw new BrowserRefused('create a passkey', e);
  }
  return fapi('POST', `/me/passkeys/${pending.id}/attempt_verification`, { strategy: 'passkey', public_key_credential: credentialJSON(cred) });
}

/**
 * Signs in with a passkey. `mediation`: 'optional' (a prompt) or 'conditional' (autofill);
 * with an `identifier` only that user's passkeys are offered. An aborted `signal` rejects
 * with an AbortError.
 */
export async function signIn({ mediation = 'optional', signal, identifier } = {}) {
  const fields = { strategy: 'passkey' };
  if (identifier) fields.identifier = identifier;
  const started = await fapi('POST', '/client/sign_ins', fields);
  const options = JSON.parse(started.first_factor_verification.nonce);
  options.challenge = b64url.decode(options.challenge);
  for (const c of options.allowCredentials || []) c.id = b64url.decode(c.id);
  let cred;
  try {
    cred = await navigator.credentials.get({ publicKey: options, mediation, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new BrowserRefused('use a passkey', e);
  }
  let done;
  try {
    done = await fapi('POST', `/client/sign_ins/${started.id}/attempt_first_factor`, { strategy: 'passkey', public_key_credential: credentialJSON(cred) });
  } catch (e) {
    if (e.code === 'passkey_not_registered') await signals.unknownCredential(e.meta.data);
    throw e;
  }
  await fapi('POST', `/client/sessions/${done.created_session_id}/touch`, { intent: 'select_session' });
  return currentUser();
}

/**
 * Signs in with a sign-in token: a one-time ticket from the Backend API or
 * `latch sign-in-token` (the way back in for a user who lost every passkey).
 */
export async function signInWithTicket(ticket) {
  const done = await fapi('POST', '/client/sign_ins', { strategy: 'ticket', ticket });
  await fapi('POST', `/client/sessions/${done.created_session_id}/touch`, { intent: 'select_session' });
  return currentUser();
}

export async function signOut() {
  return fapi('DELETE', '/client/sessions');
}

export async function renamePasskey(id, name) {
  return fapi('PATCH', `/me/passkeys/${id}`, { name });
}

export async function deletePasskey(id) {
  return fapi('DELETE', `/me/passkeys/${id}`);
}

export async function sessionToken() {
  return fapi('POST', `/client/sessions/${client.last_active_session_id}/tokens`);
}

/** Whether the browser offers conditional create (a passkey made without a prompt). */
export async function conditionalCreateAvailable() {
  try {
    return !!(await window.PublicKeyCredential?.getClientCapabilities?.())?.conditionalCreate;
  } catch {
    return false;
  }
}

export async function conditionalMediationAvailable() {
  return !!(window.PublicKeyCredential?.isConditionalMediationAvailable && (await PublicKeyCredential.isConditionalMediationAvailable()));
}

/**
 * WebAuthn's Signal API (docs/protocol.md §20): tells the browser's passkey provider what
 * Latch holds, so it stops offering passkeys deleted here and shows the current name. Each
 * call is feature-detected and never throws: a browser without it, or a provider that
 * refuses, leaves the page as it was.
 */
export const signals = {
  /** After `passkey_not_registered`: its `meta.data` is `{rpId, credentialId}`. */
  unknownCredential: (data) =>
    quietly('signalUnknownCredential', data?.rpId && data?.credentialId ? { rpId: data.rpId, credentialId: data.credentialId } : null),
  /** The user's passkeys are exactly these: the provider may hide or remove the others. */
  acceptedCredentials: (rpId, user) =>
    quietly('signalAllAcceptedCredentials', user && { rpId, userId: user.webauthn_user_id, allAcceptedCredentialIds: user.passkeys.map((p) => p.credential_id) }),
  /** The name the provider shows for the user's passkeys. */
  userDetails: (rpId, user) =>
    quietly('signalCurrentUserDetails', user && { rpId, userId: user.webauthn_user_id, name: user.username, displayName: user.username }),
};

async function quietly(method, args) {
  if (!args || typeof window.PublicKeyCredential?.[method] !== 'function') return;
  try {
    await PublicKeyCredential[method](args);
  } catch {
    // A hint, not a requirement: the provider may refuse it (e.g. an RP ID this origin may not use).
  }
}
