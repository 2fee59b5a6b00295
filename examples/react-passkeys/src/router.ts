// Minimal client-side router: the "router glue" the seed's snippets expect
// (`const router = useRouter(); router.push(url)`), without a framework.
import { useSyncExternalStore } from 'react'

const listeners = new Set<() => void>()
const notify = () => listeners.forEach((l) => l())
window.addEventListener('popstate', notify)

export function navigate(to: string, replace = false) {
  const url = new URL(to, window.location.href)
  if (url.origin !== window.location.origin) {
    window.location.href = url.href
    return
  }
  if (replace) window.history.replaceState(null, '', url)
  else window.history.pushState(null, '', url)
  notify()
}

export function usePathname(): string {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    () => window.location.pathname,
  )
}

export function useRouter() {
  return {
    push: (url: string) => navigate(url),
    replace: (url: string) => navigate(url, true),
  }
}
