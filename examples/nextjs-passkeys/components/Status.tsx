'use client'
// What the browser's SDK believes, shown on every page (the browser tests read it): loaded or
// not, the session, the user, their passkeys, the last Clerk error code and an event log.
// The server's view is on the pages themselves (`auth()` / `currentUser()`).
import { useAuth, useClerk, useSignIn, useUser } from '@clerk/nextjs'
import { useEffect, useState } from 'react'
import { record, useLastErrorCode, useLog } from './log'

export function Status() {
  const clerk = useClerk()
  const { isLoaded, isSignedIn } = useAuth()
  const [, setTick] = useState(0)
  useEffect(() => clerk.addListener(() => setTick((n) => n + 1)), [clerk])
  const session = (clerk as any).session as { id: string; status: string } | null | undefined
  const { user } = useUser()
  const { signIn, errors } = useSignIn()
  const lastErrorCode = useLastErrorCode()
  const log = useLog()

  // make signal errors (signIn.passkey() returns them, it does not throw) visible
  const signInErrorCodes = ((errors?.raw ?? []) as any[])
    .map((e) => e?.errors?.[0]?.code ?? e?.code)
    .filter(Boolean)
    .join(',')
  useEffect(() => {
    if (signInErrorCodes) record('error', { code: signInErrorCodes.split(',')[0], source: 'useSignIn().errors' })
  }, [signInErrorCodes])

  return (
    <aside style={{ borderTop: '1px solid #ccc', marginTop: 24, fontSize: 13 }}>
      <h2 style={{ fontSize: 15 }}>The browser&apos;s view (clerk-js)</h2>
      <dl>
        <dt>SDK loaded</dt>
        <dd id="clerk-loaded">{isLoaded ? 'yes' : 'no'}</dd>
        <dt>SDK status</dt>
        {/* 'ready' only when /environment and /client answered; 'degraded' when either failed */}
        <dd id="clerk-status">{isLoaded ? (clerk as any).status : ''}</dd>
        <dt>Signed in</dt>
        <dd id="signed-in">{isLoaded ? (isSignedIn ? 'yes' : 'no') : ''}</dd>
        <dt>Session</dt>
        <dd id="session-id">{session?.id ?? ''}</dd>
        <dt>User</dt>
        <dd id="user-id">{user?.id ?? ''}</dd>
        <dt>Username</dt>
        <dd id="username">{user?.username ?? ''}</dd>
        <dt>Passkeys</dt>
        <dd id="passkey-count">{user ? String(user.passkeys.length) : ''}</dd>
        <dt>Sign-in status</dt>
        <dd id="sign-in-status">{signIn?.status ?? ''}</dd>
        <dt>Last error code</dt>
        <dd id="last-error-code">{lastErrorCode}</dd>
      </dl>
      <ol id="log">
        {log.map((e, i) => (
          <li key={i} data-kind={e.kind} data-code={e.code ?? ''}>
            [{e.kind}] {e.code ? `${e.code}: ` : ''}
            {e.text}
          </li>
        ))}
      </ol>
    </aside>
  )
}
