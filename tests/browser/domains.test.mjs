// Domain rules in a real browser: which hosts may use a passkey for which RP ID, WebAuthn
// Related Origin Requests, the hosted account portal, and the configurations Latch refuses.
//
// Each scenario starts its own `latch serve` ($LATCH_BIN) with the flags under test and a
// Chromium that maps *.test to 127.0.0.1 and treats the test origins as secure
// (../../../shared/docs/browser-testing.md). Pages are Latch's own account portal, so no proxy
// is needed. For related origins, Chromium fetches https://example.test/.well-known/webauthn
// on port 443: this file runs a TLS server there (self-signed certificate made with openssl at
// start, Chromium given --ignore-certificate-errors) that forwards that one path to Latch.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { LATCH_BIN, OUT_DIR, freePort, launchBrowser, scenario, uniqueName, waitText } from './lib.mjs'

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-domains-'))
after(() => fs.rmSync(WORK, { recursive: true, force: true }))

// ---------- processes ----------

let latchCount = 0

/**
 * `latch serve --port <port> <args>` with a fresh data folder; resolves once it listens.
 * Its output goes to OUT_DIR/latch-domains-<name>.log. `t.after` stops it.
 */
async function startLatch(t, name, port, args) {
  const dataDir = fs.mkdtempSync(path.join(WORK, 'data-'))
  const logPath = path.join(OUT_DIR, `latch-domains-${++latchCount}-${name}.log`)
  const log = fs.createWriteStream(logPath)
  log.write(`$ latch serve --port ${port} ${args.join(' ')}\n`)
  const proc = spawn(LATCH_BIN, ['serve', '--port', String(port), '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LATCH_LOG: 'info,sqlx=warn' },
  })
  let output = ''
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  const listening = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      log.write(chunk)
      output += chunk
      const m = /latch listening on (http:\/\/\S+)/.exec(output)
      if (m) resolve(m[1])
    }
    proc.stdout.on('data', onData)
    proc.stderr.on('data', onData)
    exited.then(({ code }) => reject(new Error(`latch exited (code ${code}) before listening:\n${output}`)))
  })
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
    await exited
    log.end()
  }
  t.after(stop)
  const url = await Promise.race([
    listening,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`latch did not listen within 30 s:\n${output}`)), 30_000)),
  ])
  return { url, port, stop }
}

/** Runs `latch serve <args>` expecting it to refuse: resolves {code, stderr, listened}. */
function runLatchExpectingRefusal(args) {
  const dataDir = fs.mkdtempSync(path.join(WORK, 'data-'))
  return new Promise((resolve) => {
    const proc = spawn(LATCH_BIN, ['serve', '--port', '0', '--data-dir', dataDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LATCH_LOG: 'warn' },
    })
    let stdout = ''
    let stderr = ''
    let listened = false
    proc.stdout.on('data', (d) => {
      stdout += d
      if (stdout.includes('latch listening on')) {
        listened = true
        proc.kill('SIGTERM')
      }
    })
    proc.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000)
    proc.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stderr, stdout, listened })
    })
  })
}

// ---------- the TLS listener on 443 for /.well-known/webauthn ----------

const wellKnown = { target: null, hits: [] }
let tlsServer
let tlsError

before(async () => {
  const key = path.join(WORK, 'key.pem')
  const cert = path.join(WORK, 'cert.pem')
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=example.test', '-addext', 'subjectAltName=DNS:example.test',
  ], { stdio: 'ignore' })
  tlsServer = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, async (req, res) => {
    const url = new URL(req.url, `https://${req.headers.host}`)
    wellKnown.hits.push({ host: req.headers.host, path: url.pathname })
    if (url.pathname !== '/.well-known/webauthn' || !wellKnown.target) {
      res.writeHead(404).end()
      return
    }
    try {
      const upstream = await fetch(`${wellKnown.target}/.well-known/webauthn`)
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream' })
      res.end(Buffer.from(await upstream.arrayBuffer()))
    } catch (e) {
      res.writeHead(502).end(String(e))
    }
  })
  await new Promise((resolve) => {
    tlsServer.once('error', (e) => {
      tlsError = e
      resolve()
    })
    tlsServer.listen(443, '127.0.0.1', resolve)
  })
})
after(() => tlsServer?.close())

// ---------- the browser ----------

/** A Chromium in which `hosts` resolve to 127.0.0.1 and http://<host>:<port> counts as secure. */
async function domainBrowser(t, port, hosts) {
  const b = await launchBrowser([
    '--host-resolver-rules=MAP *.test 127.0.0.1, MAP example.test 127.0.0.1',
    `--unsafely-treat-insecure-origin-as-secure=${hosts.map((h) => `http://${h}:${port}`).join(',')}`,
    '--ignore-certificate-errors',
  ])
  t.after(() => b.close())
  return b
}

/**
 * A browser profile with a virtual authenticator that records every WebAuthn call's kind,
 * mediation and outcome (kept in sessionStorage, so per origin and across page loads).
 */
async function openObservedUser(openUser, b) {
  const u = await openUser({ browser: b })
  await u.page.addInitScript(() => {
    const doc = Math.random().toString(36).slice(2)
    const load = () => JSON.parse(sessionStorage.getItem('__webauthn') ?? '[]')
    const save = (entry) => {
      const all = load().filter((e) => e.id !== entry.id)
      sessionStorage.setItem('__webauthn', JSON.stringify([...all, entry]))
    }
    window.__webauthnDoc = doc
    window.__webauthnCalls = load
    for (const kind of ['get', 'create']) {
      const original = navigator.credentials[kind].bind(navigator.credentials)
      navigator.credentials[kind] = (opts) => {
        const entry = { id: Math.random(), doc, kind, mediation: opts?.mediation ?? null, outcome: 'pending' }
        save(entry)
        const p = original(opts)
        p.then(() => save({ ...entry, outcome: 'ok' }), (e) => save({ ...entry, outcome: e.name }))
        return p
      }
    }
  })
  /** The calls made on the current origin; `thisPage`: only by the current document. */
  u.webauthnCalls = ({ thisPage = false } = {}) =>
    u.page.evaluate((thisPage) => window.__webauthnCalls().filter((e) => !thisPage || e.doc === window.__webauthnDoc), thisPage)
  u.credentials = async () =>
    (await u.cdp.send('WebAuthn.getCredentials', { authenticatorId: u.authenticatorId })).credentials
  // Chromium's virtual authenticator answers a conditional (autofill) request at once when
  // presence is simulated; with it off, autofill stays pending like a real unopened menu
  // (and a pending request is not answered when presence is turned back on).
  u.setPresence = (enabled) =>
    u.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: u.authenticatorId, enabled })
  return u
}

/** Replaces the user's authenticator with a new one holding `credentials` (another device). */
async function newDevice(u, credentials) {
  await u.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: u.authenticatorId })
  const { authenticatorId } = await u.cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  })
  u.authenticatorId = authenticatorId
  for (const credential of credentials) await u.cdp.send('WebAuthn.addCredential', { authenticatorId, credential })
}

// ---------- the portal, driven by its accessible names ----------

async function portalSignUp(page, origin, username) {
  await page.goto(`${origin}/portal/sign-up`)
  await page.getByLabel('Username').fill(username)
  await page.getByRole('button', { name: 'Continue' }).click()
  await page.getByRole('heading', { name: 'Add a passkey' }).waitFor()
}

/** On the sign-up page's second step: create the first passkey, land on the account page. */
async function portalCreateFirstPasskey(page) {
  await page.getByRole('button', { name: 'Create a passkey' }).click()
  await page.waitForURL(/\/portal\/account$/)
  await page.locator('#passkeys li[data-passkey-id]').first().waitFor()
}

async function listedPasskeys(page) {
  return page.$$eval('#passkeys li[data-passkey-id]', (lis) =>
    lis.map((li) => ({ id: li.dataset.passkeyId, name: li.querySelector('.passkey-name')?.textContent })),
  )
}

/** Sign out; presence is turned off first so that the sign-in page's autofill does not sign straight back in. */
async function portalSignOut(u) {
  await u.setPresence(false)
  await u.page.getByRole('button', { name: 'Sign out' }).click()
  await u.page.waitForURL(/\/portal\/sign-in$/)
}

/**
 * Sign in on the portal's sign-in page with the button (a modal passkey prompt): presence is
 * off while the page's autofill request starts, so that the button's request is the one answered.
 */
async function portalSignInWithButton(u, origin, { username } = {}) {
  await u.setPresence(false)
  await u.page.goto(`${origin}/portal/sign-in`)
  await waitFor(
    u.page,
    async () => (await u.webauthnCalls({ thisPage: true })).some((c) => c.mediation === 'conditional' && c.outcome === 'pending'),
    'the autofill request',
  )
  await u.setPresence(true)
  if (username) await u.page.getByLabel('Username').fill(username)
  try {
    await u.page.getByRole('button', { name: 'Sign in with a passkey' }).click()
  } catch (e) {
    // On a loaded machine the autofill request can be answered as presence comes back, before
    // the click: the sign-in is then done and the page has moved on to the account page (every
    // caller goes on to check where it landed and whose session it is).
    if (!new URL(u.page.url()).pathname.endsWith('/portal/account')) throw e
  }
}

async function waitFor(page, predicate, what = 'condition', timeout = 20_000) {
  const deadline = Date.now() + timeout
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await page.waitForTimeout(100)
  }
}

/** GET /v1/me from inside the page (its cookies), as the portal's script does. */
async function me(page) {
  return page.evaluate(async () => {
    const client = await (await fetch('/v1/client', { credentials: 'include' })).json()
    const sid = client.response?.last_active_session_id
    const res = await fetch(`/v1/me?_clerk_session_id=${sid}`, { credentials: 'include' })
    return { status: res.status, body: await res.json() }
  })
}

const errorText = (page) => waitText(page, '#error', /\S/)

/**
 * Runs a bare WebAuthn call in the page, outside Latch, to see what the browser itself
 * decides: resolves to 'ok' or the DOMException's name.
 */
async function browserVerdict(page, kind, rpId, credentialId) {
  return page.evaluate(
    async ({ kind, rpId, credentialId }) => {
      const challenge = crypto.getRandomValues(new Uint8Array(32))
      const b64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))
      try {
        if (kind === 'get') {
          await navigator.credentials.get({
            publicKey: { rpId, challenge, allowCredentials: credentialId ? [{ type: 'public-key', id: b64(credentialId) }] : [], timeout: 5000 },
          })
        } else {
          await navigator.credentials.create({
            publicKey: {
              rp: { id: rpId, name: 'probe' },
              user: { id: crypto.getRandomValues(new Uint8Array(16)), name: 'probe', displayName: 'probe' },
              challenge,
              pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
              timeout: 5000,
            },
          })
        }
        return 'ok'
      } catch (e) {
        return e.name
      }
    },
    { kind, rpId, credentialId },
  )
}

// ======================================================================================

scenario('domains 1. a passkey created on example.test works on accounts.example.test', async ({ t, openUser }) => {
  const port = await freePort()
  const root = `http://example.test:${port}`
  const accounts = `http://accounts.example.test:${port}`
  await startLatch(t, 'subdomain', port, ['--rp-id', 'example.test', '--origin', root, '--origin', accounts])
  const b = await domainBrowser(t, port, ['example.test', 'accounts.example.test'])
  const u = await openObservedUser(openUser, b)

  // made on example.test with the dev page (the other user of fapi.js)
  await u.page.goto(`${root}/`)
  await u.page.getByLabel('Username').fill(uniqueName('sub'))
  await u.page.getByRole('button', { name: 'Sign up' }).click()
  await waitText(u.page, '#status', 'Signed up. Now create a passkey.')
  await u.page.getByRole('button', { name: 'Create a passkey' }).click()
  await waitText(u.page, '#status', 'Passkey created.')
  const creds = await u.credentials()
  assert.equal(creds.length, 1)
  assert.equal(creds[0].rpId, 'example.test')
  const mine = (await me(u.page)).body.response
  const userId = mine.id
  const created = { id: mine.passkeys[0].id, name: mine.passkeys[0].name }

  // accounts.example.test has its own (host-only) cookie: signed out there
  await portalSignInWithButton(u, accounts)
  await u.page.waitForURL(`${accounts}/portal/account`)
  const there = await me(u.page)
  assert.equal(there.status, 200, JSON.stringify(there.body))
  assert.equal(there.body.response.id, userId, 'signed in as another user')
  assert.deepEqual(await listedPasskeys(u.page), [created])
  const calls = await u.webauthnCalls()
  assert.ok(calls.some((c) => c.kind === 'get' && c.mediation === 'optional' && c.outcome === 'ok'), JSON.stringify(calls))
})

scenario('domains 2. a passkey scoped to staging1.example.test does not work on staging2; one scoped to the root does', async ({ t, openUser }) => {
  const port = await freePort()
  const staging1 = `http://staging1.example.test:${port}`
  const staging2 = `http://staging2.example.test:${port}`
  const b = await domainBrowser(t, port, ['staging1.example.test', 'staging2.example.test'])

  // --- RP ID staging1.example.test ---
  const scoped = await startLatch(t, 'staging1', port, ['--rp-id', 'staging1.example.test', '--origin', staging1])
  const u = await openObservedUser(openUser, b)
  await portalSignUp(u.page, staging1, uniqueName('stg'))
  await portalCreateFirstPasskey(u.page)
  const [cred] = await u.credentials()
  assert.equal(cred.rpId, 'staging1.example.test')
  await u.page.getByText('staging1.example.test', { exact: true }).first().waitFor() // the dev warning names the RP ID

  // On staging2 the browser itself refuses the RP ID staging1.example.test (a sibling, not a
  // parent): SecurityError, with the very credential the authenticator holds.
  await u.page.goto(`${staging2}/portal/sign-in`)
  assert.equal(await browserVerdict(u.page, 'get', 'staging1.example.test', cred.credentialId), 'SecurityError')
  assert.equal(await browserVerdict(u.page, 'create', 'staging1.example.test'), 'SecurityError')
  // and Latch does not begin a ceremony for staging2: the page says why
  const shown = await errorText(u.page)
  assert.match(shown, /does not accept requests from http:\/\/staging2\.example\.test/, shown)
  assert.match(shown, /origin_invalid/, shown)
  assert.equal(new URL(u.page.url()).pathname, '/portal/sign-in')
  // staging1 still signs in with it (the passkey itself is fine)
  await u.page.goto(`${staging1}/portal/account`)
  await portalSignOut(u)
  await portalSignInWithButton(u, staging1)
  await u.page.waitForURL(`${staging1}/portal/account`)
  await scoped.stop()

  // --- RP ID example.test, every subdomain on this port allowed ---
  await startLatch(t, 'root', port, ['--rp-id', 'example.test', '--origin', `http://*.example.test:${port}`])
  const v = await openObservedUser(openUser, b)
  await portalSignUp(v.page, staging1, uniqueName('root'))
  await portalCreateFirstPasskey(v.page)
  const [rootCred] = await v.credentials()
  assert.equal(rootCred.rpId, 'example.test')
  const userId = (await me(v.page)).body.response.id
  await portalSignInWithButton(v, staging2)
  await v.page.waitForURL(`${staging2}/portal/account`)
  assert.equal((await me(v.page)).body.response.id, userId)
})

scenario('domains 3. example-admin.test: refused without related origins, works once listed', async ({ t, openUser }) => {
  assert.ifError(tlsError) // a TLS listener on 127.0.0.1:443 is needed (run as root)
  const port = await freePort()
  const root = `http://example.test:${port}`
  const admin = `http://example-admin.test:${port}`
  const b = await domainBrowser(t, port, ['example.test', 'example-admin.test'])

  // --- the operator has not listed example-admin.test ---
  const before = await startLatch(t, 'unrelated', port, ['--rp-id', 'example.test', '--origin', root])
  wellKnown.target = before.url
  assert.deepEqual(await (await fetch(`${before.url}/.well-known/webauthn`)).json(), { origins: [root] })
  const u = await openObservedUser(openUser, b)
  await u.page.goto(`${admin}/portal/sign-up`)
  wellKnown.hits.length = 0
  assert.equal(await browserVerdict(u.page, 'create', 'example.test'), 'SecurityError')
  assert.ok(
    wellKnown.hits.some((h) => h.host === 'example.test' && h.path === '/.well-known/webauthn'),
    `Chromium did not ask https://example.test/.well-known/webauthn: ${JSON.stringify(wellKnown.hits)}`,
  )
  // Latch refuses the origin too: sign-up from example-admin.test shows why
  await u.page.getByLabel('Username').fill(uniqueName('adm'))
  await u.page.getByRole('button', { name: 'Continue' }).click()
  const shown = await errorText(u.page)
  assert.match(shown, /origin_invalid/, shown)
  await before.stop()

  // --- the operator lists it: --related-origin http://example-admin.test:PORT ---
  const listed = await startLatch(t, 'related', port, ['--rp-id', 'example.test', '--origin', root, '--related-origin', admin])
  wellKnown.target = listed.url
  const v = await openObservedUser(openUser, b)
  wellKnown.hits.length = 0
  await portalSignUp(v.page, admin, uniqueName('adm'))
  await portalCreateFirstPasskey(v.page)
  const [cred] = await v.credentials()
  assert.equal(cred.rpId, 'example.test', 'the passkey is for the RP ID, not the page host')
  assert.ok(wellKnown.hits.some((h) => h.path === '/.well-known/webauthn'), 'Chromium consulted the related origins list')
  const userId = (await me(v.page)).body.response.id

  // used from example-admin.test ...
  await portalSignOut(v)
  await portalSignInWithButton(v, admin)
  await v.page.waitForURL(`${admin}/portal/account`)
  assert.equal((await me(v.page)).body.response.id, userId)
  // ... and from example.test, the RP ID's own host
  await portalSignInWithButton(v, root)
  await v.page.waitForURL(`${root}/portal/account`)
  assert.equal((await me(v.page)).body.response.id, userId)
  const gets = (await v.webauthnCalls()).filter((c) => c.kind === 'get' && c.outcome === 'ok')
  assert.deepEqual(gets.map((c) => c.mediation), ['optional'], JSON.stringify(gets)) // on example.test: the button
})

scenario('domains 4. the account portal on accounts.example.test: sign-up, add, sign out, sign in, rename, delete', async ({ t, openUser }) => {
  const port = await freePort()
  const root = `http://example.test:${port}`
  const accounts = `http://accounts.example.test:${port}`
  await startLatch(t, 'portal', port, ['--rp-id', 'example.test', '--origin', root, '--origin', accounts])
  const b = await domainBrowser(t, port, ['example.test', 'accounts.example.test'])
  const u = await openObservedUser(openUser, b)
  const page = u.page
  const username = uniqueName('portal')

  // sign-up page: landmarks, the development warning with the RP ID, keyboard only
  await page.goto(`${accounts}/portal/sign-up`)
  assert.equal(await page.getByRole('main').count(), 1)
  const warning = page.getByRole('region', { name: 'Development instance' })
  assert.match(await warning.innerText(), /bound to example\.test \(the RP ID\).*not on another host/s)
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'username', 'the username field has focus')
  await page.keyboard.type(username)
  await page.keyboard.press('Enter')
  await page.getByRole('heading', { name: 'Add a passkey' }).waitFor()
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'passkey-title', 'focus moves to the next step')
  assert.match(await page.getByRole('status').innerText(), /Account created/)
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Create a passkey')
  await page.keyboard.press('Enter')
  await page.waitForURL(`${accounts}/portal/account`)
  await waitText(page, '[role=status]', 'Passkey created.')
  assert.match(await page.locator('.who').first().innerText(), new RegExp(username))
  assert.equal((await listedPasskeys(page)).length, 1)

  // the same authenticator cannot hold two passkeys for one account (excludeCredentials)
  await page.getByRole('button', { name: 'Add a passkey' }).click()
  await waitText(page, '[role=alert]', 'This device already holds a passkey for your account.')
  assert.equal((await listedPasskeys(page)).length, 1)
  assert.equal((await me(page)).body.response.passkeys.length, 1, 'a refused creation left nothing behind')

  // so a second passkey is made on a second device (a fresh authenticator); then the first
  // device is back. One authenticator holds one discoverable passkey per account and RP.
  const [firstSaved] = await u.credentials()
  await newDevice(u, [])
  await page.getByRole('button', { name: 'Add a passkey' }).click()
  await waitFor(page, async () => (await listedPasskeys(page)).length === 2, 'two passkeys')
  const [first, second] = await listedPasskeys(page)
  assert.equal(await page.evaluate(() => document.activeElement?.closest('li')?.dataset.passkeyId), second.id)
  const [secondSaved] = await u.credentials()
  assert.notEqual(secondSaved.credentialId, firstSaved.credentialId)
  await newDevice(u, [firstSaved])

  // sign out, sign in with the button (discoverable)
  await portalSignOut(u)
  await waitText(page, '[role=status]', 'Signed out.')
  await portalSignInWithButton(u, accounts)
  await page.waitForURL(`${accounts}/portal/account`)
  await waitText(page, '[role=status]', 'Signed in.')

  // sign out, sign in by autofill (conditional mediation on the username field), no click
  await portalSignOut(u)
  await u.setPresence(true)
  await page.reload()
  await page.waitForURL(`${accounts}/portal/account`) // the autofill request is answered at once
  const okGets = (await u.webauthnCalls()).filter((c) => c.kind === 'get' && c.outcome === 'ok').map((c) => c.mediation)
  // The button's request, then autofill's. A loaded machine may also let the sign-in page's
  // autofill request be answered once presence returns: an extra autofill answer, never a
  // second button one.
  assert.equal(okGets[0], 'optional', `the button first: ${okGets}`)
  assert.equal(okGets.at(-1), 'conditional', `then autofill: ${okGets}`)
  assert.deepEqual(okGets.slice(1).filter((m) => m !== 'conditional'), [], `the rest autofill: ${okGets}`)

  // rename the first passkey (keyboard: Enter saves), survives a reload
  const item = (id) => page.locator(`#passkeys li[data-passkey-id="${id}"]`)
  await item(first.id).getByRole('button', { name: /^Rename/ }).click()
  const input = page.getByLabel(/^New name for passkey/)
  assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'INPUT')
  await input.fill('Work laptop')
  await input.press('Enter')
  await waitText(page, '[role=status]', 'Passkey renamed to “Work laptop”.')
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Rename Work laptop', 'focus returns to the Rename button')
  await page.reload()
  await waitFor(page, async () => (await listedPasskeys(page)).length === 2, 'the list after reload')
  assert.deepEqual((await listedPasskeys(page)).find((p) => p.id === first.id), { id: first.id, name: 'Work laptop' })

  // delete the second: an inline confirmation (focus on Cancel), then gone
  await item(second.id).getByRole('button', { name: /^Delete/ }).click()
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel')
  await item(second.id).getByRole('button', { name: 'Delete passkey' }).click()
  await waitFor(page, async () => (await listedPasskeys(page)).length === 1, 'one passkey left')
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'passkeys-title')
  assert.match(await page.getByRole('status').innerText(), /deleted/)
  const after = await me(page)
  assert.deepEqual(after.body.response.passkeys.map((p) => [p.id, p.name]), [[first.id, 'Work laptop']])

  // sign in by username + button: only the remaining passkey is offered
  await portalSignOut(u)
  await portalSignInWithButton(u, accounts, { username })
  await page.waitForURL(`${accounts}/portal/account`)

  // the second device still holds the deleted passkey, but Latch refuses it
  await newDevice(u, [secondSaved])
  await portalSignOut(u)
  await portalSignInWithButton(u, accounts)
  const refused = await errorText(page)
  assert.doesNotMatch(refused, /The browser did not/, `the browser part must succeed; Latch refuses: ${refused}`)
  assert.equal(new URL(page.url()).pathname, '/portal/sign-in')
  t.diagnostic(`deleted passkey refused: ${refused}`)
})

scenario('domains 5. the portal setting: dev warning only in development, off with --portal=false and by default in production', async ({ t }) => {
  const get = async (url) => {
    const res = await fetch(url)
    return { status: res.status, text: await res.text(), csp: res.headers.get('content-security-policy') }
  }
  const dev = await startLatch(t, 'portal-dev', await freePort(), [])
  const page = await get(`${dev.url}/portal/sign-in`)
  assert.equal(page.status, 200)
  assert.match(page.text, /Development instance/)
  assert.match(page.text, /<strong id="dev-rp-id">localhost<\/strong>/)
  assert.match(page.csp, /frame-ancestors 'none'/)
  for (const p of ['/portal/sign-up', '/portal/account', '/portal/portal.js', '/portal/fapi.js', '/portal/portal.css']) {
    assert.equal((await get(`${dev.url}${p}`)).status, 200, p)
  }
  assert.doesNotMatch(page.text, /https?:\/\/(?!localhost)/, 'no external assets')

  const off = await startLatch(t, 'portal-off', await freePort(), ['--portal=false'])
  assert.equal((await get(`${off.url}/portal/sign-in`)).status, 404)

  const prodArgs = ['--production', '--rp-id', 'example.com', '--origin', 'https://accounts.example.com', '--issuer', 'https://clerk.example.com']
  const prod = await startLatch(t, 'portal-prod', await freePort(), prodArgs)
  assert.equal((await get(`${prod.url}/portal/sign-in`)).status, 404, 'production: off unless asked for')
  const prodOn = await startLatch(t, 'portal-prod-on', await freePort(), [...prodArgs, '--portal'])
  const prodPage = await get(`${prodOn.url}/portal/sign-in`)
  assert.equal(prodPage.status, 200)
  assert.doesNotMatch(prodPage.text, /Development instance/)
})

// ---------- configurations Latch refuses at start ----------

const refusals = [
  {
    name: 'a public suffix as RP ID',
    args: ['--rp-id', 'co.uk', '--origin', 'https://shop.co.uk'],
    message: /rp_id "co\.uk" is a public suffix.*use your registrable domain under it \(e\.g\. example\.co\.uk\)/,
  },
  {
    name: 'an origin on another domain without related origins',
    args: ['--rp-id', 'example.test', '--origin', 'http://example-admin.test:8765'],
    message: /origin http:\/\/example-admin\.test:8765 is not on rp_id "example\.test".*move it to related_origins \(served at https:\/\/example\.test\/\.well-known\/webauthn\)/,
  },
  {
    name: 'a sibling subdomain of the RP ID',
    args: ['--rp-id', 'staging1.example.test', '--origin', 'http://staging2.example.test:8765'],
    message: /origin http:\/\/staging2\.example\.test:8765 is not on rp_id "staging1\.example\.test"/,
  },
  {
    name: 'http origins in production',
    args: ['--production', '--rp-id', 'example.com', '--origin', 'http://example.com'],
    message: /origin http:\/\/example\.com uses http; browsers allow passkeys only on https \(or localhost\)\. Use https:\/\/example\.com/,
  },
  {
    name: 'an http related origin in production',
    args: ['--production', '--rp-id', 'example.com', '--origin', 'https://example.com', '--related-origin', 'http://example-admin.com'],
    message: /origin http:\/\/example-admin\.com uses http/,
  },
  {
    name: 'more than 5 related registrable domains',
    args: ['--rp-id', 'example.test', '--origin', 'http://example.test:8765',
      ...['a', 'b', 'c', 'd', 'e', 'f'].flatMap((l) => ['--related-origin', `http://${l}-shop.test:8765`])],
    message: /related_origins span 6 registrable domains \(a-shop, b-shop, c-shop, d-shop, e-shop, f-shop\); browsers honour at most 5: drop some/,
  },
]

for (const { name, args, message } of refusals) {
  test(`config refused: ${name}`, async () => {
    const { code, stderr, listened } = await runLatchExpectingRefusal(args)
    assert.equal(listened, false, 'latch started with a configuration browsers would reject')
    assert.notEqual(code, 0)
    assert.match(stderr, /invalid configuration: /, stderr)
    assert.match(stderr, message, stderr)
  })
}

test('config accepted: the same setups, fixed as the messages say', async (t) => {
  for (const args of [
    ['--rp-id', 'example.co.uk', '--origin', 'https://shop.example.co.uk', '--production', '--issuer', 'https://clerk.example.co.uk'],
    ['--rp-id', 'example.test', '--origin', 'http://example.test:8765', '--related-origin', 'http://example-admin.test:8765'],
    ['--rp-id', 'example.test', '--origin', 'http://staging2.example.test:8765'],
    ['--production', '--rp-id', 'example.com', '--origin', 'https://example.com', '--issuer', 'https://clerk.example.com'],
    ['--rp-id', 'example.test', '--origin', 'http://example.test:8765',
      ...['a', 'b', 'c', 'd', 'e'].flatMap((l) => ['--related-origin', `http://${l}-shop.test:8765`])],
  ]) {
    const latch = await startLatch(t, 'accepted', await freePort(), args)
    await latch.stop()
  }
})
