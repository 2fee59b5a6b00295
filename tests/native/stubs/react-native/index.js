// Stand-in for react-native under Node: only Platform, which @clerk/expo and
// @clerk/expo-passkeys read. The OS comes from globalThis.__LATCH_RN_OS (set by the test
// before it loads the SDK) or RN_OS.
'use strict'
const os = () => globalThis.__LATCH_RN_OS ?? process.env.RN_OS ?? 'ios'
const Platform = {
  get OS() {
    return os()
  },
  // iOS 17 / Android API 34: both pass @clerk/expo-passkeys' isSupported().
  get Version() {
    return os() === 'ios' ? '17.4' : 34
  },
  select(choices) {
    return os() in choices ? choices[os()] : choices.native ?? choices.default
  },
  get constants() {
    return { osVersion: String(this.Version) }
  },
}
module.exports = { Platform }
