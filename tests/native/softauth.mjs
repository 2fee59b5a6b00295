// A software passkey device for the native tests: ES256 keys (node:crypto), `none`
// attestation, flags UP|UV|BE|BS (a synced platform passkey), signature counter 0 — what
// iOS's and Android's platform authenticators produce (docs/protocol.md §13.2).
//
// It plays the native side of @clerk/expo-passkeys 2.0.0 with the module's own I/O shapes:
//   - iOS (ios/AccountManager.swift): create(challenge, rpId, userId, displayName) and
//     get(challenge, rpId) return dictionaries; the client data's origin is https://<rpId>;
//   - Android (android/.../CredentialManager.kt): create(json) and get(json) take and return
//     JSON strings (Credential Manager's RegistrationResponseJSON / AuthenticationResponseJSON);
//     the origin is android:apk-key-hash:<base64url of the signing certificate's SHA-256>,
//     with androidPackageName, and clientExtensionResults in the answer.
// Like the OS it throws when the options lack an RP ID or name a credential it cannot read.
// The same device also answers raw nonces (for the ClerkKit / clerk-android replays):
// register(options, origin) and assert(options, origin) return the credential objects.
import crypto from 'node:crypto'

export const b64u = (bytes) => Buffer.from(bytes).toString('base64url')
export const unb64u = (text) => Buffer.from(text, 'base64url')
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest()

/** `AA:BB:…` → the origin Credential Manager writes for an app signed with that certificate. */
export function apkKeyHashOrigin(fingerprint) {
  return `android:apk-key-hash:${b64u(Buffer.from(fingerprint.replaceAll(':', ''), 'hex'))}`
}

// ---- the smallest CBOR writer the attestation object needs (RFC 8949 §3) ----
function head(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n])
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n])
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff])
  const b = Buffer.alloc(5)
  b[0] = (major << 5) | 26
  b.writeUInt32BE(n, 1)
  return b
}
function cbor(value) {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value)
  if (typeof value === 'string') {
    const s = Buffer.from(value, 'utf8')
    return Buffer.concat([head(3, s.length), s])
  }
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value])
  if (value instanceof Map) {
    const parts = [head(5, value.size)]
    for (const [k, v] of value) parts.push(cbor(k), cbor(v))
    return Buffer.concat(parts)
  }
  throw new Error(`cbor: cannot encode ${typeof value}`)
}

const FLAGS = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40 }

export class SoftDevice {
  constructor() {
    /** credential id (base64url) → { key, rpId, userHandle } */
    this.credentials = new Map()
    this.calls = []
  }

  /** A new credential for `rpId`: the attestation object and the credential id. */
  #create(rpId, userHandle) {
    const id = crypto.randomBytes(16)
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' })
    const cose = new Map([[1, 2], [3, -7], [-1, 1], [-2, unb64u(jwk.x)], [-3, unb64u(jwk.y)]])
    const idLength = Buffer.from([id.length >> 8, id.length & 0xff])
    const aaguid = Buffer.alloc(16) // platform passkeys under `none` attestation: zeros
    const flags = FLAGS.UP | FLAGS.UV | FLAGS.BE | FLAGS.BS | FLAGS.AT
    const authData = Buffer.concat([sha256(rpId), Buffer.from([flags]), Buffer.alloc(4), aaguid, idLength, id, cbor(cose)])
    const attestationObject = cbor(new Map([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]))
    this.credentials.set(b64u(id), { key: privateKey, rpId, userHandle })
    return { id: b64u(id), attestationObject }
  }

  /** An assertion by the credential `allowed` names (or the newest for `rpId`). */
  #get(rpId, clientDataJSON, allowed = []) {
    const ids = allowed.length ? allowed : [...this.credentials.keys()].reverse()
    const id = ids.find((i) => this.credentials.get(i)?.rpId === rpId)
    if (!id) throw Object.assign(new Error('No passkey for this RP ID on this device'), { code: 'NoCredentials' })
    const { key, userHandle } = this.credentials.get(id)
    const authData = Buffer.concat([sha256(rpId), Buffer.from([FLAGS.UP | FLAGS.UV | FLAGS.BE | FLAGS.BS]), Buffer.alloc(4)])
    const signature = crypto.sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), key)
    return { id, authData, signature, userHandle }
  }

  forget(id) {
    this.credentials.delete(id)
  }

  // ---- raw WebAuthn, for the replays --------------------------------------------------------

  register(options, origin, extra = {}) {
    const rpId = options.rp?.id
    if (!rpId) throw new Error('creation options without rp.id')
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin, ...extra }))
    const { id, attestationObject } = this.#create(rpId, options.user.id)
    return { id, rawId: id, type: 'public-key', response: { clientDataJSON: b64u(clientDataJSON), attestationObject: b64u(attestationObject) } }
  }

  assert(options, origin, extra = {}) {
    if (!options.rpId) throw new Error('request options without rpId')
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin, ...extra }))
    const allowed = (options.allowCredentials ?? []).map((c) => c.id)
    const { id, authData, signature, userHandle } = this.#get(options.rpId, clientDataJSON, allowed)
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: { authenticatorData: b64u(authData), clientDataJSON: b64u(clientDataJSON), signature: b64u(signature), userHandle },
    }
  }

  // ---- @clerk/expo-passkeys' native module --------------------------------------------------

  /** ClerkExpoPasskeys as iOS implements it (ios/ClerkExpoPasskeysModule.swift, AccountManager.swift). */
  iosModule() {
    return {
      create: async (challenge, rpId, userId, displayName) => {
        this.calls.push({ op: 'create', os: 'ios', rpId, displayName })
        if (!rpId) throw new Error('rpId is required')
        return this.register({ challenge, rp: { id: rpId }, user: { id: userId } }, `https://${rpId}`)
      },
      get: async (challenge, rpId) => {
        this.calls.push({ op: 'get', os: 'ios', rpId })
        if (!rpId) throw new Error('rpId is required')
        return this.assert({ challenge, rpId }, `https://${rpId}`)
      },
    }
  }

  /** ClerkExpoPasskeys as Android implements it (Credential Manager's JSON in and out). */
  androidModule({ fingerprint, packageName }) {
    const origin = apkKeyHashOrigin(fingerprint)
    return {
      create: async (requestJson) => {
        const options = JSON.parse(requestJson)
        this.calls.push({ op: 'create', os: 'android', rpId: options.rp?.id })
        const credential = this.register(options, origin, { androidPackageName: packageName })
        credential.authenticatorAttachment = 'platform'
        credential.response.transports = ['internal', 'hybrid']
        credential.clientExtensionResults = { credProps: { rk: true } }
        return JSON.stringify(credential)
      },
      get: async (requestJson) => {
        const options = JSON.parse(requestJson)
        this.calls.push({ op: 'get', os: 'android', rpId: options.rpId })
        for (const c of options.allowCredentials ?? []) {
          // An ArrayBuffer id stringifies as {}: Credential Manager refuses such a request.
          if (typeof c.id !== 'string') throw new Error('allowCredentials[].id must be a base64url string')
        }
        const credential = this.assert(options, origin, { androidPackageName: packageName })
        credential.authenticatorAttachment = 'platform'
        credential.clientExtensionResults = {}
        return JSON.stringify(credential)
      },
    }
  }
}
