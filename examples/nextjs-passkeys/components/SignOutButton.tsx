'use client'
import { useClerk } from '@clerk/nextjs'

export function SignOutButton() {
  const { signOut } = useClerk()
  const onClick = async () => {
    try {
      await signOut({ redirectUrl: '/' })
    } catch (err) {
      console.error('Error:', JSON.stringify(err, null, 2))
    }
  }
  return <button onClick={onClick}>Sign out</button>
}
