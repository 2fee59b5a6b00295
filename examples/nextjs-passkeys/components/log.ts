'use client'
// Page-visible event log, so browser tests (and people) can see what the SDK reported. The
// seed's snippets report errors with `console.error('Error:', JSON.stringify(err, null, 2))`;
// console.error / console.log are mirrored into this store without touching those snippets.
// (The same idea as examples/react-passkeys/src/log.ts; installed once, in the browser only.)
import { useSyncExternalStore } from 'react'

export type LogEntry = { kind: string; code?: string; text: string }

let entries: LogEntry[] = []
let lastErrorCode = ''
const listeners = new Set<() => void>()
const emit = () => listeners.forEach((l) => l())

/** A Clerk error code out of whatever was thrown, returned or logged. */
export function errorCode(err: unknown): string | undefined {
  if (!err) return undefined
  if (typeof err === 'string') {
    try {
      return errorCode(JSON.parse(err))
    } catch {
      return undefined
    }
  }
  if (typeof err !== 'object') return undefined
  const e = err as any
  // ClerkAPIResponseError: errors[0].code is the server's code
  if (Array.isArray(e.errors) && e.errors[0]?.code) return String(e.errors[0].code)
  if (e.code) return String(e.code)
  if (e.clerkError && e.name) return String(e.name)
  return undefined
}

export function record(kind: string, payload: unknown) {
  const code = kind === 'error' ? errorCode(payload) : undefined
  let text: string
  if (typeof payload === 'string') text = payload
  else {
    try {
      text = JSON.stringify(payload)
    } catch {
      text = String(payload)
    }
  }
  entries = [...entries, { kind, code, text: text ?? String(payload) }]
  if (code) lastErrorCode = code
  emit()
}

function subscribe(l: () => void) {
  listeners.add(l)
  return () => {
    listeners.delete(l)
  }
}
const none: LogEntry[] = []
export const useLog = () => useSyncExternalStore(subscribe, () => entries, () => none)
export const useLastErrorCode = () => useSyncExternalStore(subscribe, () => lastErrorCode, () => '')

if (typeof window !== 'undefined' && !(window as any).__latchLogInstalled) {
  ;(window as any).__latchLogInstalled = true
  const origError = console.error.bind(console)
  const origLog = console.log.bind(console)
  console.error = (...args: unknown[]) => {
    origError(...args)
    // seed style: console.error('Error:', JSON.stringify(err, null, 2))
    const payload = args.length > 1 && args[0] === 'Error:' ? args[1] : args[0]
    record('error', payload)
  }
  console.log = (...args: unknown[]) => {
    origLog(...args)
    record('log', args.length === 1 ? args[0] : args)
  }
  window.addEventListener('unhandledrejection', (ev) => record('error', ev.reason))
}
