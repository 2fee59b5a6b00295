// clerkMiddleware() verifies the session on every request (and sends a page load whose cookies
// do not settle who is signed in through Latch's handshake). Two jobs here:
// - /account is protected: signed-out visitors go to NEXT_PUBLIC_CLERK_SIGN_IN_URL;
// - /__clerk/* is forwarded to Latch (CLERK_FAPI_URL) by @clerk/nextjs' own Frontend API proxy,
//   so clerk-js (NEXT_PUBLIC_CLERK_PROXY_URL=/__clerk) talks to this app's origin only and
//   Latch's cookies (__client, __client_uat) are first-party to the app.
import { clerkMiddleware, createRouteMatcher } from '@clerk/nextjs/server'

const isProtectedRoute = createRouteMatcher(['/account(.*)'])

export default clerkMiddleware(
  async (auth, req) => {
    if (isProtectedRoute(req)) await auth.protect()
  },
  { frontendApiProxy: { enabled: true } },
)

export const config = {
  matcher: [
    // Skip Next.js internals and static files (clerk-js itself included), unless in search params
    '/((?!_next|[^?]*\\.(?:html?|css|js(?!on)|jpe?g|webp|png|gif|svg|ttf|woff2?|ico|csv|docx?|xlsx?|zip|webmanifest)).*)',
    // Always run for API routes
    '/(api|trpc)(.*)',
    // The Frontend API proxy
    '/__clerk/(.*)',
  ],
}
