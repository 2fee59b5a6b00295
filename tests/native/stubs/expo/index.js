// Stand-in for expo under Node: requireNativeModule hands out the native modules a test
// registered in globalThis.__LATCH_NATIVE_MODULES (the software authenticator plays
// ClerkExpoPasskeys), and throws, as Expo does, for any other.
'use strict'
function requireNativeModule(name) {
  const module = globalThis.__LATCH_NATIVE_MODULES?.[name]
  if (!module) throw new Error(`Cannot find native module '${name}'`)
  return module
}
module.exports = { requireNativeModule, requireOptionalNativeModule: (name) => globalThis.__LATCH_NATIVE_MODULES?.[name] ?? null }
