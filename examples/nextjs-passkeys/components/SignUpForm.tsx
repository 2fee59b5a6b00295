'use client'
// Username sign-up (not part of the passkey guide; Latch is passkey-only, so a new user signs up
// with a username and then creates a passkey). Uses the same signal API as the guide.
import { useSignUp } from '@clerk/nextjs'
import { useRouter } from 'next/navigation'
import { useState } from 'react'

export function SignUpForm() {
  const { signUp, fetchStatus } = useSignUp()
  const router = useRouter()
  const [username, setUsername] = useState('')

  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault()
    const { error } = await signUp.create({ username })
    if (error) {
      console.error('Error:', JSON.stringify(error, null, 2))
      return
    }
    if (signUp.status !== 'complete') {
      console.error('Error:', JSON.stringify({ code: `sign_up_${signUp.status}`, missingFields: signUp.missingFields }))
      return
    }
    const res = await signUp.finalize({
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

  return (
    <form onSubmit={onSubmit}>
      <label>
        Username{' '}
        <input
          id="sign-up-username"
          name="username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
      </label>{' '}
      <button type="submit" disabled={fetchStatus === 'fetching'}>
        Sign up
      </button>
    </form>
  )
}
