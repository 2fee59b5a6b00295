// The admin console (docs/protocol.md §17) in a real browser: an operator signs up and signs
// in with a passkey on Latch's own portal, then through /console searches a user, sees their
// passkeys and sessions, revokes a session, issues a recovery link, deletes a passkey (after
// the session-verification passkey ceremony the stale session needs), reads the audit trail
// naming the operator, and replays a pending and a failed webhook delivery; a signed-in
// non-operator sees no data.
//
// Starts its own `latch serve --console` ($LATCH_BIN) on localhost; no proxy, no app.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { closeBrowser, freePort, scenario, startLatch, uniqueName, waitText } from './lib.mjs'

after(closeBrowser)

/** Seconds a verification stays fresh: the operator's later destructive calls need a new one. */
const MAX_AGE_SECS = 8

/** Records the browser's WebAuthn-free presence switch and the Backend API answers it saw. */
function watch(u) {
  u.bapi = []
  u.page.on('response', (r) => {
    const url = new URL(r.url())
    if (url.pathname.startsWith('/bapi/v1/')) u.bapi.push({ method: r.request().method(), path: url.pathname, status: r.status() })
  })
  u.setPresence = (enabled) =>
    u.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: u.authenticatorId, enabled })
  return u
}

async function portalSignUp(page, origin, username) {
  await page.goto(`${origin}/portal/sign-up`)
  await page.getByLabel('Username').fill(username)
  await page.getByRole('button', { name: 'Continue' }).click()
  await page.getByRole('button', { name: 'Create a passkey' }).click()
  await page.waitForURL(/\/portal\/account$/)
}

async function consoleReady(page) {
  await page.locator('body[data-ready="true"]').waitFor({ timeout: 20_000 })
}

scenario('an operator runs the console; a non-operator sees nothing', async ({ t, openUser }) => {
  // A webhook endpoint nothing listens on: every user.created delivery stays pending, retried.
  const parked = await freePort()
  const latch = await startLatch(t, 'console', [
    '--console', '--reverification-max-age-secs', String(MAX_AGE_SECS),
    '--webhook-poll-ms', '50', '--webhook-retry-unit-ms', '1',
  ])
  latch.cli('webhooks', 'add', `http://127.0.0.1:${parked}/hook`, '--events', 'user.created')
  await new Promise((r) => setTimeout(r, 1_200)) // the dispatcher notices the endpoint

  // Someone to look after: a user with a passkey and a live session in their own browser.
  const target = await openUser()
  const targetName = uniqueName('pat')
  await portalSignUp(target.page, latch.origin, targetName)

  // The operator: signs up, is granted the role, signs out, and signs in with the passkey.
  const op = watch(await openUser())
  const opName = uniqueName('op')
  await portalSignUp(op.page, latch.origin, opName)
  latch.cli('operators', 'grant', opName)
  await op.setPresence(false)
  await op.page.getByRole('button', { name: 'Sign out' }).click()
  await op.page.waitForURL(/\/portal\/sign-in$/)
  await op.page.goto(`${latch.origin}/console`)
  await consoleReady(op.page)
  assert.equal(await op.page.locator('#signed-out').isVisible(), true, 'signed out: a sign-in link, no data')
  await op.page.getByRole('link', { name: 'Sign in' }).click()
  await op.page.waitForURL(/\/portal\/sign-in\?redirect_url=/)
  await op.setPresence(true)
  try {
    await op.page.getByRole('button', { name: 'Sign in with a passkey' }).click({ timeout: 5_000 })
  } catch (e) {
    // The autofill request may be answered as presence comes back: the sign-in is then done.
    if (!new URL(op.page.url()).pathname.endsWith('/console')) throw e
  }
  await op.page.waitForURL(/\/console$/)
  await consoleReady(op.page)
  await waitText(op.page, '#who', `Signed in as ${opName}`)
  assert.equal(await op.page.locator('#console').isVisible(), true)

  // Search the user; their passkey and session.
  await op.page.getByLabel('Search by username or id').fill(targetName)
  await op.page.getByRole('button', { name: 'Search' }).click()
  await waitText(op.page, '#users tbody tr td', targetName)
  await op.page.locator('#users tbody').getByRole('button', { name: 'Open' }).click()
  await waitText(op.page, '#user-name', targetName)
  await op.page.locator('#passkeys tbody tr td:nth-child(5)').first().waitFor()
  const storage = await op.page.locator('#passkeys tbody tr td:nth-child(5)').first().textContent()
  assert.match(storage, /Device-bound|Synced|Backup eligible/)
  await waitText(op.page, '#sessions tbody tr td:nth-child(2)', 'active')

  // Revoke the session (fresh from sign-in: no confirmation asked).
  await op.page.locator('#sessions tbody').getByRole('button', { name: 'Revoke' }).click()
  await waitText(op.page, '#sessions tbody tr td:nth-child(2)', 'revoked')

  // A recovery link, shown to copy.
  await op.page.getByRole('button', { name: 'Issue a one-time recovery link' }).click()
  await op.page.locator('#recovery-url').waitFor()
  const link = await op.page.locator('#recovery-url').inputValue()
  assert.match(link, /\/portal\/sign-in\?__clerk_ticket=/)
  await op.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: latch.origin })
  await op.page.getByRole('button', { name: 'Copy' }).click()
  await waitText(op.page, '#status', 'Recovery link copied.')

  // Later, the verification is stale: deleting the passkey runs the passkey ceremony first.
  await op.page.waitForTimeout(MAX_AGE_SECS * 1000 + 500)
  await op.page.locator('#passkeys tbody').getByRole('button', { name: 'Delete passkey' }).click()
  await waitText(op.page, '#passkeys tbody tr td', 'No passkeys.')
  const refusedFirst = op.bapi.find((r) => r.method === 'DELETE' && r.status === 403)
  assert.ok(refusedFirst, `a 403 before the ceremony: ${JSON.stringify(op.bapi)}`)
  assert.ok(op.bapi.some((r) => r.method === 'DELETE' && r.status === 200), 'then the retried call')

  // The audit trail names the operator.
  await op.page.getByLabel('Action').fill('session.revoke')
  await op.page.getByRole('button', { name: 'Filter' }).click()
  await waitText(op.page, '#audit tbody tr td:nth-child(2)', 'session.revoke')
  const by = await op.page.locator('#audit tbody tr td:nth-child(5)').first().textContent()
  assert.match(by, /^operator user_/)

  // Webhook deliveries: the pending ones (the receiver is down), replayed.
  await op.page.getByLabel('Show', { exact: true }).selectOption('pending')
  await waitText(op.page, '#deliveries tbody tr td', 'user.created')
  await op.page.locator('#deliveries tbody').getByRole('button', { name: 'Replay' }).first().click()
  await waitText(op.page, '#status', /queued again \(1\)/)
  await op.page.getByLabel('Action').fill('webhook.replay')
  await op.page.getByRole('button', { name: 'Filter' }).click()
  await waitText(op.page, '#audit tbody tr td:nth-child(2)', 'webhook.replay')

  // A delivery that ran out of attempts (Svix's seven, the schedule shrunk to ms here: ~100 s
  // after the first sign-up) shows under "Failed" and is replayed from its first attempt.
  // Wait on a row whose status cell says "failed", not on a Replay button: until the failed
  // listing has loaded, the table still shows the pending rows and their buttons.
  await op.page.getByLabel('Show', { exact: true }).selectOption('failed')
  const failedShown = async () =>
    (await op.page.locator('#deliveries tbody tr td:nth-child(2)').allTextContents()).includes('failed')
  const deadline = Date.now() + 150_000
  while (!(await failedShown())) {
    if (Date.now() > deadline) throw new Error('no delivery failed within 150 s')
    await op.page.waitForTimeout(2_000)
    await op.page.getByRole('button', { name: 'Refresh' }).click()
  }
  await op.page.locator('#deliveries tbody').getByRole('button', { name: 'Replay' }).first().click()
  await waitText(op.page, '#status', /queued again \(1\)/)

  // A signed-in user who is not an operator: the console says so, the Backend API said 403.
  const plain = watch(await openUser())
  await portalSignUp(plain.page, latch.origin, uniqueName('plain'))
  await plain.page.goto(`${latch.origin}/console`)
  await consoleReady(plain.page)
  assert.equal(await plain.page.locator('#refused').isVisible(), true)
  assert.equal(await plain.page.locator('#console').isVisible(), false)
  assert.ok(plain.bapi.length > 0 && plain.bapi.every((r) => r.status === 403), JSON.stringify(plain.bapi))
}, { timeout: 300_000 })

// docs/protocol.md §22.2: Latch's creation options ask for PRF and its own pages report the
// browser's answer; the console and the user's account portal show it per passkey.
scenario('the console and the account portal show which passkeys support PRF', async ({ t, openUser }) => {
  const latch = await startLatch(t, 'console', ['--console'])
  const withPrf = await openUser({ prf: true })
  const prfName = uniqueName('prf')
  await portalSignUp(withPrf.page, latch.origin, prfName)
  const without = await openUser()
  const plainName = uniqueName('noprf')
  await portalSignUp(without.page, latch.origin, plainName)
  const portalMeta = async (page) => {
    const meta = page.locator('#passkeys li[data-passkey-id] .passkey-meta').first()
    await meta.waitFor()
    return meta.textContent()
  }
  assert.match(await portalMeta(withPrf.page), / · PRF$/)
  assert.doesNotMatch(await portalMeta(without.page), /PRF/)

  const op = watch(await openUser())
  const opName = uniqueName('op')
  await portalSignUp(op.page, latch.origin, opName)
  latch.cli('operators', 'grant', opName)
  await op.page.goto(`${latch.origin}/console`)
  await consoleReady(op.page)
  const prfShownFor = async (name) => {
    await op.page.getByLabel('Search by username or id').fill(name)
    await op.page.getByRole('button', { name: 'Search' }).click()
    await waitText(op.page, '#users tbody tr td', name)
    await op.page.locator('#users tbody').getByRole('button', { name: 'Open' }).click()
    await waitText(op.page, '#user-name', name)
    const cell = op.page.locator('#passkeys tbody tr td:nth-child(6)').first()
    await cell.waitFor()
    return cell.textContent()
  }
  assert.equal(await prfShownFor(prfName), 'Supported')
  assert.equal(await prfShownFor(plainName), 'Not supported')
})
