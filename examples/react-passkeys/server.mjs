#!/usr/bin/env node
// Serves the built example (dist/) and forwards /__clerk/* to Latch, so the page and
// the SDK's proxyUrl="/__clerk" share one origin (no CORS, first-party cookies).
//
//   LATCH_URL=http://127.0.0.1:PORT [PORT=5173] node server.mjs
//
// /__clerk/v1/client?x=1  ->  $LATCH_URL/v1/client?x=1
// The browser's Origin, Cookie, Host and body pass through unchanged; Set-Cookie comes back
// (with any Domain= dropped so that it sticks to this origin). No dependencies.
import http from 'node:http'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(process.env.DIST_DIR ?? path.join(here, 'dist'))
const port = Number(process.env.PORT ?? 5173)
const latch = new URL(process.env.LATCH_URL ?? 'http://127.0.0.1:8080')
const prefix = '/__clerk'

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
}

function proxy(req, res) {
  const rest = req.url.slice(prefix.length) || '/'
  const headers = { ...req.headers }
  delete headers.connection
  const remote = req.socket.remoteAddress ?? ''
  headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${remote}` : remote
  headers['x-forwarded-host'] = req.headers.host ?? ''
  headers['x-forwarded-proto'] = 'http'
  headers['clerk-proxy-url'] = `http://${req.headers.host}${prefix}`
  const up = http.request(
    {
      protocol: latch.protocol,
      hostname: latch.hostname,
      port: latch.port,
      method: req.method,
      path: rest.startsWith('/') ? rest : `/${rest}`,
      headers,
    },
    (upRes) => {
      const out = { ...upRes.headers }
      if (out['set-cookie']) {
        out['set-cookie'] = out['set-cookie'].map((c) => c.replace(/;\s*domain=[^;]*/i, ''))
      }
      // a redirect to Latch's own address must come back through the proxy
      if (typeof out.location === 'string' && out.location.startsWith(latch.origin)) {
        out.location = prefix + out.location.slice(latch.origin.length)
      }
      res.writeHead(upRes.statusCode ?? 502, out)
      upRes.pipe(res)
    },
  )
  up.on('error', (err) => {
    if (res.headersSent) return res.destroy(err)
    res.writeHead(502, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ errors: [{ code: 'proxy_error', message: String(err.message), long_message: `Latch at ${latch.origin} is unreachable: ${err.message}` }] }))
  })
  req.pipe(up)
}

function serveStatic(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405).end()
    return
  }
  const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname)
  let file = path.join(root, pathname)
  if (!file.startsWith(root)) {
    res.writeHead(403).end()
    return
  }
  if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(root, 'index.html') // SPA routes
  fs.readFile(file, (err, body) => {
    if (err) {
      res.writeHead(404).end(`not found (did you run \`npm run build\`?)`)
      return
    }
    res.writeHead(200, {
      'content-type': types[path.extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  })
}

const handler = (req, res) => {
  if (req.url === prefix || req.url.startsWith(prefix + '/') || req.url.startsWith(prefix + '?')) proxy(req, res)
  else serveStatic(req, res)
}

// localhost may resolve to 127.0.0.1 or ::1 in the browser: listen on both loopbacks.
const hosts = ['127.0.0.1', '::1']
let ready = 0
for (const host of hosts) {
  const srv = http.createServer(handler)
  srv.on('error', (err) => {
    if (host === '::1' && (err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT')) return done()
    console.error(`example server: cannot listen on ${host}:${port}: ${err.message}`)
    process.exit(1)
  })
  srv.listen(port, host, done)
}
function done() {
  if (++ready === hosts.length) {
    console.log(`example listening on http://localhost:${port} (proxying ${prefix} to ${latch.origin})`)
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0))
