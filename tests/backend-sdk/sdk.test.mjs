// Clerk's own server SDK, @clerk/backend 3.25.0 (pinned, package-lock.json), against the real
// `latch serve`: what an app's server does with Latch's session tokens and Backend API.
//
//   LATCH_BIN=target/debug/latch node --test           (run.sh builds and sets it)
//   LATCH_DATABASE_URL=postgres://…  also runs it on PostgreSQL (a database of its own)
//
// A user signs up over FAPI (username sign-up; Node has no authenticator) and gets a session
// token; a second session comes from a sign-in token redeemed as a `ticket` sign-in. Then:
// verifyToken with the JWKS and with the PEM (jwtKey), authenticateRequest with a Bearer token
// and on the cookie path (each row of docs/backend.md §1.6 Latch can produce, the handshake
// followed as a browser follows it), and every clerkClient call of docs/backend.md §3.2 that
// Latch serves (sessions.getSession and getToken included, the minted token verified). Tokens live 30 s (the least Latch allows) so that one test can wait for one
// to expire.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClerkClient, verifyToken } from '@clerk/backend'

const HERE = dirname(fileURLToPath(import.meta.url))
const LATCH_BIN = process.env.LATCH_BIN ?? resolve(HERE, '../../target/debug/latch')
// The publishable key's host must contain a dot (the SDK's parsePublishableKey); the issuer
// is Latch's public URL as an app would configure it.
const ISSUER = 'https://latch.localtest.me'
const DATA_DIR = mkdtempSync(join(tmpdir(), 'latch-sdk-'))
const DB_ARGS = ['--data-dir', DATA_DIR, '--issuer', ISSUER,
  ...(process.env.LATCH_DATABASE_URL ? ['--database-url', process.env.LATCH_DATABASE_URL] : [])]

const TOKEN_TTL_SECS = 30
let server, base, origin, secretKey, publishableKey, jwtKey, clerk
const run = (...args) => execFileSync(LATCH_BIN, [...args, ...DB_ARGS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()

before(async () => {
  secretKey = run('keys', 'create', '--label', 'backend-sdk')
  publishableKey = run('keys', 'publishable')
  jwtKey = run('keys', 'jwt-key')
  server = spawn(LATCH_BIN, ['serve', '--port', '0', '--token-ttl-secs', String(TOKEN_TTL_SECS), ...DB_ARGS], { stdio: ['ignore', 'pipe', 'inherit'] })
  base = await new Promise((resolve, reject) => {
    let seen = ''
    server.stdout.on('data', (chunk) => {
      seen += chunk
      const m = seen.match(/latch listening on (http:\/\/\S+)/)
      if (m) resolve(m[1])
    })
    server.on('exit', (code) => reject(new Error(`latch exited (${code})`)))
  })
  origin = `http://localhost:${new URL(base).port}`
  clerk = createClerkClient({ secretKey, publishableKey, apiUrl: `${base}/bapi` })
})

after(() => {
  server?.kill()
  rmSync(DATA_DIR, { recursive: true, force: true })
})

/** A browser: FAPI form posts with its own client cookie, as clerk-js sends them. The
 * cookies Latch sets are kept by name in `call.cookies` (`__client`, `__client_uat`, …). */
function browser () {
  const cookies = new Map()
  const call = async (path, fields) => {
    const res = await fetch(`${base}/v1${path}?__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/x-www-form-urlencoded', ...call.cookieHeader() },
      body: new URLSearchParams(fields),
    })
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(';')
      const eq = pair.indexOf('=')
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1))
    }
    const body = await res.json()
    assert.equal(res.status, 200, JSON.stringify(body))
    return body
  }
  call.cookies = cookies
  call.cookieHeader = () => (cookies.has('__client') ? { cookie: `__client=${cookies.get('__client')}` } : {})
  return call
}

/** The session JWT the answer's client carries for its new session. */
function tokenOf (answer) {
  const sid = answer.response.created_session_id
  const session = answer.client.sessions.find((s) => s.id === sid)
  return { sid, userId: session.user.id, jwt: session.last_active_token.jwt }
}

async function signUp (username) {
  return tokenOf(await browser()('/client/sign_ups', { username }))
}

/** A signed-up browser, its session token and the `__client_uat` Latch set with it. */
async function signedUpBrowser (username) {
  const call = browser()
  const signedIn = tokenOf(await call('/client/sign_ups', { username }))
  const uat = call.cookies.get('__client_uat')
  assert.match(uat, /^[1-9][0-9]*$/)
  return { call, ...signedIn, uat }
}

/** A page load of the app as a browser makes it: a document GET with the app's cookies. */
function pageLoad (url, cookies) {
  const cookie = Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; ')
  return new Request(url, {
    headers: { accept: 'text/html', 'sec-fetch-dest': 'document', 'user-agent': 'Mozilla/5.0', ...(cookie ? { cookie } : {}) },
  })
}

/** authenticateRequest as clerkMiddleware calls it, the handshake pointed at Latch (proxyUrl). */
function authenticatePage (request) {
  return clerk.authenticateRequest(request, { proxyUrl: base })
}

test('verifyToken accepts a Latch session token with the JWKS and with jwtKey (PEM)', async () => {
  const { sid, userId, jwt } = await signUp(`sdk_verify_${Date.now()}`)
  const header = JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url'))
  assert.equal(header.alg, 'RS256')
  const viaJwks = await verifyToken(jwt, { secretKey, apiUrl: `${base}/bapi`, authorizedParties: [origin], issuer: ISSUER })
  assert.equal(viaJwks.sub, userId)
  assert.equal(viaJwks.sid, sid)
  const viaPem = await verifyToken(jwt, { jwtKey, authorizedParties: [origin] })
  assert.equal(viaPem.sub, userId)
  // A token with its payload changed does not verify; nor does a JWKS behind a wrong key.
  const [h, p, s] = jwt.split('.')
  const forged = Buffer.from(JSON.stringify({ ...viaJwks, sub: 'user_someone_else' })).toString('base64url')
  await assert.rejects(verifyToken(`${h}.${forged}.${s}`, { jwtKey }))
  await assert.rejects(verifyToken(jwt, { secretKey: 'sk_live_wrong', apiUrl: `${base}/bapi`, skipJwksCache: true }))
})

test('authenticateRequest signs in a Bearer session token and nothing else', async () => {
  const { sid, userId, jwt } = await signUp(`sdk_auth_${Date.now()}`)
  const request = (token) => new Request('https://app.example.com/api/me', { headers: { authorization: `Bearer ${token}` } })
  const state = await clerk.authenticateRequest(request(jwt), { authorizedParties: [origin] })
  assert.equal(state.isSignedIn, true, state.reason)
  const auth = state.toAuth()
  assert.equal(auth.userId, userId)
  assert.equal(auth.sessionId, sid)
  const withPem = await createClerkClient({ secretKey, publishableKey, jwtKey }).authenticateRequest(request(jwt))
  assert.equal(withPem.isSignedIn, true, withPem.reason)
  const [h, p] = jwt.split('.')
  const tampered = await clerk.authenticateRequest(request(`${h}.${p}.${Buffer.from('nope').toString('base64url')}`))
  assert.equal(tampered.isSignedIn, false)
  const otherParty = await clerk.authenticateRequest(request(jwt), { authorizedParties: ['https://evil.example.com'] })
  assert.equal(otherParty.isSignedIn, false)
})

test('clerkClient: users, metadata, sessions, sign-in tokens, revocation, deletion', async () => {
  const username = `sdk_client_${Date.now()}`
  const first = await signUp(username)

  const user = await clerk.users.getUser(first.userId)
  assert.equal(user.id, first.userId)
  assert.equal(user.username, username)
  assert.deepEqual(user.emailAddresses, [])

  const list = await clerk.users.getUserList({ userId: [first.userId] })
  assert.equal(list.totalCount, 1)
  assert.equal(list.data[0].id, first.userId)
  const page = await clerk.users.getUserList({ limit: 5, orderBy: '-created_at' })
  assert.ok(page.data.length >= 1 && page.totalCount >= 1)
  assert.equal(await clerk.users.getCount({ query: username }), 1)

  await clerk.users.updateUserMetadata(first.userId, { publicMetadata: { plan: 'pro', prefs: { theme: 'dark' } }, privateMetadata: { crm: 7 } })
  const merged = await clerk.users.updateUserMetadata(first.userId, { publicMetadata: { prefs: { lang: 'fr' } } })
  assert.deepEqual(merged.publicMetadata, { plan: 'pro', prefs: { theme: 'dark', lang: 'fr' } })
  assert.deepEqual(merged.privateMetadata, { crm: 7 })

  // A sign-in token, redeemed by another browser as a ticket sign-in.
  const signInToken = await clerk.signInTokens.createSignInToken({ userId: first.userId, expiresInSeconds: 300 })
  assert.equal(signInToken.status, 'pending')
  const second = tokenOf(await browser()('/client/sign_ins', { strategy: 'ticket', ticket: signInToken.token }))
  assert.equal(second.userId, first.userId)
  const state = await clerk.authenticateRequest(new Request('https://app.example.com/', { headers: { authorization: `Bearer ${second.jwt}` } }))
  assert.equal(state.toAuth().sessionId, second.sid)

  const sessions = await clerk.sessions.getSessionList({ userId: first.userId, status: 'active' })
  assert.deepEqual(sessions.data.map((s) => s.id).sort(), [first.sid, second.sid].sort())
  assert.equal(sessions.totalCount, 2)

  const revoked = await clerk.sessions.revokeSession(second.sid)
  assert.equal(revoked.status, 'revoked')
  const after = await clerk.sessions.getSessionList({ userId: first.userId, status: 'active' })
  assert.deepEqual(after.data.map((s) => s.id), [first.sid])

  // A passkey Latch does not know cannot be deleted: a Clerk error, not a crash.
  await assert.rejects(clerk.users.deleteUserPasskey({ userId: first.userId, passkeyIdentificationId: 'pkey_none' }), (e) => e.status === 404)

  const deleted = await clerk.users.deleteUser(first.userId)
  assert.equal(deleted.deleted, true)
  await assert.rejects(clerk.users.getUser(first.userId), (e) => e.status === 404 && e.errors[0].code === 'resource_not_found')
})

test('clerkClient.sessions: getSession, and getToken minting a token verifyToken accepts', async () => {
  const first = await signUp(`sdk_token_${Date.now()}`)

  const session = await clerk.sessions.getSession(first.sid)
  assert.equal(session.id, first.sid)
  assert.equal(session.userId, first.userId)
  assert.equal(session.status, 'active')

  // A token the app's server mints: verifyToken (the JWKS, the issuer) and authenticateRequest
  // accept it. It has no azp (no page asked for it), so a verifier that names its
  // authorizedParties refuses it, as @clerk/backend refuses any token without azp then.
  const minted = await clerk.sessions.getToken(first.sid)
  const claims = await verifyToken(minted.jwt, { secretKey, apiUrl: `${base}/bapi`, issuer: ISSUER })
  assert.equal(claims.sub, first.userId)
  assert.equal(claims.sid, first.sid)
  assert.equal(claims.azp, undefined)
  await assert.rejects(verifyToken(minted.jwt, { jwtKey, authorizedParties: [origin] }), (e) => e.reason === 'token-invalid-authorized-parties')
  assert.equal(claims.exp - claims.iat, TOKEN_TTL_SECS)
  const state = await clerk.authenticateRequest(new Request('https://app.example.com/', { headers: { authorization: `Bearer ${minted.jwt}` } }))
  assert.equal(state.toAuth().sessionId, first.sid)

  const short = await clerk.sessions.getToken(first.sid, undefined, 10)
  const shortClaims = await verifyToken(short.jwt, { jwtKey })
  assert.equal(shortClaims.exp - shortClaims.iat, 10)
  await assert.rejects(clerk.sessions.getToken(first.sid, undefined, TOKEN_TTL_SECS + 1), (e) => e.status === 422 && e.errors[0].code === 'form_param_format_invalid')
  await assert.rejects(clerk.sessions.getToken(first.sid, 'supabase'), (e) => e.status === 404 && e.errors[0].code === 'resource_not_found')

  // Revoked: read as it is, and no token for it.
  await clerk.sessions.revokeSession(first.sid)
  assert.equal((await clerk.sessions.getSession(first.sid)).status, 'revoked')
  await assert.rejects(clerk.sessions.getToken(first.sid), (e) => e.status === 404 && e.errors[0].code === 'resource_not_found')
  await assert.rejects(clerk.sessions.getSession('sess_nobody'), (e) => e.status === 404 && e.errors[0].code === 'resource_not_found')
})

test('a wrong secret key gets Clerk\'s 401', async () => {
  const wrong = createClerkClient({ secretKey: 'sk_live_not_a_key', apiUrl: `${base}/bapi` })
  await assert.rejects(wrong.users.getUserList(), (e) => e.status === 401 && e.errors[0].code === 'clerk_key_invalid')
})

test('authenticateRequest on the cookie path: signed out, signed in, and the handshake when the cookies disagree', async () => {
  const page = `${origin}/dashboard`
  const signedOut = await authenticatePage(pageLoad(page, {}))
  assert.equal(signedOut.status, 'signed-out', signedOut.reason)
  assert.equal(signedOut.isSignedIn, false)

  const { jwt, uat, sid, userId, call } = await signedUpBrowser(`sdk_cookie_${Date.now()}`)
  // The suffixed cookie is the same value under Clerk's name for this publishable key.
  const suffixed = [...call.cookies.keys()].find((k) => k.startsWith('__client_uat_'))
  assert.equal(call.cookies.get(suffixed), uat)

  const signedIn = await authenticatePage(pageLoad(page, { __session: jwt, __client_uat: uat }))
  assert.equal(signedIn.status, 'signed-in', signedIn.reason)
  assert.equal(signedIn.toAuth().userId, userId)
  assert.equal(signedIn.toAuth().sessionId, sid)
  const withSuffixed = await authenticatePage(pageLoad(page, { __session: jwt, __client_uat: uat, [suffixed]: uat }))
  assert.equal(withSuffixed.status, 'signed-in', withSuffixed.reason)

  // A token without __client_uat, and __client_uat without a token: the handshake, at Latch.
  for (const cookies of [{ __session: jwt }, { __client_uat: uat }]) {
    const state = await authenticatePage(pageLoad(page, cookies))
    assert.equal(state.status, 'handshake', `${JSON.stringify(Object.keys(cookies))}: ${state.reason}`)
    assert.ok(state.headers.get('location').startsWith(`${base}/v1/client/handshake?`), state.headers.get('location'))
  }
  // A token older than the client's last sign-in change: stale, the handshake.
  const stale = await authenticatePage(pageLoad(page, { __session: jwt, __client_uat: String(Number(uat) + 3600) }))
  assert.equal(stale.status, 'handshake', stale.reason)

  // Signed out at Latch: the next answer's __client_uat is 0, and the app is signed out.
  const signOut = await fetch(`${base}/v1/client/sessions?_method=DELETE`, { method: 'POST', headers: { origin, ...call.cookieHeader() } })
  assert.equal(signOut.status, 200)
  const out = await fetch(`${base}/v1/client?__clerk_api_version=2026-08-20`, { headers: call.cookieHeader() })
  const zero = out.headers.getSetCookie().find((c) => c.startsWith('__client_uat='))
  assert.ok(zero.startsWith('__client_uat=0;'), zero)
  const afterSignOut = await authenticatePage(pageLoad(page, { __client_uat: '0' }))
  assert.equal(afterSignOut.status, 'signed-out', afterSignOut.reason)
})

test('an expired token on a page load goes through Latch\'s handshake and comes back signed in', async () => {
  const { jwt, uat, sid, userId, call } = await signedUpBrowser(`sdk_handshake_${Date.now()}`)
  const exp = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url')).exp
  // Past exp and the SDK's 5 s clock skew.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 + 6000 - Date.now())))
  const page = `${origin}/dashboard?tab=2`
  const expired = await authenticatePage(pageLoad(page, { __session: jwt, __client_uat: uat }))
  assert.equal(expired.status, 'handshake', expired.reason)
  const toLatch = new URL(expired.headers.get('location'))
  assert.equal(`${toLatch.origin}${toLatch.pathname}`, `${base}/v1/client/handshake`)
  assert.equal(toLatch.searchParams.get('format'), 'nonce')
  assert.equal(toLatch.searchParams.get('redirect_url'), page)

  // The browser follows it, with its Latch client cookie, and is sent back with a nonce.
  const atLatch = await fetch(toLatch, { redirect: 'manual', headers: call.cookieHeader() })
  assert.equal(atLatch.status, 307)
  const back = new URL(atLatch.headers.get('location'))
  assert.equal(`${back.origin}${back.pathname}`, `${origin}/dashboard`)
  assert.equal(back.searchParams.get('tab'), '2')
  assert.ok(back.searchParams.get('__clerk_handshake_nonce'))

  // The app's server resolves the nonce through the Backend API: signed in, cookies to set.
  const resolved = await authenticatePage(pageLoad(back.toString(), { __session: jwt, __client_uat: uat }))
  assert.equal(resolved.status, 'signed-in', resolved.reason)
  assert.equal(resolved.toAuth().userId, userId)
  assert.equal(resolved.toAuth().sessionId, sid)
  const setCookies = resolved.headers.getSetCookie()
  const fresh = setCookies.find((c) => c.startsWith('__session=')).split(';')[0].slice('__session='.length)
  assert.notEqual(fresh, jwt)
  assert.ok(setCookies.some((c) => c.startsWith(`__client_uat=${uat};`)), setCookies.join('\n'))
  // The fresh token and the uat now sign the next page load in without a handshake.
  const next = await authenticatePage(pageLoad(page, { __session: fresh, __client_uat: uat }))
  assert.equal(next.status, 'signed-in', next.reason)

  // The nonce was spent: the same URL again is signed out, not signed in twice.
  const replay = await authenticatePage(pageLoad(back.toString(), {}))
  assert.notEqual(replay.status, 'signed-in')
})
