// The real @clerk/expo 4.6.6 JS, with the real clerk-js 6.40.0 native build and the real
// @clerk/expo-passkeys 2.0.0 wrapper, run under Node against Latch — the seed guide's Expo code
// paths without a phone (docs/protocol.md §13.5).
//
// What is real: @clerk/expo's getClerkInstance/createClerkInstance (its passkey wiring and the
// `_is_native=1`, `authorization`, `credentials: 'omit'` hooks), @clerk/expo/token-cache, the
// expo-passkeys wrapper (its iOS/Android shapes and base64url conversions), the whole
// clerk.native.js, Node's fetch. What is stubbed (stubs/, installed as file: packages):
// react-native (Platform), expo (requireNativeModule → the software authenticator of
// softauth.mjs), expo-secure-store (an in-memory keychain). React rendering is skipped; the
// hooks' objects are reached directly (useSignIn() returns clerk.__internal_state.signInSignal()).
//
// Must run with `--conditions=react-native` (run.sh sets NODE_OPTIONS), which makes
// require('@clerk/clerk-js') resolve to dist/clerk.native.js as Metro would; loadExpo checks it.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import path from 'node:path'

import { FINGERPRINT, HERE, PACKAGE } from './lib.mjs'

const require = createRequire(path.join(HERE, 'expo.mjs'))

/** Every FAPI exchange the SDK made: { method, path, query, headers, body, status, answerHeaders }. */
export const wire = []
let fetchWrapped = false
let currentModule

function recordFetches() {
  if (fetchWrapped) return
  fetchWrapped = true
  const realFetch = globalThis.fetch
  globalThis.fetch = async (input, init = {}) => {
    const url = new URL(String(input))
    const response = await realFetch(input, init)
    wire.push({
      method: init.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(new Headers(init.headers)),
      body: typeof init.body === 'string' ? Object.fromEntries(new URLSearchParams(init.body)) : {},
      credentials: init.credentials,
      status: response.status,
      answerHeaders: Object.fromEntries(response.headers),
      base: url.origin,
    })
    return response
  }
}

/**
 * Sets the OS up (`ios` or `android`) and the software authenticator as its ClerkExpoPasskeys
 * module, then loads @clerk/expo's singleton against `fapiUrl` as ClerkProvider would.
 * Returns { clerk, passkeys, tokenCache, secureStore }.
 */
export async function loadExpo({ os, fapiUrl, device, fingerprint = FINGERPRINT }) {
  letTimersNotHoldTheProcess()
  globalThis.__LATCH_RN_OS = os
  // react-native's Libraries/Core/setUpGlobals.js; and React Native has no BroadcastChannel
  // (Node's would keep the process alive, and clerk-js uses it only when it exists).
  globalThis.window = globalThis
  delete globalThis.BroadcastChannel
  // @clerk/expo-passkeys asks for its native module once, when loaded: it gets a stable
  // module that forwards to the device of the latest loadExpo.
  currentModule = os === 'ios' ? device.iosModule() : device.androidModule({ fingerprint, packageName: PACKAGE })
  globalThis.__LATCH_NATIVE_MODULES ??= {
    ClerkExpoPasskeys: { create: (...args) => currentModule.create(...args), get: (...args) => currentModule.get(...args) },
  }
  assert.match(require.resolve('@clerk/clerk-js'), /clerk\.native\.js$/, 'run with --conditions=react-native')
  recordFetches()
  // The package's exports expose the singleton only through its React entry point; React is
  // not installed here, so the module is loaded by path.
  const { getClerkInstance } = require(path.join(HERE, 'node_modules/@clerk/expo/dist/provider/singleton/index.js'))
  const { tokenCache } = require('@clerk/expo/token-cache')
  const { passkeys } = require('@clerk/expo-passkeys')
  const host = new URL(fapiUrl).host
  // ClerkProvider's props (dist/provider/ClerkProvider.js): the key names Latch's host; the
  // proxy URL only changes the base URL.
  const clerk = getClerkInstance({
    publishableKey: `pk_live_${Buffer.from(`${host}$`).toString('base64')}`,
    proxyUrl: fapiUrl,
    tokenCache,
    __experimental_passkeys: passkeys,
  })
  // What IsomorphicClerk forwards for a native ClerkProvider (standardBrowser: false, headless).
  await clerk.load({ standardBrowser: false, experimental: { runtimeEnvironment: 'headless' } })
  return { clerk, passkeys, tokenCache, secureStore: globalThis.__LATCH_SECURE_STORE }
}

/**
 * clerk-js keeps pollers and refresh timers running for the app's lifetime; on a phone the app
 * lives on, here the test process must end when its tests have. Timers set by the SDK do not
 * hold the process open (every test awaits what it checks; an awaited timer that could no
 * longer fire would fail its test as unfinished, not pass it).
 */
function letTimersNotHoldTheProcess() {
  if (globalThis.__latchTimersUnref) return
  globalThis.__latchTimersUnref = true
  for (const name of ['setTimeout', 'setInterval']) {
    const real = globalThis[name]
    globalThis[name] = (...args) => {
      const timer = real(...args)
      timer?.unref?.()
      return timer
    }
  }
}

/** The last exchange on `path` (a regular expression), optionally with `method`. */
export function lastCall(pathPattern, method) {
  const found = wire.filter((w) => pathPattern.test(w.path) && (!method || (w.query._method ?? w.method) === method))
  return found.at(-1)
}
