// WebAuthn's Signal API driven by Latch's account portal (docs/protocol.md §20), in Chromium
// with a virtual authenticator. Chromium's virtual authenticator acts on the signals (it drops
// the credentials a signal says the RP no longer accepts), so each scenario checks both: the
// calls the page made, with their arguments (the Signal API methods are wrapped before any
// page script runs, the calls kept in sessionStorage across page loads), and the
// authenticator's own credential list (WebAuthn.getCredentials).
//
// Each scenario starts its own `latch serve` ($LATCH_BIN) on localhost, serving the portal on
// its own origin: no proxy, no other host names.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import { closeBrowser, scenario, startLatch as startOwnLatch, uniqueName, waitText } from './lib.mjs'

after(closeBrowser)

/** `latch serve` on localhost:<free port>, its own origin allowed; stopped by `t.after`. */
const startLatch = (t, name) => startOwnLatch(t, `signals-${name}`, (origin) => ['--origin', origin])

/**
 * A user whose page records every Signal API call ({method, args, outcome}) and every
 * navigator.credentials.get ({mediation, outcome}), kept per origin across page loads.
 */
async function openRecordedUser(openUser) {
  const u = await openUser()
  await u.page.addInitScript(() => {
    const load = (key) => JSON.parse(sessionStorage.getItem(key) ?? '[]')
    const save = (key, entry) => {
      const all = load(key).filter((e) => e.id !== entry.id)
      sessionStorage.setItem(key, JSON.stringify([...all, entry]))
    }
    window.__signals = () => load('__signals')
    window.__gets = () => load('__gets')
    for (const method of ['signalUnknownCredential', 'signalAllAcceptedCredentials', 'signalCurrentUserDetails']) {
      const original = PublicKeyCredential[method]
      if (typeof original !== 'function') continue
      PublicKeyCredential[method] = (args) => {
        const entry = { id: Math.random(), method, args, outcome: 'pending' }
        save('__signals', entry)
        const p = original.call(PublicKeyCredential, args)
        p.then(() => save('__signals', { ...entry, outcome: 'ok' }), (e) => save('__signals', { ...entry, outcome: e.name }))
        return p
      }
    }
    const get = navigator.credentials.get.bind(navigator.credentials)
    navigator.credentials.get = (opts) => {
      const entry = { id: Math.random(), mediation: opts?.mediation ?? null, outcome: 'pending' }
      save('__gets', entry)
      const p = get(opts)
      p.then(() => save('__gets', { ...entry, outcome: 'ok' }), (e) => save('__gets', { ...entry, outcome: e.name }))
      return p
    }
  })
  u.signals = () => u.page.evaluate(() => window.__signals())
  u.gets = () => u.page.evaluate(() => window.__gets())
  // The authenticator of the moment (newDevice replaces it).
  u.credentials = async () =>
    (await u.cdp.send('WebAuthn.getCredentials', { authenticatorId: u.authenticatorId })).credentials
  u.setPresence = (enabled) =>
    u.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: u.authenticatorId, enabled })
  return u
}

const DEVICE = {
  protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
  hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
}

/** Replaces the user's authenticator with a new one holding `credentials` (another device). */
async function newDevice(u, credentials) {
  await u.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: u.authenticatorId })
  u.authenticatorId = await addDevice(u, credentials)
}

/**
 * Adds a second authenticator holding `credentials`, next to the user's; returns its id. A
 * security key (USB): Chromium allows one internal (platform) authenticator per page.
 */
async function addDevice(u, credentials, options = {}) {
  const { authenticatorId } = await u.cdp.send('WebAuthn.addVirtualAuthenticator', { options: { ...DEVICE, ...options } })
  for (const credential of credentials) await u.cdp.send('WebAuthn.addCredential', { authenticatorId, credential })
  return authenticatorId
}

async function waitFor(page, predicate, what = 'condition', timeout = 20_000) {
  const deadline = Date.now() + timeout
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await page.waitForTimeout(100)
  }
}

/** CDP gives credential ids in base64; WebAuthn JSON and Latch in base64url. */
const b64url = (b64) => Buffer.from(b64, 'base64').toString('base64url')
const credentialIds = async (u, authenticatorId = u.authenticatorId) =>
  (await u.cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials.map((c) => b64url(c.credentialId)).sort()

async function listedPasskeys(page) {
  return page.$$eval('#passkeys li[data-passkey-id]', (lis) => lis.map((li) => li.dataset.passkeyId))
}

/** GET /v1/me from inside the page, as the portal's script does. */
async function me(page) {
  return page.evaluate(async () => {
    const client = await (await fetch('/v1/client', { credentials: 'include' })).json()
    const sid = client.response?.last_active_session_id
    const res = await fetch(`/v1/me?_clerk_session_id=${sid}`, { credentials: 'include' })
    return (await res.json()).response
  })
}

async function portalSignUpWithPasskey(page, origin, username) {
  await page.goto(`${origin}/portal/sign-up`)
  await page.getByLabel('Username').fill(username)
  await page.getByRole('button', { name: 'Continue' }).click()
  await page.getByRole('button', { name: 'Create a passkey' }).click()
  await page.waitForURL(/\/portal\/account$/)
  await page.locator('#passkeys li[data-passkey-id]').first().waitFor()
}

scenario('signals 1. the account portal signals the accepted passkeys and the user on load, and after a delete the authenticator drops the deleted one', async ({ t, openUser }) => {
  const { origin } = await startLatch(t, 'portal-delete')
  const u = await openRecordedUser(openUser)
  const page = u.page
  const username = uniqueName('sig')

  // Two passkeys on two authenticators attached at once (one authenticator holds one
  // discoverable passkey per account): the first made, set aside while the second is made on
  // a fresh one, then attached again next to it.
  await portalSignUpWithPasskey(page, origin, username)
  const [firstSaved] = await u.credentials()
  await newDevice(u, [])
  await page.getByRole('button', { name: 'Add a passkey' }).click()
  await waitFor(page, async () => (await listedPasskeys(page)).length === 2, 'two passkeys')
  const [secondSaved] = await u.credentials()
  const firstDevice = await addDevice(u, [firstSaved], { transport: 'usb' })
  const held = async () => [...(await credentialIds(u, firstDevice)), ...(await credentialIds(u))].sort()
  const user = await me(page)
  const byServerId = Object.fromEntries(user.passkeys.map((p) => [p.id, p.credential_id]))
  const both = [b64url(firstSaved.credentialId), b64url(secondSaved.credentialId)].sort()
  assert.deepEqual(Object.values(byServerId).sort(), both, 'FAPI names the credentials the authenticators hold')
  assert.equal(b64url(firstSaved.userHandle), user.webauthn_user_id, 'the user handle as registered')

  // On load: all accepted credentials (both) and the user's details; the authenticator keeps both.
  await page.evaluate(() => sessionStorage.removeItem('__signals'))
  await page.reload()
  await waitFor(page, async () => (await u.signals()).filter((s) => s.outcome !== 'pending').length === 2, 'the signals on load')
  const onLoad = await u.signals()
  const accepted = onLoad.find((s) => s.method === 'signalAllAcceptedCredentials')
  assert.ok(accepted, `signalAllAcceptedCredentials on load: ${JSON.stringify(onLoad)}`)
  assert.deepEqual({ ...accepted.args, allAcceptedCredentialIds: [...accepted.args.allAcceptedCredentialIds].sort() }, {
    rpId: 'localhost', userId: user.webauthn_user_id, allAcceptedCredentialIds: both,
  })
  assert.equal(accepted.outcome, 'ok')
  const details = onLoad.find((s) => s.method === 'signalCurrentUserDetails')
  assert.deepEqual(details?.args, { rpId: 'localhost', userId: user.webauthn_user_id, name: username, displayName: username })
  assert.equal(details.outcome, 'ok')
  assert.deepEqual(await held(), both, 'nothing dropped while Latch holds both')

  // Delete the second through the portal: the page signals the one left, the authenticator drops the other.
  const secondId = Object.keys(byServerId).find((id) => byServerId[id] === b64url(secondSaved.credentialId))
  const item = page.locator(`#passkeys li[data-passkey-id="${secondId}"]`)
  await item.getByRole('button', { name: /^Delete/ }).click()
  await item.getByRole('button', { name: 'Delete passkey' }).click()
  await waitFor(page, async () => (await listedPasskeys(page)).length === 1, 'one passkey left')
  await waitFor(page, async () => (await held()).length === 1, 'the authenticator to drop the deleted passkey')
  assert.deepEqual(await credentialIds(u, firstDevice), [b64url(firstSaved.credentialId)], 'the first device keeps its passkey')
  assert.deepEqual(await credentialIds(u), [], 'the second device dropped the deleted one')
  const last = (await u.signals()).at(-1)
  assert.deepEqual(last.args, { rpId: 'localhost', userId: user.webauthn_user_id, allAcceptedCredentialIds: [b64url(firstSaved.credentialId)] })
})

scenario('signals 2. a sign-in with a passkey deleted on the server: the error names it, the page signals it, the authenticator forgets it', async ({ t, openUser }) => {
  const { origin } = await startLatch(t, 'unknown-credential')
  const u = await openRecordedUser(openUser)
  const page = u.page
  await portalSignUpWithPasskey(page, origin, uniqueName('gone'))
  const [saved] = await u.credentials()
  const credentialId = b64url(saved.credentialId)

  // Deleted elsewhere (another device, the console): this page never signalled it.
  const user = await me(page)
  const deleted = await page.evaluate(async (id) => {
    const client = await (await fetch('/v1/client', { credentials: 'include' })).json()
    const sid = client.response.last_active_session_id
    const res = await fetch(`/v1/me/passkeys/${id}?_method=DELETE&_clerk_session_id=${sid}`, { method: 'POST', credentials: 'include' })
    return res.status
  }, user.passkeys[0].id)
  assert.equal(deleted, 200)
  assert.deepEqual(await credentialIds(u), [credentialId], 'still on the device')

  // Sign out (presence off, so the sign-in page's autofill waits), then the button's prompt.
  await u.setPresence(false)
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(/\/portal\/sign-in$/)
  await waitFor(page, async () => (await u.gets()).some((g) => g.mediation === 'conditional' && g.outcome === 'pending'), 'the autofill request')
  const refused = page.waitForResponse((r) => r.url().includes('/attempt_first_factor'))
  await u.setPresence(true)
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click().catch(() => {})
  const answer = await refused
  assert.equal(answer.status(), 422)
  const [error] = (await answer.json()).errors
  assert.equal(error.code, 'passkey_not_registered')
  assert.deepEqual(error.meta, { data: { rpId: 'localhost', credentialId } })

  // The refusal is shown, unless the other request (autofill's or the button's, whichever lost)
  // then finds nothing on the device and says so.
  await waitText(page, '[role=alert]', /not registered|No passkey was used/)
  await waitFor(page, async () => (await u.signals()).some((s) => s.method === 'signalUnknownCredential' && s.outcome !== 'pending'), 'signalUnknownCredential')
  const signal = (await u.signals()).find((s) => s.method === 'signalUnknownCredential')
  assert.deepEqual(signal.args, { rpId: 'localhost', credentialId })
  assert.equal(signal.outcome, 'ok')
  await waitFor(page, async () => (await credentialIds(u)).length === 0, 'the authenticator to forget the passkey')
  assert.equal(new URL(page.url()).pathname, '/portal/sign-in', 'still signed out')
})

scenario('signals 3. without the Signal API (an older browser) the portal and its refusals work as before', async ({ t, openUser }) => {
  const { origin } = await startLatch(t, 'no-signal-api')
  const u = await openRecordedUser(openUser)
  const page = u.page
  await page.addInitScript(() => {
    delete PublicKeyCredential.signalUnknownCredential
    delete PublicKeyCredential.signalAllAcceptedCredentials
    delete PublicKeyCredential.signalCurrentUserDetails
  })
  await portalSignUpWithPasskey(page, origin, uniqueName('old'))
  assert.equal(await page.evaluate(() => typeof PublicKeyCredential.signalAllAcceptedCredentials), 'undefined')
  await page.reload()
  await waitFor(page, async () => (await page.evaluate(() => document.body.dataset.ready)) === 'true', 'the account page')
  assert.equal((await listedPasskeys(page)).length, 1)

  // Deleted through the portal: listed no more, no page error, the device still holds it.
  const [id] = await listedPasskeys(page)
  const item = page.locator(`#passkeys li[data-passkey-id="${id}"]`)
  await item.getByRole('button', { name: /^Delete/ }).click()
  await item.getByRole('button', { name: 'Delete passkey' }).click()
  await waitText(page, '[role=status]', /deleted/)
  assert.equal((await credentialIds(u)).length, 1)

  // Its sign-in is refused with the usual message.
  await u.setPresence(false)
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(/\/portal\/sign-in$/)
  await waitFor(page, async () => (await u.gets()).some((g) => g.mediation === 'conditional' && g.outcome === 'pending'), 'the autofill request')
  await u.setPresence(true)
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click().catch(() => {})
  await waitText(page, '[role=alert]', /not registered/)
  assert.deepEqual(page.__pageErrors, [], 'no page error')
  assert.deepEqual(await u.signals(), [], 'nothing to call')
})

/** An account without a passkey (sign-up, "Skip for now"), left signed out. */
async function signUpWithoutPasskey(page, origin, username) {
  await page.goto(`${origin}/portal/sign-up`)
  await page.getByLabel('Username').fill(username)
  await page.getByRole('button', { name: 'Continue' }).click()
  await page.getByRole('link', { name: 'Skip for now' }).click()
  await page.waitForURL(/\/portal\/account$/)
  await waitFor(page, async () => (await page.evaluate(() => document.body.dataset.ready)) === 'true', 'the account page')
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(/\/portal\/sign-in$/)
}

/** Signs in with a sign-in link from `latch sign-in-token` (the recovery path). */
async function signInWithLink(page, { origin, cli }, username) {
  const url = cli('sign-in-token', '--user', username, '--origin', origin).trim().split('\n').at(-1)
  const ticket = new URL(url).searchParams.get('__clerk_ticket')
  assert.ok(ticket, `a ticket in ${url}`)
  await page.goto(`${origin}/portal/sign-in?__clerk_ticket=${encodeURIComponent(ticket)}`)
  await page.waitForURL(/\/portal\/account$/)
}

scenario('signals 4. after a sign-in with a link, the account page offers a passkey by conditional create, and the server accepts it', async ({ t, openUser }) => {
  const latch = await startLatch(t, 'upgrade')
  const { origin } = latch
  const u = await openRecordedUser(openUser)
  const page = u.page
  // Chromium's virtual authenticator never answers a conditional create (a real password
  // manager answers only after it filled a password): the recorder notes the page's call and
  // its options, then stands in for the password manager by running the same request as a
  // modal create on the virtual authenticator.
  await page.addInitScript(() => {
    const create = navigator.credentials.create.bind(navigator.credentials)
    const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
    navigator.credentials.create = (opts) => {
      const calls = JSON.parse(sessionStorage.getItem('__creates') ?? '[]')
      calls.push({ mediation: opts?.mediation ?? null, userId: b64url(opts.publicKey.user.id), name: opts.publicKey.user.name })
      sessionStorage.setItem('__creates', JSON.stringify(calls))
      if (opts?.mediation !== 'conditional') return create(opts)
      const { mediation, ...modal } = opts
      return create(modal)
    }
  })
  const creates = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('__creates') ?? '[]'))

  const username = uniqueName('link')
  await signUpWithoutPasskey(page, origin, username)
  assert.deepEqual(await creates(), [], 'no passkey offered after a sign-up: only after a sign-in without one')
  await signInWithLink(page, latch, username)

  // The page asked for a conditional create with the FAPI flow's options; the passkey is stored.
  await waitText(page, '[role=status]', /saved a passkey/)
  const [offer] = await creates()
  const user = await me(page)
  assert.deepEqual(offer, { mediation: 'conditional', userId: user.webauthn_user_id, name: username })
  assert.equal(user.passkeys.length, 1, 'stored as any registration')
  assert.deepEqual((await credentialIds(u)), [user.passkeys[0].credential_id])
  assert.deepEqual(await listedPasskeys(page), [user.passkeys[0].id])

  // Offered once: a reload does not ask again.
  await page.reload()
  await waitFor(page, async () => (await page.evaluate(() => document.body.dataset.ready)) === 'true', 'the account page')
  assert.equal((await creates()).length, 1)
})

scenario('signals 5. a conditional create left unanswered does not stand in the way: the button still adds a passkey', async ({ t, openUser }) => {
  const latch = await startLatch(t, 'upgrade-pending')
  const { origin } = latch
  const u = await openRecordedUser(openUser)
  const page = u.page
  await page.addInitScript(() => {
    const create = navigator.credentials.create.bind(navigator.credentials)
    navigator.credentials.create = (opts) => {
      const calls = JSON.parse(sessionStorage.getItem('__creates') ?? '[]')
      const entry = { id: Math.random(), mediation: opts?.mediation ?? null, outcome: 'pending' }
      const save = (e) => sessionStorage.setItem('__creates', JSON.stringify([...JSON.parse(sessionStorage.getItem('__creates') ?? '[]').filter((x) => x.id !== e.id), e]))
      save(entry)
      const p = create(opts)
      p.then(() => save({ ...entry, outcome: 'ok' }), (e) => save({ ...entry, outcome: e.name }))
      return p
    }
  })
  const creates = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('__creates') ?? '[]'))
  const username = uniqueName('pend')
  await signUpWithoutPasskey(page, origin, username)
  await signInWithLink(page, latch, username)
  await waitFor(page, async () => (await creates()).some((c) => c.mediation === 'conditional' && c.outcome === 'pending'), 'the conditional create')

  await page.getByRole('button', { name: 'Add a passkey' }).click()
  await waitFor(page, async () => (await listedPasskeys(page)).length === 1, 'the passkey from the button')
  const calls = await creates()
  assert.deepEqual(calls.map((c) => [c.mediation, c.outcome]), [['conditional', 'AbortError'], [null, 'ok']])
  const user = await me(page)
  assert.equal(user.passkeys.length, 1, 'the abandoned request left nothing behind')
  assert.deepEqual(await credentialIds(u), [user.passkeys[0].credential_id])
})

/**
 * Signs in on the portal's sign-in page by autofill or the button, whichever the
 * authenticator answers first (an internal one answers autofill at once; a security key
 * waits for the button).
 */
async function signInOnPortal(page) {
  const button = page.getByRole('button', { name: 'Sign in with a passkey' })
  await Promise.race([page.waitForURL(/\/portal\/account$/), button.click({ timeout: 5_000 }).catch(() => {})])
  await page.waitForURL(/\/portal\/account$/)
}

scenario('signals 7. after a sign-in with a passkey from another device, the account page says so and offers a passkey on this one by conditional create', async ({ t, openUser }) => {
  const { origin } = await startLatch(t, 'upgrade-roaming')
  const u = await openRecordedUser(openUser)
  const page = u.page
  // The conditional create is held until the test answers it (after swapping in this
  // device's authenticator), then run as a modal create: the virtual authenticator never
  // answers a conditional one (see signals 4).
  await page.addInitScript(() => {
    const create = navigator.credentials.create.bind(navigator.credentials)
    const save = (e) => sessionStorage.setItem('__creates', JSON.stringify([...JSON.parse(sessionStorage.getItem('__creates') ?? '[]').filter((x) => x.id !== e.id), e]))
    navigator.credentials.create = (opts) => {
      const entry = { id: Math.random(), mediation: opts?.mediation ?? null, outcome: 'pending' }
      save(entry)
      const { mediation, ...modal } = opts
      const p = mediation === 'conditional' ? new Promise((go) => { window.__answerConditional = go }).then(() => create(modal)) : create(opts)
      p.then(() => save({ ...entry, outcome: 'ok' }), (e) => save({ ...entry, outcome: e.name }))
      return p
    }
  })
  const creates = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('__creates') ?? '[]'))
  const session = () => page.evaluate(async () => {
    const client = (await (await fetch('/v1/client', { credentials: 'include' })).json()).response
    return client.sessions.find((s) => s.id === client.last_active_session_id)
  })

  // The account's passkey is on a security key (USB: a roaming authenticator, as a phone
  // reached by QR code is); it signs in with it.
  await u.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: u.authenticatorId })
  u.authenticatorId = await addDevice(u, [], { transport: 'usb' })
  const key = u.authenticatorId
  await portalSignUpWithPasskey(page, origin, uniqueName('roam'))
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(/\/portal\/sign-in$/)
  await signInOnPortal(page)
  const signedIn = await session()
  assert.deepEqual([signedIn.sign_in_strategy, signedIn.sign_in_authenticator_attachment], ['passkey', 'cross-platform'])

  // The page says the passkey was from elsewhere and asks this device's password manager.
  await page.locator('#upgrade-note').waitFor({ state: 'visible' })
  await waitFor(page, async () => (await creates()).some((c) => c.mediation === 'conditional' && c.outcome === 'pending'), 'the conditional create')
  await u.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: key })
  u.authenticatorId = await addDevice(u, [])
  await page.evaluate(() => window.__answerConditional())
  await waitText(page, '[role=status]', /saved a passkey/)
  assert.equal(await page.locator('#upgrade-note').isVisible(), false, 'the note goes once a passkey is here')
  const user = await me(page)
  assert.equal(user.passkeys.length, 2, 'stored as any registration')
  assert.deepEqual(await credentialIds(u), [user.passkeys[1].credential_id], 'the new passkey is on this device')
  // Back on the page later in the same session: the passkey made here ends the note.
  await page.reload()
  await waitFor(page, async () => (await page.evaluate(() => document.body.dataset.ready)) === 'true', 'the account page')
  assert.equal(await page.locator('#upgrade-note').isVisible(), false, 'no note once this session made a passkey')

  // A sign-in with this device's passkey: nothing offered, no note.
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(/\/portal\/sign-in$/)
  await signInOnPortal(page)
  await waitFor(page, async () => (await page.evaluate(() => document.body.dataset.ready)) === 'true', 'the account page')
  assert.equal((await session()).sign_in_authenticator_attachment, 'platform')
  assert.equal(await page.locator('#upgrade-note').isVisible(), false)
  assert.deepEqual((await creates()).map((c) => [c.mediation, c.outcome]), [[null, 'ok'], ['conditional', 'ok']], 'no second offer')
})

scenario('signals 6. the dev page: a delete drops the passkey from the authenticator, a passkey deleted elsewhere is signalled unknown', async ({ t, openUser }) => {
  const { origin } = await startLatch(t, 'dev-page')
  const u = await openRecordedUser(openUser)
  const page = u.page
  const signUp = async (username) => {
    await page.getByLabel('Username').fill(username)
    await page.getByRole('button', { name: 'Sign up' }).click()
    await waitText(page, '#who', username)
    await page.getByRole('button', { name: 'Create a passkey' }).click()
    await waitText(page, '#status', 'Passkey created.')
  }
  await page.goto(`${origin}/`)
  await signUp(uniqueName('dev'))
  assert.equal((await credentialIds(u)).length, 1)

  // Deleted on the page: it signals no accepted passkey left, the authenticator drops it.
  await page.locator('#passkeys li').getByRole('button', { name: 'Delete' }).click()
  await waitText(page, '#status', 'Deleted.')
  await waitFor(page, async () => (await credentialIds(u)).length === 0, 'the authenticator to drop the deleted passkey')
  const accepted = (await u.signals()).find((s) => s.method === 'signalAllAcceptedCredentials')
  assert.deepEqual(accepted?.args.allAcceptedCredentialIds, [])
  assert.equal(accepted.args.rpId, 'localhost')

  // A passkey deleted elsewhere: the sign-in's refusal is shown and signalled.
  await page.getByRole('button', { name: 'Create a passkey' }).click()
  await waitText(page, '#status', 'Passkey created.')
  const [saved] = await u.credentials()
  assert.equal(await page.locator('#passkeys li').count(), 1)
  const status = await page.evaluate(async () => {
    const client = await (await fetch('/v1/client', { credentials: 'include' })).json()
    const sid = client.response.last_active_session_id
    const me = await (await fetch(`/v1/me?_clerk_session_id=${sid}`, { credentials: 'include' })).json()
    const res = await fetch(`/v1/me/passkeys/${me.response.passkeys[0].id}?_method=DELETE&_clerk_session_id=${sid}`, { method: 'POST', credentials: 'include' })
    return res.status
  })
  assert.equal(status, 200)
  await u.setPresence(false)
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.getByRole('button', { name: 'Sign in with a passkey' }).waitFor()
  // Autofill's request or the button's, whichever the authenticator answers first (the other
  // then finds nothing: the page shows that message last).
  const refused = page.waitForResponse((r) => r.url().includes('/attempt_first_factor'))
  await u.setPresence(true)
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click().catch(() => {})
  const answer = await refused
  assert.equal(answer.status(), 422)
  assert.equal((await answer.json()).errors[0].code, 'passkey_not_registered')
  await waitFor(page, async () => (await u.signals()).some((s) => s.method === 'signalUnknownCredential' && s.outcome === 'ok'), 'signalUnknownCredential')
  const unknown = (await u.signals()).find((s) => s.method === 'signalUnknownCredential')
  assert.deepEqual(unknown.args, { rpId: 'localhost', credentialId: b64url(saved.credentialId) })
  await waitFor(page, async () => (await credentialIds(u)).length === 0, 'the authenticator to forget it')
})
