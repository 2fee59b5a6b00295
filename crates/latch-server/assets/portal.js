// The account portal's script: one per page kind (body[data-page]), over the shared FAPI client.
import * as latch from './fapi.js';

const $ = (id) => document.getElementById(id);
const page = document.body.dataset.page;
const rpId = document.body.dataset.rpId;
const FLASH = 'latch-portal-flash';
// Sessions (by id) whose automatic passkey upgrade this tab has already offered: once each.
const UPGRADE_OFFERED = 'latch-portal-upgrade-offered';

// ---------- messages (live regions) and navigation ----------

function say(text) {
  $('error').textContent = '';
  $('status').textContent = text;
}

function fail(err) {
  $('status').textContent = '';
  $('error').textContent = explain(err);
}

/** A message a person can act on, for a FAPI refusal or a browser's WebAuthn error. */
function explain(err) {
  if (err instanceof latch.BrowserRefused) {
    switch (err.cause?.name) {
      case 'SecurityError':
        return `This page (${location.host}) may not use passkeys for ${rpId}: a passkey works only on the domain it is bound to and its subdomains, or on origins the operator lists as related. (${err.cause.message})`;
      case 'NotAllowedError':
        return 'No passkey was used: the prompt was cancelled, timed out, or no passkey for this site is on this device.';
      case 'InvalidStateError':
        return 'This device already holds a passkey for your account.';
      default:
        return err.message;
    }
  }
  if (err instanceof latch.FapiError && err.code === 'origin_invalid') {
    return `This Latch does not accept requests from ${location.origin}: the operator must list it as an origin (or a related origin). (${err.message})`;
  }
  return err.message || String(err);
}

/**
 * Where a sign-in lands: the account page, or the admin console when the sign-in page was
 * opened from it (`?redirect_url=/console`). Only that one same-origin path is honoured, so the
 * parameter cannot send anyone elsewhere.
 */
const SIGNED_IN_HOME = new URLSearchParams(location.search).get('redirect_url') === '/console' ? '/console' : '/portal/account';

function go(path, flash) {
  if (flash) sessionStorage.setItem(FLASH, flash);
  location.assign(path);
}

function showFlash() {
  const text = sessionStorage.getItem(FLASH);
  if (text) {
    sessionStorage.removeItem(FLASH);
    say(text);
  }
}

/** Runs an action with its button disabled (and announced busy); errors go to the alert region. */
async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } catch (e) {
    fail(e);
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

function focus(el) {
  if (!el) return;
  if (!el.hasAttribute('tabindex') && !/^(A|BUTTON|INPUT)$/.test(el.tagName)) el.setAttribute('tabindex', '-1');
  el.focus();
}

const fillWho = (user) => document.querySelectorAll('.who').forEach((el) => { el.textContent = user.username; });

// ---------- sign-in: autofill on the username field, a button for a passkey prompt ----------

function signInPage() {
  let autofill = null; // {controller, done}

  async function stopAutofill() {
    if (!autofill) return;
    const { controller, done } = autofill;
    autofill = null;
    controller.abort();
    await done.catch(() => {});
  }

  async function startAutofill() {
    if (autofill || !(await latch.conditionalMediationAvailable())) return;
    const controller = new AbortController();
    const done = latch.signIn({ mediation: 'conditional', signal: controller.signal });
    autofill = { controller, done };
    done.then(
      () => go(SIGNED_IN_HOME, 'Signed in.'),
      (e) => {
        if (e.name === 'AbortError') return;
        if (autofill?.controller === controller) autofill = null;
        // A quiet end of autofill (nothing picked, nothing on this device) is not an error;
        // the button is still there. Anything else (e.g. this origin refused) is shown.
        if (e.cause?.name !== 'NotAllowedError') fail(e);
      },
    );
  }

  $('sign-in-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const identifier = $('username').value.trim();
    const ok = await busy($('sign-in'), async () => {
      await stopAutofill();
      say('Waiting for your passkey…');
      await latch.signIn({ mediation: 'optional', identifier: identifier || undefined });
      return true;
    });
    if (ok) go(SIGNED_IN_HOME, 'Signed in.');
    else startAutofill();
  });

  startAutofill();
}

// ---------- sign-up: a username, then the offer of a passkey ----------

function signUpPage() {
  const showPasskeyStep = (user) => {
    fillWho(user);
    $('step-username').hidden = true;
    $('step-passkey').hidden = false;
    focus($('passkey-title'));
  };

  $('sign-up-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = ev.submitter ?? $('sign-up-form').querySelector('button');
    const ok = await busy(button, async () => {
      await latch.signUp($('username').value.trim());
      return true;
    });
    if (ok) {
      say('Account created. Now add a passkey.');
      showPasskeyStep(latch.currentUser());
    } else {
      focus($('username'));
    }
  });

  $('create-passkey').addEventListener('click', async () => {
    say('Follow your browser’s prompt to create a passkey…');
    const ok = await busy($('create-passkey'), async () => {
      await latch.createPasskey();
      return true;
    });
    if (ok) go('/portal/account', 'Passkey created.');
  });
}

// ---------- account: passkeys (list, rename, delete, add) and sign-out ----------

function accountPage() {
  const list = $('passkeys');
  const when = (ms) => (ms ? new Date(ms).toLocaleString() : 'never');

  function render(focusAfter) {
    const user = latch.currentUser();
    if (!user) return go('/portal/sign-in', 'You are signed out.');
    fillWho(user);
    list.replaceChildren();
    for (const pk of user.passkeys) list.append(passkeyItem(pk));
    if (!user.passkeys.length) {
      const li = document.createElement('li');
      li.textContent = 'No passkeys yet. Without one you cannot sign in again after you sign out.';
      list.append(li);
    }
    $('lockout-nudge').hidden = !allDeviceBound(user.passkeys);
    $('account').hidden = false;
    if (focusAfter) focus(focusAfter());
  }

  /**
   * Where a passkey lives, from its BS flag (`backed_up`, a Latch extension of FAPI's passkey,
   * docs/protocol.md §21): synced by a password manager or cloud account, or on one device.
   */
  function storage(pk) {
    if (typeof pk.backed_up !== 'boolean') return '';
    return pk.backed_up ? ' · synced' : ' · this device only';
  }

  /** Whether the passkey can derive keys for the app (PRF, docs/protocol.md §22.2): said only when it reported so. */
  function prf(pk) {
    return pk.prf_enabled === true ? ' · PRF' : '';
  }

  /** A user whose passkeys are all device-bound is one lost device from lockout. */
  function allDeviceBound(passkeys) {
    return passkeys.length > 0 && passkeys.every((p) => p.backed_up === false);
  }

  const itemOf = (id) => list.querySelector(`li[data-passkey-id="${CSS.escape(id)}"]`);

  function button(label, hiddenSuffix, className) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    if (className) b.className = className;
    if (hiddenSuffix) {
      const span = document.createElement('span');
      span.className = 'visually-hidden';
      span.textContent = ` ${hiddenSuffix}`;
      b.append(span);
    }
    return b;
  }

  function passkeyItem(pk) {
    const li = document.createElement('li');
    li.dataset.passkeyId = pk.id;
    const name = document.createElement('span');
    name.className = 'passkey-name';
    name.textContent = pk.name;
    const meta = document.createElement('span');
    meta.className = 'passkey-meta';
    meta.textContent = `Created ${when(pk.created_at)} · last used ${when(pk.last_used_at)}${storage(pk)}${prf(pk)}`;
    meta.dataset.storage = typeof pk.backed_up === 'boolean' ? (pk.backed_up ? 'synced' : 'device') : '';
    const rename = button('Rename', pk.name);
    rename.dataset.action = 'rename';
    rename.addEventListener('click', () => renameForm(li, pk));
    const del = button('Delete', pk.name, 'danger');
    del.dataset.action = 'delete';
    del.addEventListener('click', () => confirmDelete(li, pk));
    li.append(name, meta, rename, del);
    return li;
  }

  function renameForm(li, pk) {
    const form = document.createElement('form');
    const input = document.createElement('input');
    input.id = `rename-${pk.id}`;
    input.value = pk.name;
    input.maxLength = 100;
    input.required = true;
    const label = document.createElement('label');
    label.htmlFor = input.id;
    label.textContent = `New name for passkey “${pk.name}”`;
    const save = button('Save');
    save.type = 'submit';
    const cancel = button('Cancel', null, 'secondary');
    const back = () => { render(() => itemOf(pk.id)?.querySelector('[data-action="rename"]')); };
    cancel.addEventListener('click', back);
    form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') back(); });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const ok = await busy(save, async () => {
        await latch.renamePasskey(pk.id, input.value);
        return true;
      });
      if (ok) {
        say(`Passkey renamed to “${input.value.trim()}”.`);
        back();
      } else {
        focus(input);
      }
    });
    form.append(label, input, save, cancel);
    li.replaceChildren(form);
    input.focus();
    input.select();
  }

  function confirmDelete(li, pk) {
    const user = latch.currentUser();
    const last = user.passkeys.length === 1;
    const question = document.createElement('p');
    question.id = `delete-question-${pk.id}`;
    question.textContent = `Delete passkey “${pk.name}”? It will no longer sign you in${last ? ', and it is your only passkey: you could not sign in again after signing out' : ''}.`;
    const yes = button('Delete passkey', null, 'danger');
    yes.setAttribute('aria-describedby', question.id);
    const no = button('Cancel', null, 'secondary');
    no.addEventListener('click', () => render(() => itemOf(pk.id)?.querySelector('[data-action="delete"]')));
    yes.addEventListener('click', async () => {
      const ok = await busy(yes, async () => {
        await latch.deletePasskey(pk.id);
        return true;
      });
      if (ok) {
        latch.signals.acceptedCredentials(rpId, latch.currentUser());
        say(`Passkey “${pk.name}” deleted.`);
        render(() => $('passkeys-title'));
      }
    });
    li.replaceChildren(question, yes, no);
    focus(no);
  }

  // The automatic upgrade (docs/protocol.md §20.1): after a sign-in by link, or with a passkey
  // from another device (a phone by QR code, a security key), ask this device's password
  // manager for a passkey with conditional create — no prompt; it may create one quietly, or
  // never answer. Stopped before anything else runs a WebAuthn call (one at a time).
  let upgrade = null; // {controller, done}

  /** Whether the session was signed in without a passkey of this device: the server says how. */
  function signedInFromElsewhere(session) {
    return session?.sign_in_strategy === 'ticket' || session?.sign_in_authenticator_attachment === 'cross-platform';
  }

  async function stopUpgrade() {
    if (!upgrade) return;
    const { controller, done } = upgrade;
    upgrade = null;
    controller.abort();
    await done.catch(() => {});
  }

  async function offerUpgrade() {
    const session = latch.currentSession();
    // A passkey made during this session is taken to be this device's: nothing to offer.
    const addedSince = latch.currentUser()?.passkeys.some((p) => p.created_at >= session?.created_at);
    if (!signedInFromElsewhere(session) || addedSince) return;
    $('upgrade-note').hidden = session.sign_in_strategy !== 'passkey';
    const offered = JSON.parse(sessionStorage.getItem(UPGRADE_OFFERED) ?? '[]');
    if (offered.includes(session.id)) return;
    sessionStorage.setItem(UPGRADE_OFFERED, JSON.stringify([...offered, session.id]));
    if (!(await latch.conditionalCreateAvailable())) return;
    const controller = new AbortController();
    const done = latch.createPasskey({ mediation: 'conditional', signal: controller.signal });
    upgrade = { controller, done };
    done.then(
      () => {
        if (upgrade?.controller === controller) upgrade = null;
        $('upgrade-note').hidden = true;
        latch.signals.acceptedCredentials(rpId, latch.currentUser());
        say('Your password manager saved a passkey for this account: next time, sign in with it.');
        render();
      },
      () => {
        // Declined, not offered, or stopped: the button is still there.
        if (upgrade?.controller === controller) upgrade = null;
      },
    );
  }

  $('create-passkey').addEventListener('click', async () => {
    say('Follow your browser’s prompt to create a passkey…');
    const before = new Set(latch.currentUser()?.passkeys.map((p) => p.id));
    const ok = await busy($('create-passkey'), async () => {
      await stopUpgrade();
      await latch.createPasskey();
      return true;
    });
    if (ok) {
      $('upgrade-note').hidden = true;
      latch.signals.acceptedCredentials(rpId, latch.currentUser());
      const added = latch.currentUser()?.passkeys.find((p) => !before.has(p.id));
      say(added ? `Passkey “${added.name}” created.` : 'Passkey created.');
      render(() => (added ? itemOf(added.id)?.querySelector('[data-action="rename"]') : $('passkeys-title')));
    }
  });

  $('sign-out').addEventListener('click', async () => {
    const ok = await busy($('sign-out'), async () => {
      await stopUpgrade();
      await latch.signOut();
      return true;
    });
    if (ok) go('/portal/sign-in', 'Signed out.');
  });

  render();
  // Bring the passkey provider in line with Latch: passkeys deleted elsewhere (another device,
  // the console, the Backend API) stop being offered, and the name shown is the current one.
  const user = latch.currentUser();
  if (user) {
    latch.signals.acceptedCredentials(rpId, user);
    latch.signals.userDetails(rpId, user);
    offerUpgrade();
  }
}

// ---------- start ----------

(async () => {
  showFlash();
  const user = (await latch.loadClient(), latch.currentUser());
  if (page === 'sign-in') {
    // A recovery link (`?__clerk_ticket=`): redeem it once, then drop it from the address bar.
    const ticket = new URLSearchParams(location.search).get('__clerk_ticket');
    if (ticket) history.replaceState(null, '', location.pathname);
    if (user) return go(SIGNED_IN_HOME);
    if (ticket) {
      say('Signing you in with your link…');
      await latch.signInWithTicket(ticket);
      return go('/portal/account', 'Signed in with your link. Add a passkey to sign in next time.');
    }
    signInPage();
  } else if (page === 'sign-up') {
    if (user) return go('/portal/account');
    signUpPage();
  } else if (page === 'account') {
    accountPage();
  }
  document.body.dataset.ready = 'true';
})().catch(fail);
