// The seed guide's four passkey operations through the real @clerk/expo in one OS mode, then
// the refusals (docs/protocol.md §13.5). One OS per process: @clerk/expo keeps one Clerk
// instance per process, and Platform.OS is read when the SDK is loaded.
//
// The Expo seed bootstraps its user with a password sign-in; Latch is passkey-only, so the
// user signs up with a username instead (as the browser flow does) — the only departure.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { lastCall, loadExpo, wire } from './expo.mjs'
import { FINGERPRINT, OTHER_FINGERPRINT, startLatch } from './lib.mjs'
import { SoftDevice, apkKeyHashOrigin, unb64u } from './softauth.mjs'

export function expoSuite(os) {
  let latch
  let clerk
  let passkeys
  let secureStore
  const device = new SoftDevice()
  const username = `expo_${os}_${Date.now().toString(36)}`
  let passkeyId

  before(async () => {
    latch = await startLatch()
    ;({ clerk, passkeys, secureStore } = await loadExpo({ os, fapiUrl: latch.url, device }))
  })
  after(() => latch?.stop())

  test(`${os}: load sends _is_native=1, an empty authorization, no credentials; Latch issues a client`, () => {
    const client = lastCall(/^\/v1\/client$/, 'GET')
    assert.equal(client.query._is_native, '1')
    assert.equal(client.headers.authorization, '', 'no token yet: an empty header')
    assert.equal(client.credentials, 'omit')
    assert.equal(client.headers.origin, undefined)
    assert.ok(client.answerHeaders.authorization, 'a new client token in the Authorization answer')
    assert.equal(secureStore.get('__clerk_client_jwt'), client.answerHeaders.authorization, 'the token cache holds it')
    assert.ok(clerk.client?.id?.startsWith('client_'), 'clerk.client is Latch’s client')
    for (const w of wire) assert.notEqual(w.answerHeaders.authorization, '', `never an empty Authorization: ${w.path}`)
  })

  test(`${os}: sign up with a username and set the session active`, async () => {
    const signUp = await clerk.client.signUp.create({ username })
    assert.equal(signUp.status, 'complete')
    await clerk.setActive({ session: signUp.createdSessionId })
    assert.equal(clerk.user?.username, username)
    const sent = lastCall(/\/v1\/client\/sign_ups$/)
    assert.equal(sent.headers.authorization, secureStore.get('__clerk_client_jwt'), 'the next request carries the saved token')
  })

  test(`${os}: user.createPasskey() through the expo-passkeys wrapper`, async () => {
    const passkey = await clerk.user.createPasskey()
    assert.equal(passkey.verification?.status, 'verified')
    assert.equal(typeof passkey.name, 'string')
    passkeyId = passkey.id
    assert.deepEqual(device.calls.at(-1), { op: 'create', os, rpId: 'localhost', ...(os === 'ios' ? { displayName: username } : {}) })
    const begun = lastCall(/\/v1\/me\/passkeys$/)
    assert.ok(begun.query._clerk_session_id, 'the session is named')
    const sent = JSON.parse(lastCall(/attempt_verification$/).body.public_key_credential)
    if (os === 'ios') {
      assert.equal(sent.authenticatorAttachment, null, 'iOS: attachment null')
      assert.equal(sent.response.transports, undefined, 'iOS: no transports')
    } else {
      assert.equal(sent.authenticatorAttachment, 'platform')
      assert.deepEqual(sent.response.transports, ['internal', 'hybrid'])
    }
    const origin = JSON.parse(unb64u(sent.response.clientDataJSON)).origin
    assert.equal(origin, os === 'ios' ? 'https://localhost' : apkKeyHashOrigin(FINGERPRINT))
  })

  test(`${os}: signOut, then a discoverable sign-in with signIn.passkey() + finalize()`, async () => {
    await clerk.signOut()
    assert.equal(clerk.user, null)
    // What useSignIn() returns.
    const { signIn } = clerk.__internal_state.signInSignal()
    const { error } = await signIn.passkey({ flow: 'discoverable' })
    assert.equal(error, null, `${error?.message}: ${JSON.stringify(error?.errors ?? error)}`)
    await signIn.finalize()
    assert.equal(clerk.user?.username, username)
    const asserted = JSON.parse(lastCall(/attempt_first_factor$/).body.public_key_credential)
    assert.equal(JSON.parse(unb64u(asserted.response.clientDataJSON)).type, 'webauthn.get')
    assert.equal(device.calls.at(-1).op, 'get')
    assert.equal(device.calls.at(-1).rpId, 'localhost', 'the request nonce carries rpId')
  })

  test(`${os}: passkey.update({name}) and passkey.delete(), then user.reload() shows none`, async () => {
    const passkey = clerk.user.passkeys.find((p) => p.id === passkeyId)
    assert.ok(passkey, 'the passkey is in clerk.user.passkeys')
    const renamed = await passkey.update({ name: `${os} phone` })
    assert.equal(renamed.name, `${os} phone`)
    assert.equal(lastCall(/\/v1\/me\/passkeys\/pkey_/).query._method, 'PATCH')
    await clerk.user.reload()
    assert.equal(clerk.user.passkeys.find((p) => p.id === passkeyId)?.name, `${os} phone`)
    await passkey.delete()
    assert.equal(lastCall(/\/v1\/me\/passkeys\/pkey_/).query._method, 'DELETE')
    await clerk.user.reload()
    assert.equal(clerk.user.passkeys.length, 0)
  })

  test(`${os}: a replayed assertion and a stale challenge are refused`, async () => {
    await clerk.user.createPasskey()
    await clerk.signOut()
    const { signIn } = clerk.__internal_state.signInSignal()
    assert.equal((await signIn.passkey({ flow: 'discoverable' })).error, null)
    const done = lastCall(/attempt_first_factor$/)
    // The same answer again, on the same client: the challenge is spent.
    const replay = await rawPost(latch.url, done.path, done.body, secureStore.get('__clerk_client_jwt'))
    assert.ok(replay.status >= 400 && replay.status < 500, `replay answered ${replay.status}`)
    await signIn.finalize()
    await clerk.signOut()
    // A sign-in whose challenge was replaced (prepare_first_factor): the first one is stale.
    const token = secureStore.get('__clerk_client_jwt')
    const started = await rawPost(latch.url, '/v1/client/sign_ins', { strategy: 'passkey' }, token)
    const first = JSON.parse(started.body.response.first_factor_verification.nonce)
    const id = started.body.response.id
    const prepared = await rawPost(latch.url, `/v1/client/sign_ins/${id}/prepare_first_factor`, { strategy: 'passkey' }, token)
    assert.equal(prepared.status, 200)
    const module = globalThis.__LATCH_NATIVE_MODULES.ClerkExpoPasskeys
    const stale = await answerWith(module, os, first)
    const refused = await rawPost(latch.url, `/v1/client/sign_ins/${id}/attempt_first_factor`, { strategy: 'passkey', public_key_credential: stale }, token)
    assert.equal(refused.status, 422, JSON.stringify(refused.body))
    assert.equal(refused.body.errors[0].code, 'verification_failed')
  })

  test(`${os}: the wrapper refuses creation options without rp.id before the OS is asked`, async () => {
    const calls = device.calls.length
    await assert.rejects(
      passkeys.create({ rp: { name: 'x' }, user: { id: new Uint8Array([1]), name: 'n', displayName: 'n' }, challenge: new Uint8Array([1]), pubKeyCredParams: [], excludeCredentials: [] }),
      /Invalid public key or RpID/,
    )
    assert.equal(device.calls.length, calls)
  })

  test(`${os}: an app Latch does not know is refused`, async () => {
    // A second Latch with no apps configured, and (Android) an app signed with another key.
    const bare = await startLatch({ apps: os === 'android', extra: [] })
    try {
      const other = new SoftDevice()
      const { clerk: c } = await loadExpo({ os, fapiUrl: bare.url, device: other, fingerprint: OTHER_FINGERPRINT })
      const signUp = await c.client.signUp.create({ username: `${username}_x` })
      await c.setActive({ session: signUp.createdSessionId })
      await assert.rejects(c.user.createPasskey(), (e) => {
        assert.equal(e.errors?.[0]?.code, 'verification_failed', JSON.stringify(e.errors ?? e.message))
        return true
      })
      const refused = lastCall(/attempt_verification$/)
      assert.equal(refused.status, 422)
      assert.equal(refused.base, new URL(bare.url).origin)
    } finally {
      bare.stop()
    }
  })
}

/** A POST as the Expo app makes it (form body, the marker, the client token), outside the SDK. */
async function rawPost(base, path, form, token) {
  const url = new URL(path, base)
  url.searchParams.set('_is_native', '1')
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: token ?? '', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  })
  return { status: res.status, body: await res.json() }
}

/** The credential JSON clerk-js would post for an answer to `options` from the OS module. */
async function answerWith(module, os, options) {
  const answer = os === 'ios' ? await module.get(options.challenge, options.rpId) : JSON.parse(await module.get(JSON.stringify(options)))
  return JSON.stringify({ ...answer, authenticatorAttachment: answer.authenticatorAttachment ?? null })
}
