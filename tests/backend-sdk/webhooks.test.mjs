// Clerk's own webhook check, `verifyWebhook` from @clerk/backend/webhooks (3.25.0, pinned),
// on the events a real `latch serve` delivers (docs/protocol.md §15): the app's webhook route
// as Clerk's docs write it, with CLERK_WEBHOOK_SIGNING_SECRET set to what
// `latch webhooks add` printed.
//
//   LATCH_BIN=target/debug/latch node --test webhooks.test.mjs     (run.sh runs every file)
//   LATCH_DATABASE_URL=postgres://…  also on PostgreSQL

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { createServer } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { verifyWebhook } from '@clerk/backend/webhooks'

const HERE = dirname(fileURLToPath(import.meta.url))
const LATCH_BIN = process.env.LATCH_BIN ?? resolve(HERE, '../../target/debug/latch')
const DATA_DIR = mkdtempSync(join(tmpdir(), 'latch-webhooks-'))
const DB_ARGS = ['--data-dir', DATA_DIR, '--issuer', 'https://latch.localtest.me',
  ...(process.env.LATCH_DATABASE_URL ? ['--database-url', process.env.LATCH_DATABASE_URL] : [])]
const run = (...args) => execFileSync(LATCH_BIN, [...args, ...DB_ARGS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()

let server, base, receiver, endpointId
/** What the app's route did with each delivery: the verified event, or why it refused it. */
const verified = []
const refused = []

before(async () => {
  // The app's webhook route: the raw body and headers into a Request, as Next.js hands it over.
  receiver = createServer(async (req, res) => {
    const chunks = []
    for await (const chunk of req) chunks.push(chunk)
    const request = new Request(`http://app.local${req.url}`, { method: 'POST', headers: req.headers, body: Buffer.concat(chunks) })
    try {
      verified.push(await verifyWebhook(request))
      res.writeHead(200).end('ok')
    } catch (e) {
      refused.push(String(e))
      res.writeHead(400).end('bad signature')
    }
  })
  await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok))
  const hook = `http://127.0.0.1:${receiver.address().port}/api/webhooks`
  process.env.CLERK_WEBHOOK_SIGNING_SECRET = run('webhooks', 'add', hook)
  endpointId = run('webhooks', 'list').split('\n').find((l) => l.includes(hook)).split(/\s+/)[0]
  server = spawn(LATCH_BIN, ['serve', '--port', '0', '--webhook-poll-ms', '50', ...DB_ARGS], { stdio: ['ignore', 'pipe', 'inherit'] })
  base = await new Promise((ok, fail) => {
    let seen = ''
    server.stdout.on('data', (chunk) => {
      seen += chunk
      const m = seen.match(/latch listening on (http:\/\/\S+)/)
      if (m) ok(m[1])
    })
    server.on('exit', (code) => fail(new Error(`latch exited (${code})`)))
  })
})

after(() => {
  if (endpointId) run('webhooks', 'remove', endpointId)
  server?.kill()
  receiver?.close()
  rmSync(DATA_DIR, { recursive: true, force: true })
})

async function fapi (path, fields, cookie) {
  const origin = `http://localhost:${new URL(base).port}`
  const res = await fetch(`${base}/v1${path}?__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(fields),
  })
  const body = await res.json()
  assert.equal(res.status, 200, JSON.stringify(body))
  const set = res.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('__client='))
  return { body, cookie: set ?? cookie }
}

async function until (what, done) {
  const start = Date.now()
  while (!done()) {
    assert.ok(Date.now() - start < 10_000, `waited 10 s for ${what}; verified ${verified.map((e) => e.type)}, refused ${refused}`)
    await new Promise((ok) => setTimeout(ok, 50))
  }
}

test('verifyWebhook accepts the events Latch delivers and returns their type and data', async () => {
  const username = `hook_${Date.now()}`
  const signedUp = await fapi('/client/sign_ups', { username })
  const userId = signedUp.body.client.sessions[0].user.id
  const sid = signedUp.body.response.created_session_id
  // Sign out: session.ended.
  const signOut = await fetch(`${base}/v1/client/sessions?_method=DELETE&__clerk_api_version=2026-08-20`, {
    method: 'POST',
    headers: { origin: `http://localhost:${new URL(base).port}`, cookie: signedUp.cookie },
  })
  assert.equal(signOut.status, 200)

  const mine = () => verified.filter((e) => (e.data.user_id ?? e.data.id) === userId || e.data.user?.id === userId)
  await until('user.created, session.created, session.ended', () => ['user.created', 'session.created', 'session.ended'].every((t) => mine().some((e) => e.type === t)))
  assert.deepEqual(refused, [])
  const user = mine().find((e) => e.type === 'user.created')
  assert.equal(user.object, 'event')
  assert.equal(user.data.object, 'user')
  assert.equal(user.data.username, username)
  assert.equal(typeof user.timestamp, 'number')
  const created = mine().find((e) => e.type === 'session.created')
  assert.equal(created.data.id, sid)
  assert.equal(created.data.status, 'active')
  assert.equal(created.data.user.id, userId)
  const ended = mine().find((e) => e.type === 'session.ended')
  assert.equal(ended.data.status, 'ended')
})

test('verifyWebhook refuses a delivery whose body was changed on the way', async () => {
  const secret = process.env.CLERK_WEBHOOK_SIGNING_SECRET
  const headers = { 'svix-id': 'msg_forged', 'svix-timestamp': String(Math.floor(Date.now() / 1000)), 'svix-signature': 'v1,AAAA' }
  const forged = new Request('http://app.local/api/webhooks', { method: 'POST', headers, body: '{"type":"user.deleted"}' })
  await assert.rejects(verifyWebhook(forged, { signingSecret: secret }))
})
