'use client'
// Copied unchanged from Clerk's passkey guide ("Sign in with a passkey"); only the imports are ours.
// `useRouter` is Next.js' own (next/navigation), as the guide expects.
// Note: the guide's else-branch logs `signInAttempt`, which is not defined; we keep it as written
// (it throws a ReferenceError that the guide's own catch logs).
import { useSignIn } from '@clerk/nextjs'
import { useRouter } from 'next/navigation'

export function SignInWithPasskeyButton() {
  const { signIn } = useSignIn()
  const router = useRouter()

  const signInWithPasskey = async () => {
    // 'discoverable' lets the user choose a passkey
    // without auto-filling any of the options
    try {
      await signIn.passkey({ flow: 'discoverable' })
      if (signIn.status === 'complete') {
        await signIn.finalize({
          navigate: async ({ session, decorateUrl }) => {
            if (session?.currentTask) {
              // Handle pending session tasks
              // See https://clerk.com/docs/guides/development/custom-flows/authentication/session-tasks
              console.log(session?.currentTask)
              return
            }

            const url = decorateUrl('/')
            if (url.startsWith('http')) {
              window.location.href = url
            } else {
              router.push(url)
            }
          },
        })
      } else {
        // If the status is not complete, check why. User may need to
        // complete further steps.
        // @ts-expect-error -- as in the guide: `signInAttempt` is not defined
        console.error(JSON.stringify(signInAttempt, null, 2))
      }
    } catch (err) {
      // See https://clerk.com/docs/guides/development/custom-flows/error-handling
      // for more info on error handling
      console.error('Error:', JSON.stringify(err, null, 2))
    }
  }

  return <button onClick={signInWithPasskey}>Sign in with a passkey</button>
}
