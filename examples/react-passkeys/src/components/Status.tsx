// Diagnostics shown on every page (used by the browser tests): what the SDK
// currently believes, the last Clerk error code, and an event log.
import { useAuth, useClerk, useSignIn, useUser } from '@clerk/react'
import { useEffect, useState } from 'react'
import { record, useLastErrorCode, useLog } from '../log'

export function Status() {
  const clerk = useClerk()
  const { isLoaded, isSignedIn, getToken } = useAuth()
  // clerk.session directly: the hooks treat a `pending` session as signed out, we want to see it
  const [, setTick] = useState(0)
  useEffect(() => clerk.addListener(() => setTick((n) => n + 1)), [clerk])
  const session = (clerk as any).session as
    | { id: string; status: string; currentTask?: { key: string } }
    | null
    | undefined
  const { user } = useUser()
  const { signIn, errors } = useSignIn()
  const lastErrorCode = useLastErrorCode()
  const log = useLog()
  const [token, setToken] = useState('')

  // expose the SDK to tests (window.__clerk.client, .session, ...)
  useEffect(() => {
    ;(window as any).__clerk = clerk
  }, [clerk])

  // make signal errors (signIn.passkey() returns them, it does not throw) visible
  // errors.raw holds either the whole ClerkAPIResponseError (code 'api_response_error', the server's
  // code in errors[0].code) or, when the server names a param, the individual ClerkAPIErrors.
  const signInErrorCodes = ((errors?.raw ?? []) as any[])
    .map((e) => e?.errors?.[0]?.code ?? e?.code)
    .filter(Boolean)
    .join(',')
  useEffect(() => {
    if (signInErrorCodes) record('error', { code: signInErrorCodes.split(',')[0], source: 'useSignIn().errors' })
  }, [signInErrorCodes])

  // remember every sign-in status we saw (finalize may reset the sign-in afterwards)
  const signInStatus = signIn?.status ?? ''
  useEffect(() => {
    if (signInStatus) record('sign-in-status', signInStatus)
  }, [signInStatus])

  const showToken = async () => {
    try {
      setToken((await getToken()) ?? '')
    } catch (err) {
      console.error('Error:', JSON.stringify(err, null, 2))
    }
  }

  return (
    <aside style={{ borderTop: '1px solid #ccc', marginTop: 24, fontSize: 13 }}>
      <dl>
        <dt>SDK loaded</dt>
        <dd id="clerk-loaded">{isLoaded ? 'yes' : 'no'}</dd>
        <dt>SDK status</dt>
        {/* 'ready' only when /environment and /client answered; 'degraded' when either failed */}
        <dd id="clerk-status">{isLoaded ? (clerk as any).status : ''}</dd>
        <dt>Application (from Latch)</dt>
        <dd id="app-name">{(clerk as any).__internal_environment?.displayConfig?.applicationName ?? ''}</dd>
        <dt>Client</dt>
        <dd id="client-id">{clerk.client?.id ?? ''}</dd>
        <dt>Signed in</dt>
        <dd id="signed-in">{isSignedIn ? 'yes' : 'no'}</dd>
        <dt>Session</dt>
        <dd id="session-id">{session?.id ?? ''}</dd>
        <dt>Session status</dt>
        <dd id="session-status">{session?.status ?? ''}</dd>
        <dt>Session task</dt>
        <dd id="session-task">{session?.currentTask?.key ?? ''}</dd>
        <dt>User</dt>
        <dd id="user-id">{user?.id ?? ''}</dd>
        <dt>Username</dt>
        <dd id="username">{user?.username ?? ''}</dd>
        <dt>Passkeys</dt>
        <dd id="passkey-count">{user ? String(user.passkeys.length) : ''}</dd>
        <dt>Sign-in status</dt>
        <dd id="sign-in-status">{signInStatus}</dd>
        <dt>Sign-in errors</dt>
        <dd id="sign-in-errors">{signInErrorCodes}</dd>
        <dt>Last error code</dt>
        <dd id="last-error-code">{lastErrorCode}</dd>
      </dl>
      {isSignedIn ? (
        <p>
          <button onClick={showToken}>Get token</button> <code id="token">{token}</code>
        </p>
      ) : null}
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
