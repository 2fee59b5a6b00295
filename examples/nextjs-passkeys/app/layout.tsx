import { ClerkProvider } from '@clerk/nextjs'
import Link from 'next/link'
import { Status } from '@/components/Status'

export const metadata = { title: 'Latch · Next.js passkeys' }

// <ClerkProvider> reads its settings from the environment (.env.example): the publishable key,
// the same-origin proxy path to Latch, where clerk-js is served from, the sign-in/up pages.
export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <ClerkProvider>
      <html lang="en">
        <body style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '2rem auto' }}>
          <h1>Latch · passkeys with Next.js and the Clerk SDK</h1>
          <nav>
            <Link href="/">Home</Link> · <Link href="/account">Account</Link> · <Link href="/sign-up">Sign up</Link> ·{' '}
            <Link href="/sign-in">Sign in</Link>
          </nav>
          <main id="page">{children}</main>
          <Status />
        </body>
      </html>
    </ClerkProvider>
  )
}
