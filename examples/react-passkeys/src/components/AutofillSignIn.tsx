// Passkey autofill (conditional mediation): the browser offers the user's passkeys
// in the username field's autofill; picking one signs in. The input must carry
// autocomplete="username webauthn".
import { useSignIn } from '@clerk/react'
import { useEffect } from 'react'
import { useRouter } from '../router'

export function AutofillSignIn() {
  const { signIn } = useSignIn()
  const router = useRouter()

  useEffect(() => {
    let stale = false
    const run = async () => {
      const { error } = await signIn.passkey({ flow: 'autofill' })
      if (stale) return
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
          const url = decorateUrl('/')
          if (url.startsWith('http')) window.location.href = url
          else router.push(url)
        },
      })
      if (res?.error) console.error('Error:', JSON.stringify(res.error, null, 2))
    }
    run()
    return () => {
      stale = true
    }
    // run once per mount: each passkey() call starts a new sign-in and aborts the previous prompt
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [])

  return (
    <form onSubmit={(e) => e.preventDefault()}>
      <label>
        Username{' '}
        <input id="autofill-username" name="username" type="text" autoComplete="username webauthn" />
      </label>
    </form>
  )
}
