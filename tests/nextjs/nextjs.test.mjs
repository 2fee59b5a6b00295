// examples/nextjs-passkeys (next build + next start; clerkMiddleware, auth(), currentUser(), a
// route handler, @clerk/nextjs' Frontend API proxy) against a real `latch serve`, in headless
// Chromium with virtual authenticators. run.sh starts both and sets:
//   APP_URL     the Next.js app (http://localhost:PORT; Latch's allowed origin and RP ID localhost)
//   LATCH_URL   Latch itself, for the Backend API calls an operator makes (revoke, sign-in token)
//   SECRET_KEY  a secret key from `latch keys create`
//   TOKEN_TTL_SECS  Latch's --token-ttl-secs (short, so a token can be waited out)
//
// The steps run in order and share one story: a user signs up on device A, adds a passkey,
// signs out and back in with it; the server-rendered pages and the route handler know them.
// Then device A is lost: the operator revokes its session over the Backend API and issues a
// recovery ticket; on device B, without a passkey, the user redeems it, adds a new passkey,
// deletes the lost one and signs in with the new one. Both tokens expire while no tab is open:
// B's next page load still knows the user (through Latch's handshake), A's is signed out.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import { createClerkClient } from '@clerk/backend'
import { APP_URL, browser, claims, closeBrowser, gotoApp, openPage, step, text, waitText } from './lib.mjs'

const LATCH_URL = process.env.LATCH_URL ?? assert.fail('LATCH_URL is not set (run.sh sets it)')
const SECRET_KEY = process.env.SECRET_KEY ?? assert.fail('SECRET_KEY is not set (run.sh sets it)')
const TOKEN_TTL_SECS = Number(process.env.TOKEN_TTL_SECS ?? 30)
// @clerk/backend allows 5 s of clock skew on `exp`: a token counts as expired 5 s after it.
const SKEW_SECS = 5
const clerk = createClerkClient({ secretKey: SECRET_KEY, apiUrl: `${LATCH_URL}/bapi` })

const username = `next_${Date.now().toString(36)}_${process.pid}`
const story = {} // what the steps learn and hand on: contexts, ids, times

after(async () => {
  for (const ctx of [story.deviceA, story.deviceB, story.deviceC]) await ctx?.close().catch(() => {})
  await closeBrowser()
})

/** The session token cookie clerk-js set on the app's host, and its claims. */
async function sessionCookie(context) {
  const cookie = (await context.cookies(APP_URL)).find((c) => c.name === '__session')
  return cookie && cookie.value ? { jwt: cookie.value, ...claims(cookie.value) } : undefined
}

/** Sleeps until the token whose `exp` is given counts as expired for the app's server. */
async function waitPastExpiry(exp) {
  const ms = (exp + SKEW_SECS + 1) * 1000 - Date.now()
  if (ms > 0) await new Promise((r) => setTimeout(r, ms))
}

/** The passkeys' ids and names as the guide's list shows them ("Name: … | ID: …"). */
async function listedPasskeys(page) {
  const items = await page.locator('#delete li').allInnerTexts()
  return items.map((line) => {
    const m = line.match(/^Name: (.*) \| ID: (\S+)$/)
    assert.ok(m, `unexpected passkey line ${JSON.stringify(line)}`)
    return { name: m[1], id: m[2] }
  })
}

async function createPasskey(page, count) {
  await page.getByRole('button', { name: 'Create a passkey' }).click()
  await waitText(page, '#passkey-count', String(count))
  assert.equal(await text(page, '#last-error-code'), '')
}

/** The server-rendered home page and the route handler, as a page load and a fetch from it. */
async function assertServerKnows(page, { userId, username: name }) {
  await gotoApp(page, '/')
  assert.equal(await text(page, '#server-signed-in'), 'yes')
  assert.equal(await text(page, '#server-user-id'), userId, 'auth().userId')
  assert.equal(await text(page, '#server-username'), name, 'currentUser().username')
  const me = await page.evaluate(async () => {
    const res = await fetch('/api/me')
    return { status: res.status, body: await res.json() }
  })
  assert.equal(me.status, 200, JSON.stringify(me.body))
  assert.equal(me.body.userId, userId, 'the route handler: auth().userId')
  return me.body.sessionId
}

step('sign up with a username: the server-rendered page and the route handler know the user', async () => {
  const b = await browser()
  story.deviceA = await b.newContext()
  const page = (story.pageA = await openPage(story.deviceA))
  await gotoApp(page, '/sign-up')
  await page.fill('#sign-up-username', username)
  await page.getByRole('button', { name: 'Sign up' }).click()
  await waitText(page, '#signed-in', 'yes')
  story.userId = await waitText(page, '#user-id', /^user_/)
  // finalize() navigates to /account, which middleware lets through now: the server knows them
  await waitText(page, '#account-username', username)
  assert.equal(await text(page, '#account-user-id'), story.userId)

  const sessionId = await assertServerKnows(page, { userId: story.userId, username })
  assert.match(sessionId, /^sess_/)
  // the route handler without the browser's cookies: signed out
  const anonymous = await fetch(`${APP_URL}/api/me`)
  assert.equal(anonymous.status, 401)
})

step('add a passkey and rename it (the guide\'s snippets on /account)', async () => {
  const page = story.pageA
  await gotoApp(page, '/account')
  await waitText(page, '#passkey-count', '0')
  await createPasskey(page, 1)
  assert.equal((await page.credentials()).length, 1, 'the authenticator holds the new passkey')
  const [passkey] = await listedPasskeys(page)
  story.lostPasskeyId = passkey.id
  await page.fill('#rename input[placeholder="Enter the passkey ID"]', passkey.id)
  await page.fill('#rename input[placeholder="Enter the passkey\'s new name"]', 'Device A')
  await page.getByRole('button', { name: 'Rename passkey' }).click()
  await waitText(page, '#rename', /Passkey updated: Yes/)
  assert.deepEqual(await listedPasskeys(page), [{ name: 'Device A', id: passkey.id }])
})

step('sign out: the server sees a signed-out visitor and /account sends them to /sign-in', async () => {
  const page = story.pageA
  await page.getByRole('button', { name: 'Sign out' }).click()
  await waitText(page, '#signed-in', 'no')
  await gotoApp(page, '/')
  assert.equal(await text(page, '#server-signed-in'), 'no')
  assert.equal(await text(page, '#server-user-id'), '')
  await gotoApp(page, '/account')
  const url = new URL(page.url())
  assert.equal(url.pathname, '/sign-in', 'clerkMiddleware + auth.protect() redirect')
  assert.equal(url.searchParams.get('redirect_url'), `${APP_URL}/account`)
})

step('sign in with the passkey: browser and server agree on the user', async () => {
  const page = story.pageA
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
  await waitText(page, '#signed-in', 'yes')
  assert.equal(await text(page, '#user-id'), story.userId)
  // the guide's finalize navigates to / (a client-side navigation; the server renders it)
  await waitText(page, '#server-username', username)
  story.sessionId = await assertServerKnows(page, { userId: story.userId, username })
})

step('device A is lost: the operator revokes its session over the Backend API (clerkClient.sessions.revokeSession)', async () => {
  // The lost device is offline: no clerk-js runs there to learn of the revocation.
  await story.pageA.close()
  const revoked = await clerk.sessions.revokeSession(story.sessionId)
  assert.equal(revoked.status, 'revoked')
  assert.equal(revoked.userId, story.userId)
  const { data } = await clerk.sessions.getSessionList({ userId: story.userId, status: 'active' })
  assert.deepEqual(data.map((s) => s.id), [], 'no live session left')
})

step('a recovery ticket signs the user in on device B, who adds a new passkey and deletes the lost one', async () => {
  const { token, userId } = await clerk.signInTokens.createSignInToken({ userId: story.userId, expiresInSeconds: 600 })
  assert.equal(userId, story.userId)
  story.ticketUrl = `/sign-in?__clerk_ticket=${encodeURIComponent(token)}`
  const b = await browser()
  story.deviceB = await b.newContext()
  const page = (story.pageB = await openPage(story.deviceB))
  await gotoApp(page, story.ticketUrl)
  await waitText(page, '#signed-in', 'yes')
  assert.equal(await text(page, '#user-id'), story.userId)
  await waitText(page, '#account-username', username) // finalize() navigates to /account
  await waitText(page, '#passkey-count', '1') // device A's passkey, not on this device
  assert.equal((await page.credentials()).length, 0)

  await createPasskey(page, 2)
  assert.equal((await page.credentials()).length, 1)
  await page.fill('#delete input[placeholder="Enter the passkey ID"]', story.lostPasskeyId)
  await page.getByRole('button', { name: 'Delete passkey' }).click()
  await waitText(page, '#passkey-count', '1')
  const [left] = await listedPasskeys(page)
  assert.notEqual(left.id, story.lostPasskeyId)

  // and the new passkey signs in
  await page.getByRole('button', { name: 'Sign out' }).click()
  await waitText(page, '#signed-in', 'no')
  await gotoApp(page, '/sign-in')
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
  await waitText(page, '#signed-in', 'yes')
  await waitText(page, '#server-username', username)
  story.sessionB = await assertServerKnows(page, { userId: story.userId, username })
  assert.notEqual(story.sessionB, story.sessionId)
})

step('the ticket was single-use: redeeming it again signs nobody in', async () => {
  const b = await browser()
  story.deviceC = await b.newContext()
  const page = await openPage(story.deviceC)
  await gotoApp(page, story.ticketUrl)
  await waitText(page, '#last-error-code', 'ticket_invalid')
  assert.equal(await text(page, '#signed-in'), 'no')
  await page.close()
})

step('both tokens expire while no tab is open', async () => {
  await story.pageB.close() // nothing refreshes device B's token either
  const a = await sessionCookie(story.deviceA)
  const b = await sessionCookie(story.deviceB)
  assert.equal(a.sid, story.sessionId)
  assert.equal(b.sid, story.sessionB)
  await waitPastExpiry(Math.max(a.exp, b.exp))
})

step("device B's next page load goes through Latch's handshake and still knows the user", async () => {
  const context = story.deviceB
  const page = await openPage(context)
  await page.goto(`${APP_URL}/account`)
  await waitText(page, '#account-username', username)
  // The redirect chain: the app -> Latch's handshake (through the proxy) -> back with a nonce
  const hops = page.navigations.map((n) => ({ ...n, path: new URL(n.url).pathname }))
  const first = hops[0]
  assert.equal(first.path, '/account')
  assert.equal(first.status, 307, JSON.stringify(hops))
  assert.match(first.reason, /session-token-expired/, 'clerkMiddleware saw the expired token')
  const handshake = new URL(first.location, first.url)
  assert.equal(handshake.origin + handshake.pathname, `${APP_URL}/__clerk/v1/client/handshake`)
  assert.equal(handshake.searchParams.get('format'), 'nonce')
  const atLatch = hops.find((h) => h.path === '/__clerk/v1/client/handshake')
  assert.ok(atLatch, `the browser visited the handshake: ${JSON.stringify(hops)}`)
  assert.equal(atLatch.status, 307)
  const back = new URL(atLatch.location, atLatch.url)
  assert.equal(back.origin + back.pathname, `${APP_URL}/account`)
  assert.match(back.searchParams.get('__clerk_handshake_nonce') ?? '', /^[A-Za-z0-9_-]{43}$/)
  assert.equal(hops.at(-1).status, 200, 'rendered signed in, without another redirect')
  assert.equal(hops.length, 3, JSON.stringify(hops))

  const fresh = await sessionCookie(context)
  assert.equal(fresh.sid, story.sessionB, 'the same session')
  assert.ok(fresh.exp > Date.now() / 1000, 'a fresh token from the handshake')
  await waitText(page, '#signed-in', 'yes')
  await assertServerKnows(page, { userId: story.userId, username })
})

step("device A's next page load is signed out: the handshake finds its session revoked", async () => {
  const page = await openPage(story.deviceA)
  await page.goto(`${APP_URL}/account`)
  // clerkMiddleware -> Latch's handshake -> signed out -> auth.protect() -> /sign-in
  await waitText(page, '#clerk-loaded', 'yes', 30_000)
  const url = new URL(page.url())
  assert.equal(url.pathname, '/sign-in', JSON.stringify(page.navigations))
  assert.ok(page.navigations.some((n) => new URL(n.url).pathname === '/__clerk/v1/client/handshake'), 'through the handshake')
  assert.equal(await text(page, '#signed-in'), 'no')
  await gotoApp(page, '/')
  assert.equal(await text(page, '#server-signed-in'), 'no')
  assert.equal(await sessionCookie(story.deviceA), undefined, 'the handshake cleared __session')
  const uat = (await story.deviceA.cookies(APP_URL)).find((c) => c.name === '__client_uat')
  assert.equal(uat?.value, '0')
})

step("the app's webhook route received the story as signed events (verifyWebhook with the whsec_ Latch printed)", async () => {
  // Latch delivers within a second or so of each change; every change above is long past.
  let events = []
  const wanted = ['user.created', 'session.created', 'passkey.created', 'passkey.updated', 'session.ended', 'session.revoked', 'passkey.deleted']
  const deadline = Date.now() + 30_000
  for (;;) {
    const res = await fetch(`${APP_URL}/api/webhooks`)
    assert.equal(res.status, 200)
    // Each run starts a fresh Latch: every event is about this story's one user.
    events = await res.json()
    const types = new Set(events.map((e) => e.type))
    if (wanted.every((t) => types.has(t)) || Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 500))
  }
  const types = new Set(events.map((e) => e.type))
  for (const t of wanted) assert.ok(types.has(t), `${t} arrived (got ${[...types].join(', ')})`)
  const created = events.find((e) => e.type === 'user.created')
  assert.equal(created.objectId, story.userId)
  for (const e of events.filter((e) => e.type.startsWith('session.'))) assert.equal(e.userId, story.userId, e.type)
  const revoked = events.find((e) => e.type === 'session.revoked')
  assert.equal(revoked.objectId, story.sessionId, 'the session the operator revoked')
  for (const e of events) assert.match(e.id, /^msg_/)
  // A message id names one event: a retry repeats it with the same type and object.
  const byId = new Map()
  for (const e of events) {
    const seen = byId.get(e.id)
    if (seen) assert.deepEqual(seen, e, 'a redelivery is the same event')
    byId.set(e.id, e)
  }
  // Nothing but Latch's signature gets in.
  const forged = await fetch(`${APP_URL}/api/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'svix-id': 'msg_forged', 'svix-timestamp': String(Math.floor(Date.now() / 1000)), 'svix-signature': 'v1,AAAA' },
    body: JSON.stringify({ type: 'user.deleted', object: 'event', data: { id: story.userId } }),
  })
  assert.equal(forged.status, 400)
})
