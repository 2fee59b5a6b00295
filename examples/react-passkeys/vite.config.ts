import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// Where `latch serve` listens. The browser only ever talks to this app's own
// origin; `/__clerk/*` is forwarded to Latch with the prefix stripped, so the
// SDK's `proxyUrl="/__clerk"` needs no CORS.
const latch = process.env.LATCH_URL ?? 'http://127.0.0.1:8080'

const proxy = {
  '/__clerk': {
    target: latch,
    changeOrigin: false, // keep the browser's Host/Origin: Latch checks Origin
    rewrite: (p: string) => p.replace(/^\/__clerk/, ''),
  },
}

export default defineConfig({
  plugins: [react()],
  server: { port: 5173, strictPort: true, proxy },
  preview: { port: 5173, strictPort: true, proxy },
  build: { chunkSizeWarningLimit: 4000 },
})
