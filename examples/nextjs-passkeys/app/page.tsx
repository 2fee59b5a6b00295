// A server-rendered page: what the app's server knows about the request, from the cookies
// clerkMiddleware() verified (`auth()`, no network call) and from the Backend API
// (`currentUser()` = GET {CLERK_API_URL}/v1/users/{id} with the secret key).
import { auth, currentUser } from '@clerk/nextjs/server'
import Link from 'next/link'

export default async function Home() {
  const { userId, sessionId } = await auth()
  const user = userId ? await currentUser() : null
  return (
    <section>
      <h2>The server&apos;s view</h2>
      <dl>
        <dt>Signed in (auth())</dt>
        <dd id="server-signed-in">{userId ? 'yes' : 'no'}</dd>
        <dt>auth().userId</dt>
        <dd id="server-user-id">{userId ?? ''}</dd>
        <dt>auth().sessionId</dt>
        <dd id="server-session-id">{sessionId ?? ''}</dd>
        <dt>currentUser().username</dt>
        <dd id="server-username">{user?.username ?? ''}</dd>
      </dl>
      {userId ? (
        <p>
          Manage your passkeys on <Link href="/account">your account</Link>.
        </p>
      ) : (
        <p>
          You are signed out. <Link href="/sign-in">Sign in</Link> or <Link href="/sign-up">sign up</Link>.
        </p>
      )}
    </section>
  )
}
