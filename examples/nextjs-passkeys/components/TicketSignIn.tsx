'use client'
// Redeems a sign-in token (`/sign-in?__clerk_ticket=…`): the link an operator hands a user who
// lost every passkey (`latch sign-in-token --user …`, or the Backend API's
// `clerkClient.signInTokens.createSignInToken`). The user lands signed in on /account, where they
// create a new passkey. Clerk's ticket custom flow, with the signal API the passkey guide uses.
import { useAuth, useSignIn } from '@clerk/nextjs'
import { useRouter } from 'next/navigation'
import { useEffect, useRef } from 'react'

export function TicketSignIn({ ticket }: { ticket: string }) {
  const { isLoaded } = useAuth()
  const { signIn } = useSignIn()
  const router = useRouter()
  // A ticket is single-use: never send it twice (React runs effects twice in development).
  const sent = useRef(false)

  useEffect(() => {
    if (!isLoaded || sent.current) return
    sent.current = true
    const run = async () => {
      const { error } = await signIn.ticket({ ticket })
      if (error) {
        console.error('Error:', JSON.stringify(error, null, 2))
        return
      }
      if (signIn.status !== 'complete') {
        console.error('Error:', JSON.stringify({ code: `sign_in_${signIn.status}` }))
        return
      }
      const res = await signIn.finalize({
        navigate: async ({ session, decorateUrl }) => {
          if (session?.currentTask) {
            console.log(session?.currentTask)
            return
          }
          const url = decorateUrl('/account')
          if (url.startsWith('http')) window.location.href = url
          else router.push(url)
        },
      })
      if (res?.error) console.error('Error:', JSON.stringify(res.error, null, 2))
    }
    run()
  }, [isLoaded, signIn, ticket, router])

  return <p id="ticket-sign-in">Signing you in with your one-time link…</p>
}
