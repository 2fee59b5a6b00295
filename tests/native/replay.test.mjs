// Source-derived replays of ClerkKit 1.4.1 and clerk-android 1.1.3 against Latch
// (docs/protocol.md §13.5): neither SDK builds on Linux (ClerkKit imports Apple frameworks;
// clerk-android's dependencies live on Google Maven), so their requests are replayed from the
// fixtures in fixtures/, which cite the SDK lines they come from, with the software
// authenticator answering as the OS would. Every answer must decode under that SDK's
// required-field table (decoders.mjs), the client token must travel as the SDK keeps it, and
// a passkey made through the browser transport must sign in natively and the other way round.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { answerProblems } from './decoders.mjs'
import * as android from './fixtures/android-1.1.3.mjs'
import * as ios from './fixtures/ios-1.4.1.mjs'
import { FINGERPRINT, startLatch } from './lib.mjs'
import { SoftDevice, apkKeyHashOrigin } from './softauth.mjs'

let latch
before(async () => {
  latch = await startLatch()
})
after(() => latch?.stop())

/** One app install speaking as `sdk` does: its token, its client id, what it saved. */
class NativeInstall {
  constructor(sdk, device = new SoftDevice()) {
    this.sdk = sdk
    this.device = device
    this.token = null
    this.clientId = null
    this.saved = { username: `${sdk.os}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}` }
    this.nonces = []
  }

  fill(text) {
    return text.replace(/\{(\w+)\}/g, (_, k) => this.saved[k] ?? `{${k}}`)
  }

  credential(kind) {
    const origin = this.sdk.origin('localhost', FINGERPRINT)
    const extra = this.sdk.clientData ?? {}
    if (kind === '$registration') return this.sdk.credential.registration(this.device.register(this.nonces.at(-1), origin, extra))
    const options = kind === '$assertion:stale' ? this.nonces.at(-2) : this.nonces.at(-1)
    return this.sdk.credential.assertion(this.device.assert(options, origin, extra))
  }

  /** Sends `step` exactly as the fixture says; returns { status, headers, body }. */
  async send(step) {
    const url = new URL(this.fill(step.path), latch.url)
    for (const [k, v] of Object.entries({ ...(step.query ?? {}), ...this.sdk.query })) url.searchParams.set(k, this.fill(v))
    const headers = { ...this.sdk.headers }
    if (this.token) headers.authorization = this.token
    if (this.sdk.sendsClientIdHeader && this.clientId) headers['x-clerk-client-id'] = this.clientId
    let body
    if (step.form) {
      const form = new URLSearchParams()
      for (const [k, v] of Object.entries(step.form)) form.append(k, v.startsWith('$') ? (v === '$username' ? this.saved.username : this.credential(v)) : this.fill(v))
      body = form.toString()
      if (this.sdk.formContentType) headers['content-type'] = this.sdk.formContentType
    }
    const res = await fetch(url, { method: step.method, headers, body, redirect: 'manual' })
    const text = await res.text()
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null, text }
  }
}

function replay(fixture) {
  describe(`${fixture.sdk.name} ${fixture.sdk.version} (${fixture.sdk.source})`, () => {
    const app = new NativeInstall(fixture.sdk)
    for (const step of fixture.steps) {
      test(`${step.method} ${step.path}: ${step.name} [${step.cite}]`, async () => {
        const r = await app.send(step)
        const answered = r.headers.get('authorization')
        assert.notEqual(answered, '', 'never an empty Authorization answer')
        if (step.expectNewToken) assert.ok(answered, 'a tokenless install gets its client token')
        if (answered) app.token = answered
        if (step.expectStatus) {
          assert.equal(r.status, step.expectStatus, r.text)
          assert.ok(r.body.errors?.[0]?.code, 'the error decodes (errors[].code)')
          return
        }
        assert.equal(r.status, 200, r.text)
        assert.match(r.headers.get('content-type') ?? '', /^application\/json/)
        assert.ok(r.headers.get('date'), 'a Date header')
        assert.deepEqual(answerProblems(fixture.sdk.os, step.decodeAs, r.body), [], `${fixture.sdk.os} cannot decode this answer`)
        const response = step.decodeAs === 'Token' || step.decodeAs === 'Environment' ? r.body : r.body.response
        const client = step.decodeAs === 'Client' ? r.body.response : r.body.client
        if (client?.id) app.clientId = client.id
        for (const [name, key] of Object.entries(step.save ?? {})) app.saved[name] = response[key]
        if (step.nonce) {
          const nonce = response[step.nonce].nonce
          assert.equal(typeof nonce, 'string', 'the nonce is a JSON string')
          const options = JSON.parse(nonce)
          if (step.nonce === 'verification') {
            // Android hands it to Credential Manager verbatim: valid creation options JSON.
            assert.equal(options.rp.id, 'localhost')
            assert.ok(options.user.id && options.user.name && options.challenge)
            assert.ok(options.pubKeyCredParams.some((p) => p.alg === -7 && p.type === 'public-key'))
            assert.ok(Array.isArray(options.excludeCredentials ?? []))
          } else {
            assert.equal(options.rpId, 'localhost', 'request options carry rpId')
            assert.deepEqual(options.allowCredentials ?? [], [], 'discoverable: allowCredentials []')
          }
          if (step.expectFreshNonce) assert.notEqual(options.challenge, app.nonces.at(-1).challenge, 'prepare issues a fresh challenge')
          app.nonces.push(options)
        }
        if (step.expectComplete) {
          assert.equal(response.status, 'complete')
          assert.equal(r.body.client.last_active_session_id, response.created_session_id, 'the new session is the active one')
        }
        if (step.expectRename) {
          assert.equal(response.name, step.expectRename)
          const shown = r.body.client.sessions.flatMap((s) => s.user?.passkeys ?? []).find((p) => p.id === app.saved.passkey)
          assert.equal(shown?.name, step.expectRename, 'the rename is in the piggybacked client')
        }
        if (step.expectNoPasskeys) assert.deepEqual(response.sessions.flatMap((s) => s.user.passkeys), [])
      })
    }
  })
}

replay(ios)
replay(android)

// ---- one passkey, web and native (one RP ID) ------------------------------------------------

/** The browser transport as clerk-js uses it: the page's Origin, the __client cookie. */
class BrowserTab {
  constructor(device) {
    this.device = device
    this.cookie = null
    this.origin = `http://localhost:${latch.port}`
  }

  async post(path, form = {}, query = {}) {
    const url = new URL(path, latch.url)
    for (const [k, v] of Object.entries({ __clerk_api_version: '2026-08-20', _clerk_js_version: '6.40.0', ...query })) url.searchParams.set(k, v)
    const headers = { origin: this.origin, 'content-type': 'application/x-www-form-urlencoded' }
    if (this.cookie) headers.cookie = this.cookie
    const res = await fetch(url, { method: 'POST', headers, body: new URLSearchParams(form).toString() })
    // Only the client cookie: Latch also sets __client_uat for the app's server (protocol.md §14).
    for (const set of res.headers.getSetCookie()) if (set.startsWith('__client=')) this.cookie = set.split(';')[0]
    const body = await res.json()
    assert.equal(res.status, 200, JSON.stringify(body))
    return body
  }
}

async function webCreatesPasskey(device, username) {
  const tab = new BrowserTab(device)
  const sid = (await tab.post('/v1/client/sign_ups', { username })).response.created_session_id
  const begun = await tab.post('/v1/me/passkeys', {}, { _clerk_session_id: sid })
  const credential = device.register(JSON.parse(begun.response.verification.nonce), tab.origin)
  await tab.post(`/v1/me/passkeys/${begun.response.id}/attempt_verification`, { strategy: 'passkey', public_key_credential: JSON.stringify(credential) }, { _clerk_session_id: sid })
  return tab
}

async function nativeSignsIn(fixture, device, username) {
  const app = new NativeInstall(fixture.sdk, device)
  const created = await app.send({ method: 'POST', path: '/v1/client/sign_ins', form: { strategy: 'passkey', locale: '' } })
  assert.equal(created.status, 200, created.text)
  app.token = created.headers.get('authorization')
  app.nonces.push(JSON.parse(created.body.response.first_factor_verification.nonce))
  app.saved.signIn = created.body.response.id
  const r = await app.send({ method: 'POST', path: '/v1/client/sign_ins/{signIn}/attempt_first_factor', form: { strategy: 'passkey', public_key_credential: '$assertion' } })
  assert.equal(r.status, 200, r.text)
  assert.equal(r.body.response.status, 'complete')
  assert.equal(r.body.client.sessions[0].user.username, username)
  assert.deepEqual(answerProblems(fixture.sdk.os, 'SignIn', r.body), [])
}

for (const fixture of [ios, android]) {
  test(`a passkey made through the browser signs in through ${fixture.sdk.name}`, async () => {
    const device = new SoftDevice()
    const username = `web_${fixture.sdk.os}_${Date.now().toString(36)}`
    await webCreatesPasskey(device, username)
    await nativeSignsIn(fixture, device, username)
  })

  test(`a passkey made through ${fixture.sdk.name} signs in through the browser`, async () => {
    const device = new SoftDevice()
    const app = new NativeInstall(fixture.sdk, device)
    for (const step of fixture.steps.slice(0, fixture.steps.findIndex((s) => s.name === 'createPasskey: verify') + 1)) {
      const r = await app.send(step)
      if (r.headers.get('authorization')) app.token = r.headers.get('authorization')
      assert.equal(r.status, 200, r.text)
      const response = r.body.response ?? r.body
      for (const [name, key] of Object.entries(step.save ?? {})) app.saved[name] = response[key]
      if (step.nonce) app.nonces.push(JSON.parse(response[step.nonce].nonce))
    }
    const tab = new BrowserTab(device)
    const started = await tab.post('/v1/client/sign_ins', { strategy: 'passkey' })
    const options = JSON.parse(started.response.first_factor_verification.nonce)
    const assertion = device.assert(options, tab.origin)
    const done = await tab.post(`/v1/client/sign_ins/${started.response.id}/attempt_first_factor`, { strategy: 'passkey', public_key_credential: JSON.stringify(assertion) })
    assert.equal(done.response.status, 'complete')
    assert.equal(done.client.sessions[0].user.username, app.saved.username)
  })
}

test('an Android passkey from a signing key Latch does not list is refused', async () => {
  const device = new SoftDevice()
  const username = `web_other_${Date.now().toString(36)}`
  await webCreatesPasskey(device, username)
  const other = { ...android.sdk, origin: () => apkKeyHashOrigin(FINGERPRINT.replace(/^14/, 'AA')) }
  const app = new NativeInstall(other, device)
  const created = await app.send({ method: 'POST', path: '/v1/client/sign_ins', form: { strategy: 'passkey', locale: '' } })
  app.token = created.headers.get('authorization')
  app.nonces.push(JSON.parse(created.body.response.first_factor_verification.nonce))
  app.saved.signIn = created.body.response.id
  const r = await app.send({ method: 'POST', path: '/v1/client/sign_ins/{signIn}/attempt_first_factor', form: { strategy: 'passkey', public_key_credential: '$assertion' } })
  assert.equal(r.status, 422, r.text)
  assert.equal(r.body.errors[0].code, 'verification_failed')
})
