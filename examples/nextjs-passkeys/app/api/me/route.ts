// A route handler the app's own frontend (or anything holding a session token) calls:
// `auth()` reads what clerkMiddleware() verified. 401 when signed out.
import { auth } from '@clerk/nextjs/server'

export async function GET() {
  const { userId, sessionId } = await auth()
  if (!userId) {
    return Response.json({ error: 'signed out' }, { status: 401 })
  }
  return Response.json({ userId, sessionId })
}
