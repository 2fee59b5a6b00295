// Copies clerk-js's browser bundle (the pinned @clerk/clerk-js in package-lock.json) into
// public/clerk-js/, so the app serves it itself: NEXT_PUBLIC_CLERK_JS_URL=/clerk-js/clerk.browser.js.
// Without it, <ClerkProvider> would load clerk-js from `<proxy or publishable-key host>/npm/...`,
// a CDN path Latch does not serve. The bundle loads its lazy chunks from its own folder, so
// the chunks come along. Runs on `npm install` / `npm ci` (postinstall) and before `next build`.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const pkg = path.join(here, '..', 'node_modules', '@clerk', 'clerk-js')
const dist = path.join(pkg, 'dist')
const out = path.join(here, '..', 'public', 'clerk-js')

fs.rmSync(out, { recursive: true, force: true })
fs.mkdirSync(out, { recursive: true })
const files = fs.readdirSync(dist).filter((f) => f === 'clerk.browser.js' || /_clerk\.browser_.*\.js$/.test(f))
if (!files.includes('clerk.browser.js')) throw new Error(`no clerk.browser.js in ${dist}`)
for (const f of files) fs.copyFileSync(path.join(dist, f), path.join(out, f))
const { version } = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'))
console.log(`copied clerk-js ${version} (${files.length} files) to public/clerk-js/`)
