// Shared helpers for the browser tests: Chromium with a virtual WebAuthn authenticator
// driving examples/react-passkeys (served same-origin with /__clerk -> Latch).
import { test } from 'node:test'
import { execFileSync, spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = path.dirname(fileURLToPath(import.meta.url))

export const APP_URL = (process.env.APP_URL ?? 'http://localhost:5173').replace(/\/$/, '')
// Latch itself (not through the proxy): used for the JWKS.
export const LATCH_URL = (process.env.LATCH_URL ?? `${APP_URL}/__clerk`).replace(/\/$/, '')
export const OUT_DIR = process.env.TEST_OUTPUT_DIR ?? path.join(here, 'test-results')
export const FALLBACK_NAME = process.env.EXPECT_PASSKEY_NAME ?? 'Passkey'
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium'
export const LATCH_BIN = process.env.LATCH_BIN ?? path.resolve(here, '../../target/debug/latch')

fs.mkdirSync(OUT_DIR, { recursive: true })

/** A TCP port nobody listens on now (the OS's pick), for a server to take. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/**
 * `LATCH_BROWSER_POSTGRES_URL` (postgres://…/any-database): every startLatch below gets a
 * PostgreSQL database of its own on that server (dropped afterwards) instead of SQLite in its
 * data folder; run.sh sets it for a second pass of the tests that start their own Latch.
 */
const POSTGRES_SERVER = process.env.LATCH_BROWSER_POSTGRES_URL?.replace(/\/[^/]*$/, '')

/** A fresh PostgreSQL database for one Latch; returns its URL and a function that drops it. */
function postgresDatabase(name) {
  const db = `latch_browser_${name.slice(0, 24).replace(/[^a-z0-9]/gi, '_')}_${process.pid}_${Date.now()}`.toLowerCase()
  const admin = (sql) => execFileSync('psql', [`${POSTGRES_SERVER}/postgres`, '-qc', sql], { stdio: ['ignore', 'pipe', 'pipe'] })
  admin(`CREATE DATABASE ${db}`)
  return { url: `${POSTGRES_SERVER}/${db}`, drop: () => admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`) }
}

/**
 * A `latch serve` of a test's own on http://localhost:<free port>, with a fresh data folder
 * (and a fresh PostgreSQL database with LATCH_BROWSER_POSTGRES_URL); resolves once it
 * listens. `args` are more `serve` arguments, or a function of the origin that gives them.
 * Its output goes to OUT_DIR/latch-<name>.log; `t.after` stops it and removes its data.
 * Resolves to { origin, dataDir, cli(...command) } (`cli` runs another `latch` command on the
 * same data).
 */
export async function startLatch(t, name, args = []) {
  const port = await freePort()
  const origin = `http://localhost:${port}`
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `latch-${name}-`))
  const database = POSTGRES_SERVER ? postgresDatabase(name) : null
  const env = { ...process.env, LATCH_LOG: 'info,sqlx=warn', ...(database ? { LATCH_DATABASE_URL: database.url } : {}) }
  const log = fs.createWriteStream(path.join(OUT_DIR, `latch-${name}.log`))
  const extra = typeof args === 'function' ? args(origin) : args
  const proc = spawn(LATCH_BIN, ['serve', '--port', String(port), '--data-dir', dataDir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  })
  let output = ''
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)))
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
    await exited
    log.end()
    fs.rmSync(dataDir, { recursive: true, force: true })
    database?.drop()
  })
  await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      log.write(chunk)
      output += chunk
      if (/latch listening on http:\/\/\S+/.test(output)) resolve()
    }
    proc.stdout.on('data', onData)
    proc.stderr.on('data', onData)
    exited.then((code) => reject(new Error(`latch exited (code ${code}) before listening:\n${output}`)))
    setTimeout(() => reject(new Error(`latch did not listen within 30 s:\n${output}`)), 30_000).unref()
  })
  const cli = (...command) =>
    execFileSync(LATCH_BIN, [...command, '--data-dir', dataDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env })
  return { origin, dataDir, cli }
}

/** A headless Chromium; `args` are added to the usual flags (e.g. --host-resolver-rules). */
export function launchBrowser(args = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Under automation (navigator.webdriver === true) clerk-js refuses passkeys with
    // passkey_not_supported before any request (docs/protocol.md §11).
    ignoreDefaultArgs: ['--enable-automation'],
    args: [
      '--disable-blink-features=AutomationControlled',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...args,
    ],
  })
}

let browserPromise
export function browser() {
  browserPromise ??= launchBrowser()
  return browserPromise
}
export async function closeBrowser() {
  if (browserPromise) await (await browserPromise).close()
  browserPromise = undefined
}

let counter = 0
export function uniqueName(prefix = 'user') {
  return `${prefix}_${Date.now().toString(36)}_${process.pid}_${counter++}`
}

/**
 * A fresh browser context (cookie jar = one browser profile) with a page and a virtual
 * authenticator; in `opts.browser` if given (one launched with other flags), else the shared one.
 */
export async function openUser(t, { userVerified = true, prf = false, browser: inBrowser } = {}) {
  const b = inBrowser ?? (await browser())
  const context = await b.newContext()
  const page = await context.newPage()
  const consoleLines = []
  page.on('console', (m) => consoleLines.push(`[console.${m.type()}] ${m.text()}`))
  page.__pageErrors = []
  page.on('pageerror', (e) => {
    consoleLines.push(`[pageerror] ${e.stack ?? e}`)
    page.__pageErrors.push(e)
  })
  page.on('requestfailed', (r) => consoleLines.push(`[requestfailed] ${r.method()} ${r.url()} ${r.failure()?.errorText}`))
  const fapiLog = [] // every FAPI exchange of this page: {method, path, status}
  page.on('response', (r) => {
    if (!r.url().includes('/__clerk/')) return
    const url = new URL(r.url())
    const method = url.searchParams.get('_method') ?? r.request().method()
    fapiLog.push({ method, path: url.pathname.replace(/^\/__clerk/, ''), status: r.status() })
    consoleLines.push(`[fapi] ${r.status()} ${r.request().method()} ${r.url()}`)
  })
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable', { enableUI: false })
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: userVerified,
      automaticPresenceSimulation: true,
      // `prf: true`: the authenticator supports the PRF extension (CTAP2 hmac-secret).
      hasPrf: prf,
    },
  })
  const user = {
    context,
    page,
    cdp,
    authenticatorId,
    consoleLines,
    fapiLog,
    /** the last FAPI exchange whose path ends with `suffix` */
    lastFapi: (suffix) => [...fapiLog].reverse().find((e) => e.path.endsWith(suffix)),
    setUserVerified: (v) => cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: v }),
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  }
  t.after?.(() => context.close().catch(() => {}))
  return user
}

/**
 * Wraps a scenario: on failure, a screenshot of every open page plus the page log and console
 * go to OUT_DIR/<slug>*.{png,txt}; the error is rethrown.
 */
export function scenario(name, fn, { timeout = 120_000 } = {}) {
  return test(name, { timeout }, async (t) => {
    const users = []
    const track = async (opts) => {
      const u = await openUser(t, opts)
      users.push(u)
      return u
    }
    try {
      await fn({ t, openUser: track })
    } catch (err) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase()
      for (const [i, u] of users.entries()) {
        const base = path.join(OUT_DIR, `${slug}${users.length > 1 ? `-user${i + 1}` : ''}`)
        try {
          await u.page.screenshot({ path: `${base}.png`, fullPage: true })
        } catch (e) {
          fs.writeFileSync(`${base}.screenshot-error.txt`, String(e))
        }
        let pageLog = ''
        try {
          // the example's log panel, or else the page's live regions (the account portal)
          const panel = u.page.locator('aside, [role=status], [role=alert]')
          pageLog = (await panel.allInnerTexts()).join('\n')
        } catch {}
        fs.writeFileSync(
          `${base}.txt`,
          `URL: ${u.page.url()}\n\n== page status panel ==\n${pageLog}\n\n== console / network ==\n${u.consoleLines.join('\n')}\n`,
        )
      }
      t.diagnostic(`failure artefacts in ${OUT_DIR}`)
      throw err
    } finally {
      for (const u of users) await u.context.close().catch(() => {})
    }
  })
}

// ---------- page helpers ----------

export const text = (page, sel) => page.locator(sel).first().innerText()

/** Wait until the text of `sel` matches (string equality, RegExp or predicate). */
export async function waitText(page, sel, want, timeout = 20_000) {
  const spec =
    want instanceof RegExp
      ? { kind: 're', source: want.source, flags: want.flags }
      : typeof want === 'function'
        ? null
        : { kind: 'eq', value: String(want) }
  const deadline = Date.now() + timeout
  let last
  for (;;) {
    last = await page
      .locator(sel)
      .first()
      .innerText({ timeout: 1000 })
      .catch(() => undefined)
    if (last !== undefined) {
      const ok = spec
        ? spec.kind === 're'
          ? new RegExp(spec.source, spec.flags).test(last)
          : last.trim() === spec.value
        : want(last)
      if (ok) return last
    }
    // an uncaught exception in the page (e.g. @clerk/react's 'Invalid state') ends the wait early
    if (page.__pageErrors?.length) {
      throw new Error(`page error while waiting for ${sel}: ${page.__pageErrors[0].message ?? page.__pageErrors[0]}`)
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${sel} to be ${want} (last: ${JSON.stringify(last)})`)
    }
    await page.waitForTimeout(150)
  }
}

/** Open a path of the example and wait until clerk-js loaded against Latch. */
export async function gotoApp(page, p = '/') {
  await page.goto(`${APP_URL}${p}`)
  await waitText(page, '#clerk-loaded', 'yes', 30_000)
  const status = await text(page, '#clerk-status')
  if (status !== 'ready') {
    // 'degraded' = /environment or /client failed; clerk-js then runs on cached or empty state
    throw new Error(`clerk-js status is ${JSON.stringify(status)}, not "ready": Latch did not answer /v1/environment or /v1/client`)
  }
}

export async function signUp(page, username) {
  await gotoApp(page, '/sign-up')
  await page.locator('#sign-up-username').fill(username)
  await page.getByRole('button', { name: 'Sign up' }).click()
  await waitText(page, '#signed-in', 'yes')
  await waitText(page, '#username', username)
  return { userId: await text(page, '#user-id'), sessionId: await text(page, '#session-id') }
}

export async function passkeyCount(page) {
  return Number(await text(page, '#passkey-count'))
}

export async function createPasskey(page) {
  const before = await passkeyCount(page)
  await page.getByRole('button', { name: 'Create a passkey' }).click()
  await waitText(page, '#passkey-count', String(before + 1))
}

/** The passkeys as listed by the seed's RenamePasskeyUI: [{name, id}]. */
export async function listedPasskeys(page) {
  const items = await page.locator('#rename li').allInnerTexts()
  return items.map((s) => {
    const m = /^Name: (.*) \| ID: (.*)$/.exec(s.trim())
    return m ? { name: m[1], id: m[2] } : { raw: s }
  })
}

export async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out' }).click()
  await waitText(page, '#signed-in', 'no')
}

export async function signInDiscoverable(page) {
  await gotoApp(page, '/sign-in')
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
}

/** Log entries ([{kind, code, text}]) from the page's event log. */
export async function pageLog(page) {
  return page.$$eval('#log li', (lis) =>
    lis.map((li) => ({ kind: li.dataset.kind, code: li.dataset.code, text: li.textContent })),
  )
}

/**
 * Call Latch's FAPI from inside the page (same origin, the page's cookies), encoded like
 * clerk-js does: form body, non-GET/POST verbs as POST + _method, _clerk_session_id for /me.
 */
export async function fapi(page, method, p, body) {
  return page.evaluate(
    async ({ method, p, body }) => {
      const url = new URL(`/__clerk/v1${p}`, location.origin)
      url.searchParams.set('__clerk_api_version', '2026-08-20')
      url.searchParams.set('_clerk_js_version', '6.40.0')
      if (method !== 'GET' && method !== 'POST') url.searchParams.set('_method', method)
      const sid = window.__clerk?.session?.id
      if (sid && !p.startsWith('/client')) url.searchParams.set('_clerk_session_id', sid)
      const init = { method: method === 'GET' ? 'GET' : 'POST', credentials: 'include' }
      if (method !== 'GET') {
        init.headers = { 'content-type': 'application/x-www-form-urlencoded' }
        init.body = new URLSearchParams(body ?? {}).toString()
      }
      const res = await fetch(url, init)
      let json = null
      try {
        json = await res.json()
      } catch {}
      return { status: res.status, json }
    },
    { method, p, body },
  )
}

// ---------- JWT / JWKS ----------

const b64url = (s) => Buffer.from(s, 'base64url')

/** Verify a compact JWS against Latch's JWKS (RS256 by default, or EdDSA). Returns {header, claims}. */
export async function verifyJwt(jwt) {
  const parts = jwt.split('.')
  if (parts.length !== 3) throw new Error(`not a compact JWS: ${jwt}`)
  const header = JSON.parse(b64url(parts[0]).toString('utf8'))
  const claims = JSON.parse(b64url(parts[1]).toString('utf8'))
  const res = await fetch(`${LATCH_URL}/.well-known/jwks.json`)
  if (!res.ok) throw new Error(`JWKS: HTTP ${res.status}`)
  const jwks = await res.json()
  const jwk = (jwks.keys ?? []).find((k) => k.kid === header.kid)
  if (!jwk) throw new Error(`no JWKS key with kid ${header.kid} in ${JSON.stringify(jwks)}`)
  if (header.alg !== 'RS256' && header.alg !== 'EdDSA') throw new Error(`unexpected alg ${header.alg}`)
  if (jwk.alg !== header.alg) throw new Error(`the JWK for ${header.kid} is ${jwk.alg}, the token ${header.alg}`)
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' })
  const digest = header.alg === 'RS256' ? 'sha256' : null
  const ok = crypto.verify(digest, Buffer.from(`${parts[0]}.${parts[1]}`), key, b64url(parts[2]))
  if (!ok) throw new Error('JWT signature does not verify against the JWKS')
  return { header, claims }
}
