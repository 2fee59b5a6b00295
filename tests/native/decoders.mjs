// What ClerkKit 1.4.1 and clerk-android 1.1.3 need of every object to decode it (docs/protocol.md
// §13.4), as required-key lists, each citing the SDK file the rule comes from (read at
// clerk/clerk-ios@3b6b16f and clerk/clerk-android@f7c05c2; no SDK code is copied here).
//
//   iOS (Swift Codable, IOS Utils/JSONDecoder+Ext.swift: convertFromSnakeCase): a non-Optional
//   property must be present and non-null; an Optional one may be absent.
//   Android (kotlinx, AND network/ClerkApi.kt:37-40: ignoreUnknownKeys, coerceInputValues,
//   explicitNulls = true): a constructor parameter without a default must be present; a
//   nullable one may be null (`nullable` below) but not absent.
//
// A decode failure anywhere in the piggybacked client fails the whole call on the phone, so
// every answer's `client` is checked down to sessions → user → passkeys.

const IOS = 'clerk/clerk-ios@1.4.1 Sources/ClerkKit/'
const AND = 'clerk/clerk-android@1.1.3 source/api/src/main/kotlin/com/clerk/api/'

export const TABLES = {
  ios: {
    Client: { cite: `${IOS}Domains/Client/Client.swift`, required: ['id', 'sessions', 'updated_at'] },
    Session: {
      cite: `${IOS}Domains/Auth/Session/Session.swift`,
      required: ['id', 'status', 'expire_at', 'abandon_at', 'last_active_at', 'created_at', 'updated_at'],
      stringOrNull: ['actor'],
    },
    User: {
      cite: `${IOS}Domains/User/User.swift`,
      required: ['id', 'image_url', 'has_image', 'password_enabled', 'two_factor_enabled', 'totp_enabled', 'backup_code_enabled',
        'create_organization_enabled', 'delete_self_enabled', 'email_addresses', 'phone_numbers', 'external_accounts', 'passkeys',
        'created_at', 'updated_at'],
    },
    PublicUserData: { cite: `${IOS}Domains/Auth/Session/Session.swift (PublicUserData)`, required: ['image_url', 'has_image', 'identifier'] },
    Passkey: { cite: `${IOS}Domains/Auth/Passkey/Passkey.swift:10-25`, required: ['id', 'name', 'created_at', 'updated_at'], strings: ['name'] },
    SignIn: { cite: `${IOS}Domains/Auth/SignIn/SignIn.swift`, required: ['id', 'status'] },
    SignUp: { cite: `${IOS}Domains/Auth/SignUp/SignUp.swift:12-17`, required: ['id', 'status'] },
    DeletedObject: { cite: `${IOS}Domains/Common/DeletedObject.swift`, required: [] },
    Token: { cite: `${IOS}Domains/Auth/Session/SessionService.swift:153-170 (TokenResource)`, required: ['jwt'] },
    Environment: {
      cite: `${IOS}Domains/Environment/Environment.swift:26-31`,
      required: ['auth_config', 'user_settings', 'display_config'],
      nested: {
        auth_config: { cite: `${IOS}Domains/Environment/AuthConfig.swift:24-28`, required: ['single_session_mode'] },
        display_config: {
          cite: `${IOS}Domains/Environment/DisplayConfig.swift:58-69`,
          required: ['instance_environment_type', 'application_name', 'preferred_sign_in_strategy', 'branded', 'logo_image_url', 'home_url'],
          strings: ['application_name', 'logo_image_url', 'home_url'],
        },
        user_settings: { cite: `${IOS}Domains/Environment/UserSettings.swift:10-14`, required: ['attributes', 'sign_up', 'social', 'actions'] },
        'user_settings.sign_up': {
          cite: `${IOS}Domains/Environment/UserSettings.swift:29-32`,
          required: ['custom_action_required', 'progressive', 'mode', 'legal_consent_enabled'],
        },
        'user_settings.actions': { cite: `${IOS}Domains/Environment/UserSettings.swift:46-47`, required: ['delete_self', 'create_organization'] },
        'user_settings.attributes.*': {
          cite: `${IOS}Domains/Environment/UserSettings.swift:17-25`,
          required: ['enabled', 'required', 'used_for_first_factor', 'used_for_second_factor', 'verify_at_sign_up'],
        },
      },
    },
  },
  android: {
    Client: { cite: `${AND}network/model/client/Client.kt`, required: [] },
    Session: { cite: `${AND}session/Session.kt`, required: ['id', 'expire_at', 'last_active_at', 'created_at', 'updated_at'] },
    User: {
      cite: `${AND}user/User.kt`,
      required: ['id', 'has_image', 'image_url', 'passkeys', 'password_enabled', 'phone_numbers', 'totp_enabled', 'two_factor_enabled', 'updated_at'],
    },
    PublicUserData: { cite: `${AND}session/Session.kt (PublicUserData)`, required: ['has_image', 'identifier'] },
    Passkey: { cite: `${AND}passkeys/Passkey.kt:21-33`, required: ['id', 'name', 'created_at', 'updated_at'], strings: ['name'] },
    SignIn: { cite: `${AND}signin/SignIn.kt`, required: ['id'] },
    SignUp: { cite: `${AND}signup/SignUp.kt:48`, required: ['id'] },
    DeletedObject: { cite: `${AND}network/model/deleted/DeletedObject.kt`, required: [] },
    Token: { cite: `${AND}network/api/SessionApi.kt:79-86 (TokenResource)`, required: ['jwt'] },
    Environment: {
      cite: `${AND}network/model/environment/Environment.kt:10-15`,
      required: ['auth_config', 'display_config', 'user_settings'],
      nested: {
        auth_config: { cite: `${AND}network/model/environment/AuthConfig.kt:18-29`, required: ['single_session_mode'] },
        display_config: {
          cite: `${AND}network/model/environment/DisplayConfig.kt:26-60`,
          required: ['application_name', 'branded', 'logo_image_url', 'home_url'],
          nullable: ['privacy_policy_url', 'terms_url', 'google_one_tap_client_id'],
          strings: ['application_name', 'logo_image_url', 'home_url'],
        },
        user_settings: {
          cite: `${AND}network/model/environment/UserSettings.kt:19-33`,
          required: ['attributes', 'sign_up', 'social', 'actions'],
          nullable: ['passkey_settings'],
        },
        'user_settings.sign_up': {
          cite: `${AND}network/model/environment/UserSettings.kt:95-106`,
          required: ['custom_action_required', 'progressive', 'mode', 'legal_consent_enabled'],
        },
        'user_settings.attributes.*': {
          cite: `${AND}network/model/environment/UserSettings.kt:54-80`,
          required: ['enabled', 'required', 'used_for_first_factor', 'used_for_second_factor', 'verify_at_sign_up'],
          nullable: ['first_factors', 'second_factors', 'verifications'],
        },
      },
    },
  },
}

/** Problems (strings) with `value` as SDK `os` decodes object `kind`; [] when it decodes. */
export function decodeProblems(os, kind, value, where = kind) {
  const table = TABLES[os][kind]
  if (!table) throw new Error(`no ${os} table for ${kind}`)
  return check(table, value, where, os)
}

function check(table, value, where, os) {
  const problems = []
  if (value === null || typeof value !== 'object') return [`${where}: not an object (${table.cite})`]
  for (const key of table.required ?? []) {
    if (!(key in value)) problems.push(`${where}.${key} missing (${table.cite})`)
    else if (value[key] === null) problems.push(`${where}.${key} is null but required (${table.cite})`)
  }
  for (const key of table.nullable ?? []) {
    if (!(key in value)) problems.push(`${where}.${key} must be present, null allowed (${table.cite})`)
  }
  for (const key of table.strings ?? []) {
    if (key in value && typeof value[key] !== 'string') problems.push(`${where}.${key} must be a string (${table.cite})`)
  }
  for (const key of table.stringOrNull ?? []) {
    if (key in value && value[key] !== null && typeof value[key] !== 'string') problems.push(`${where}.${key} must be a string or null (${table.cite})`)
  }
  for (const [path, nested] of Object.entries(table.nested ?? {})) {
    const parts = path.split('.')
    const targets = parts.reduce(
      (acc, part) => acc.flatMap(([w, v]) => (part === '*' ? Object.entries(v ?? {}).map(([k, x]) => [`${w}.${k}`, x]) : [[`${w}.${part}`, v?.[part]]])),
      [[where, value]],
    )
    for (const [w, v] of targets) if (v !== undefined) problems.push(...check(nested, v, w, os))
  }
  return problems
}

/** A client and everything inside it: sessions → user (with public user data) → passkeys. */
export function clientProblems(os, client, where = 'client') {
  if (client === null || client === undefined) return []
  const problems = decodeProblems(os, 'Client', client, where)
  for (const [i, session] of (client.sessions ?? []).entries()) {
    const w = `${where}.sessions[${i}]`
    problems.push(...decodeProblems(os, 'Session', session, w))
    if (session.public_user_data) problems.push(...decodeProblems(os, 'PublicUserData', session.public_user_data, `${w}.public_user_data`))
    if (session.user) problems.push(...userProblems(os, session.user, `${w}.user`))
  }
  if (client.sign_in) problems.push(...decodeProblems(os, 'SignIn', client.sign_in, `${where}.sign_in`))
  return problems
}

export function userProblems(os, user, where = 'user') {
  const problems = decodeProblems(os, 'User', user, where)
  for (const [i, p] of (user.passkeys ?? []).entries()) problems.push(...decodeProblems(os, 'Passkey', p, `${where}.passkeys[${i}]`))
  return problems
}

/**
 * A whole answer as SDK `os` decodes it: `decodeAs` names the `response` object (or `Environment`
 * / `Token`, which are top-level), and the piggybacked client is checked too.
 */
export function answerProblems(os, decodeAs, body) {
  if (decodeAs === 'Environment' || decodeAs === 'Token') return decodeProblems(os, decodeAs, body)
  const problems = []
  if (!('response' in body)) problems.push('envelope: no response key')
  const response = body.response
  if (decodeAs === 'Client') {
    // clerk-android decodes GET /v1/client as a non-null Client (network/model/response/ClientPiggybackedResponse.kt:20).
    if (response === null) problems.push('envelope: response is null; clerk-android cannot decode it')
    else problems.push(...clientProblems(os, response, 'response'))
  } else if (decodeAs === 'User') problems.push(...userProblems(os, response, 'response'))
  else problems.push(...decodeProblems(os, decodeAs, response, 'response'))
  problems.push(...clientProblems(os, body.client))
  return problems
}
