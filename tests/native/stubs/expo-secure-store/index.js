// Stand-in for expo-secure-store under Node: the keychain is an in-memory Map, exposed as
// globalThis.__LATCH_SECURE_STORE so a test can read what @clerk/expo/token-cache saved.
'use strict'
const store = (globalThis.__LATCH_SECURE_STORE ??= new Map())
module.exports = {
  AFTER_FIRST_UNLOCK: 'AFTER_FIRST_UNLOCK',
  AFTER_FIRST_UNLOCK_THIS_DEVICE_ONLY: 'AFTER_FIRST_UNLOCK_THIS_DEVICE_ONLY',
  WHEN_UNLOCKED: 'WHEN_UNLOCKED',
  async getItemAsync(key) {
    return store.has(key) ? store.get(key) : null
  },
  async setItemAsync(key, value) {
    store.set(key, String(value))
  },
  async deleteItemAsync(key) {
    store.delete(key)
  },
  isAvailableAsync: async () => true,
}
