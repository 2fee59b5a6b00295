// The dev page's client; the FAPI calls and ceremonies live in fapi.js (shared with the portal).
import * as latch from './fapi.js';

const $ = (id) => document.getElementById(id);
const rpId = $('rp-id').textContent;
let autofill = null;

function say(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function render() {
  const user = latch.currentUser();
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
    rename.onclick = () => act(() => latch.renamePasskey(pk.id, name.value), 'Renamed.');
    const del = document.createElement('button');
    del.textContent = 'Delete';
    del.onclick = () => act(async () => {
      await latch.deletePasskey(pk.id);
      await latch.signals.acceptedCredentials(rpId, latch.currentUser());
    }, 'Deleted.');
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

async function signIn(mediation) {
  if (autofill) { autofill.abort(); autofill = null; }
  const controller = new AbortController();
  if (mediation === 'conditional') autofill = controller;
  await latch.signIn({ mediation, signal: controller.signal });
}

async function startAutofill() {
  if (autofill || !(await latch.conditionalMediationAvailable())) return;
  signIn('conditional').then(() => { autofill = null; say('Signed in.'); render(); }).catch((e) => {
    autofill = null;
    if (e.name !== 'AbortError') say(e.message, true);
  });
}

$('sign-up-form').onsubmit = (ev) => {
  ev.preventDefault();
  act(() => latch.signUp($('username').value), 'Signed up. Now create a passkey.');
};
$('sign-in').onclick = () => act(() => signIn('optional'), 'Signed in.');
$('create-passkey').onclick = () => act(latch.createPasskey, 'Passkey created.');
$('sign-out').onclick = () => act(latch.signOut, 'Signed out.');
$('get-token').onclick = () => act(async () => {
  const t = await latch.sessionToken();
  $('token').textContent = t.jwt;
}, 'Token issued.');

(async () => {
  const env = await latch.fapi('GET', '/environment');
  document.title = `${env.display_config.application_name} — try passkeys`;
  await latch.loadClient();
  render();
})();
