// Shared by the native tests: a `latch serve` of their own, configured with one iOS and one
// Android app, and the wire log every test keeps.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const HERE = path.dirname(fileURLToPath(import.meta.url))
export const ROOT = path.resolve(HERE, '../..')

// The apps Latch is configured with (what an operator writes: two lines).
export const TEAM_ID = 'ABCDE12345'
export const BUNDLE_ID = 'com.example.latchapp'
export const PACKAGE = 'com.example.latchapp'
export const FINGERPRINT =
  '14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5'
/** A signing certificate Latch was not told about. */
export const OTHER_FINGERPRINT = FINGERPRINT.replace(/^14/, 'AA')

export const LATCH_BIN = process.env.LATCH_BIN ?? path.join(ROOT, 'target/debug/latch')

/**
 * `latch serve --port 0` with the apps configured (unless `apps: false`), on a data dir of its
 * own. Resolves to { url, stop, logs() }.
 */
export async function startLatch({ apps = true, extra = [] } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-native-'))
  const args = ['serve', '--port', '0', '--data-dir', dir, ...extra]
  // run.sh runs the suite again on PostgreSQL: every Latch of that run shares one database, as
  // nodes of one deployment do (usernames are unique per run).
  if (process.env.LATCH_NATIVE_DATABASE_URL) args.push('--database-url', process.env.LATCH_NATIVE_DATABASE_URL)
  if (apps) args.push('--ios-app', `${TEAM_ID}.${BUNDLE_ID}`, '--android-app', `${PACKAGE}=${FINGERPRINT}`)
  const env = { ...process.env }
  for (const k of ['LATCH_IOS_APPS', 'LATCH_ANDROID_APPS', 'LATCH_ORIGINS', 'LATCH_RP_ID', 'LATCH_CONFIG']) delete env[k]
  const child = spawn(LATCH_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`latch did not start:\n${output}`)), 30_000)
    const onData = (chunk) => {
      output += chunk
      const m = output.match(/latch listening on (http:\/\/\S+)/)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code) => reject(new Error(`latch exited (${code}):\n${output}`)))
  })
  return {
    url,
    port: new URL(url).port,
    logs: () => output,
    stop() {
      child.kill('SIGTERM')
      child.stdout.destroy()
      child.stderr.destroy()
      child.unref()
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}
