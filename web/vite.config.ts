// Vite builds the app into dist/ (served by the local server at `/`, by CloudFront on AWS).
// JSX goes through esbuild with Preact's automatic runtime, so no Babel plugin is needed.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    target: 'es2020',
    // Nothing inlined as data: or into index.html: the CSP allows only files of this origin.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: { proxy: { '/v1': 'http://127.0.0.1:8080', '/config.json': 'http://127.0.0.1:8080' } },
  test: { environment: 'node', include: ['src/**/*.test.ts'] },
});
