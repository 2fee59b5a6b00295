/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // The example ships no ESLint setup; `next build` still type-checks.
  eslint: { ignoreDuringBuilds: true },
}

export default nextConfig
