import './log' // mirror console.error / console.log onto the page first
import { Clerk } from '@clerk/clerk-js'
import { ClerkProvider } from '@clerk/react'
import { createRoot } from 'react-dom/client'
import { App } from './App'
import { navigate } from './router'

// A production (`pk_live_`) key: base64 of '<host>$'. The host is never contacted because every
// request goes to `proxyUrl` (same origin, forwarded to Latch). Production keys skip Clerk's
// development-browser handshake.
const publishableKey =
  import.meta.env.VITE_CLERK_PUBLISHABLE_KEY ?? 'pk_live_' + btoa('clerk.latch.localhost$')

createRoot(document.getElementById('root')!).render(
  <ClerkProvider
    publishableKey={publishableKey}
    proxyUrl="/__clerk"
    Clerk={Clerk}
    routerPush={(to: string) => navigate(to)}
    routerReplace={(to: string) => navigate(to, true)}
  >
    <App />
  </ClerkProvider>,
)
