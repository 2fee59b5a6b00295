// Helpers for the Next.js suite: Chromium with a virtual WebAuthn authenticator per page,
// waits on the example's status ids, failure artefacts. (tests/browser/lib.mjs does the same
// for the React example; this suite installs its own packages, so it has its own copy of the
// few helpers it needs.)
import { test } from 'node:test'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = path.dirname(fileURLToPath(import.meta.url))
export const APP_URL = (process.env.APP_URL ?? 'http://localhost:3000').replace(/\/$/, '')
export const OUT_DIR = process.env.TEST_OUTPUT_DIR ?? path.join(here, 'test-results')
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium'
fs.mkdirSync(OUT_DIR, { recursive: true })

let browserPromise
export function browser() {
  browserPromise ??= chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Under automation (navigator.webdriver) clerk-js refuses passkeys (passkey_not_supported).
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
    ],
  })
  return browserPromise
}
export async function closeBrowser() {
  if (browserPromise) await (await browserPromise).close()
  browserPromise = undefined
}

/** Pages opened so far, for failure artefacts. */
const openPages = new Set()

/**
 * A page in `context` with a virtual authenticator of its own (a device's platform
 * authenticator: the passkeys it creates stay with this page). `navigations` records every
 * document response, redirects included: {url, status, location, reason}.
 */
export async function openPage(context) {
  const page = await context.newPage()
  const lines = []
  const navigations = []
  page.on('console', (m) => lines.push(`[console.${m.type()}] ${m.text()}`))
  page.on('pageerror', (e) => lines.push(`[pageerror] ${e.stack ?? e}`))
  page.on('requestfailed', (r) => lines.push(`[requestfailed] ${r.method()} ${r.url()} ${r.failure()?.errorText}`))
  page.on('response', (r) => {
    const req = r.request()
    const url = new URL(r.url())
    if (url.pathname.startsWith('/__clerk/') || req.isNavigationRequest()) {
      lines.push(`[http] ${r.status()} ${req.method()} ${r.url()}`)
    }
    if (req.isNavigationRequest()) {
      const headers = r.headers()
      navigations.push({ url: r.url(), status: r.status(), location: headers.location ?? '', reason: headers['x-clerk-auth-reason'] ?? '' })
    }
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
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  })
  page.__lines = lines
  page.navigations = navigations
  page.credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials
  openPages.add(page)
  page.on('close', () => openPages.delete(page))
  return page
}

/** A test whose failure leaves a screenshot and the log of every open page in OUT_DIR. */
export function step(name, fn, { timeout = 120_000 } = {}) {
  return test(name, { timeout }, async (t) => {
    try {
      await fn(t)
    } catch (err) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase().slice(0, 60)
      let i = 0
      for (const page of openPages) {
        const base = path.join(OUT_DIR, `${slug}-page${++i}`)
        await page.screenshot({ path: `${base}.png`, fullPage: true }).catch(() => {})
        const status = await page.locator('aside').allInnerTexts().catch(() => [])
        fs.writeFileSync(`${base}.txt`, `URL: ${page.url()}\n\n== status panel ==\n${status.join('\n')}\n\n== console / network ==\n${page.__lines.join('\n')}\n`)
      }
      t.diagnostic(`failure artefacts in ${OUT_DIR}`)
      throw err
    }
  })
}

/** Waits until the text of `sel` equals `want` (or matches it, a RegExp). */
export async function waitText(page, sel, want, timeout = 20_000) {
  const deadline = Date.now() + timeout
  let last
  for (;;) {
    last = await page.locator(sel).first().innerText({ timeout: 1000 }).catch(() => undefined)
    if (last !== undefined && (want instanceof RegExp ? want.test(last) : last.trim() === String(want))) return last.trim()
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${sel} to be ${want} (last: ${JSON.stringify(last)}) on ${page.url()}`)
    await page.waitForTimeout(150)
  }
}

export const text = async (page, sel) => (await page.locator(sel).first().innerText()).trim()

/** Opens `p` as a full page load and waits until clerk-js has loaded against Latch. */
export async function gotoApp(page, p) {
  const response = await page.goto(`${APP_URL}${p}`)
  await waitText(page, '#clerk-loaded', 'yes', 30_000)
  const status = await text(page, '#clerk-status')
  if (status !== 'ready') throw new Error(`clerk-js status is ${JSON.stringify(status)}, not "ready"`)
  return response
}

/** The claims of a JWT (not verified: for reading `exp`). */
export function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'))
}
