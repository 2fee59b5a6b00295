// The sign-in page (NEXT_PUBLIC_CLERK_SIGN_IN_URL): the guide's passkey button, or, when the
// URL carries `?__clerk_ticket=` (a sign-in token from the operator), the ticket sign-in.
import { SignInWithPasskeyButton } from '@/components/SignInWithPasskeyButton'
import { TicketSignIn } from '@/components/TicketSignIn'

export default async function SignInPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>
}) {
  const ticket = (await searchParams).__clerk_ticket
  return (
    <section>
      <h2>Sign in</h2>
      {typeof ticket === 'string' && ticket ? <TicketSignIn ticket={ticket} /> : <SignInWithPasskeyButton />}
    </section>
  )
}
