// Lockout prevention in the account portal (issue 17 item 3; docs/protocol.md §21), in a real
// Chromium with virtual authenticators, against a `latch serve --protect-last-passkey last` of
// its own ($LATCH_BIN), on Latch's own origin (the portal), so no proxy is needed:
//
// - each passkey says whether it is synced or on this device only (its BS flag, from the
//   authenticator: Chromium's virtual authenticator sets BE/BS as told);
// - while every passkey is device-bound the page nudges the user to add a second one; a synced
//   passkey ends the nudge;
// - deleting the only passkey is refused and the page shows the server's reason; with a second
//   passkey the first can go.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { OUT_DIR, closeBrowser, scenario, uniqueName, waitText } from './lib.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const LATCH_BIN = process.env.LATCH_BIN ?? path.resolve(here, '../../target/debug/latch')
after(closeBrowser)

/** `latch serve --port 0 <args>` with a fresh data folder; resolves to its localhost URL. `t.after` stops it. */
async function startLatch(t, args) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-lockout-'))
  const log = fs.createWriteStream(path.join(OUT_DIR, 'latch-lockout.log'))
  const proc = spawn(LATCH_BIN, ['serve', '--port', '0', '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LATCH_LOG: 'info,sqlx=warn' },
  })
  const exited = new Promise((resolve) => proc.on('exit', resolve))
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
    await exited
    log.end()
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  let output = ''
  const url = await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      log.write(chunk)
      output += chunk
      const m = /latch listening on http:\/\/[^:\s]+:(\d+)/.exec(output)
      if (m) resolve(`http://localhost:${m[1]}`)
    }
    proc.stdout.on('data', onData)
    proc.stderr.on('data', onData)
    exited.then((code) => reject(new Error(`latch exited (code ${code}) before listening:\n${output}`)))
    setTimeout(() => reject(new Error(`latch did not listen within 30 s:\n${output}`)), 30_000).unref()
  })
  return url
}

/** Replaces the user's virtual authenticator with one whose new passkeys are synced (BE and BS set) or device-bound. */
async function useAuthenticator(u, { synced }) {
  await u.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: u.authenticatorId })
  const { authenticatorId } = await u.cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
      defaultBackupEligibility: synced, defaultBackupState: synced,
    },
  })
  u.authenticatorId = authenticatorId
}

const items = (page) => page.locator('#passkeys li[data-passkey-id]')
const storageOf = (page) => page.$$eval('#passkeys li[data-passkey-id] .passkey-meta', (els) => els.map((e) => e.dataset.storage))

scenario('the portal shows synced or device-bound, nudges, and shows why the only passkey cannot go', async ({ t, openUser }) => {
  const origin = await startLatch(t, ['--protect-last-passkey', 'last'])
  const u = await openUser()
  await useAuthenticator(u, { synced: false })
  const page = u.page

  // Sign up on the portal with a device-bound passkey.
  await page.goto(`${origin}/portal/sign-up`)
  await page.getByLabel('Username').fill(uniqueName('lockout'))
  await page.getByRole('button', { name: 'Continue' }).click()
  await page.getByRole('heading', { name: 'Add a passkey' }).waitFor()
  await page.getByRole('button', { name: 'Create a passkey' }).click()
  await page.waitForURL(/\/portal\/account$/)
  await items(page).first().waitFor()
  assert.deepEqual(await storageOf(page), ['device'])
  await waitText(page, '#passkeys .passkey-meta', /this device only/)
  const nudge = page.getByRole('note')
  await nudge.waitFor()
  assert.match(await nudge.innerText(), /Add a second passkey/)

  // Deleting the only passkey: refused, the reason shown, the passkey still listed.
  const first = await items(page).first().getAttribute('data-passkey-id')
  await items(page).first().getByRole('button', { name: /^Delete/ }).click()
  await page.getByRole('button', { name: 'Delete passkey', exact: true }).click()
  await waitText(page, '#error', /This is your only passkey.*passkey_last_protected/s)
  await page.reload()
  await items(page).first().waitFor()
  assert.deepEqual(await items(page).evaluateAll((lis) => lis.map((li) => li.dataset.passkeyId)), [first])

  // A synced passkey ends the nudge; then the device-bound one may go.
  await useAuthenticator(u, { synced: true })
  await page.getByRole('button', { name: 'Add a passkey' }).click()
  await waitText(page, '#status', /created/)
  assert.deepEqual((await storageOf(page)).sort(), ['device', 'synced'])
  assert.equal(await nudge.isHidden(), true, 'no nudge once a passkey is synced')
  await page.locator(`li[data-passkey-id="${first}"]`).getByRole('button', { name: /^Delete/ }).click()
  await page.getByRole('button', { name: 'Delete passkey', exact: true }).click()
  await waitText(page, '#status', /deleted/)
  assert.deepEqual(await storageOf(page), ['synced'])
  assert.equal(await nudge.isHidden(), true)
})

