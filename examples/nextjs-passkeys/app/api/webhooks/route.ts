// Latch's webhooks, as a Clerk app receives them: `verifyWebhook` (Svix headers, HMAC with
// CLERK_WEBHOOK_SIGNING_SECRET, the `whsec_…` that `latch webhooks add` printed) refuses
// anything Latch did not sign. A real app would update its own database here; this example
// keeps what arrived in memory.
import { verifyWebhook } from '@clerk/nextjs/webhooks'
import type { NextRequest } from 'next/server'

type Received = { id: string; type: string; objectId: string | null; userId: string | null }
const received: Received[] = ((globalThis as { __latchWebhooks?: Received[] }).__latchWebhooks ??= [])

export async function POST(req: NextRequest) {
  try {
    const event = await verifyWebhook(req)
    const data = event.data as { id?: string; user_id?: string }
    received.push({
      id: req.headers.get('svix-id') ?? '',
      type: event.type,
      objectId: data.id ?? null,
      userId: data.user_id ?? (event.type.startsWith('user.') ? (data.id ?? null) : null),
    })
    return new Response('ok')
  } catch {
    return new Response('bad signature', { status: 400 })
  }
}

// What arrived, for the example's tests only (WEBHOOK_LOG_READABLE=1): an app would not
// publish its webhook log.
export async function GET() {
  if (process.env.WEBHOOK_LOG_READABLE !== '1') return new Response('not found', { status: 404 })
  return Response.json(received)
}
