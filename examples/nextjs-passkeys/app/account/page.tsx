// Protected by middleware.ts (auth.protect()): a signed-out visitor is sent to /sign-in first.
import { auth, currentUser } from '@clerk/nextjs/server'
import { PasskeyManager } from '@/components/PasskeyManager'

export default async function Account() {
  const { userId } = await auth()
  const user = await currentUser()
  return (
    <section>
      <h2>Your account</h2>
      <p>
        Signed in as <strong id="account-username">{user?.username ?? ''}</strong> (
        <code id="account-user-id">{userId}</code>)
      </p>
      <PasskeyManager />
    </section>
  )
}
