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
import { closeBrowser, scenario, startLatch, uniqueName, waitText } from './lib.mjs'

after(closeBrowser)

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
  const { origin } = await startLatch(t, 'lockout', ['--protect-last-passkey', 'last'])
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

