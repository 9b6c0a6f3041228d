// The field app's service worker: it keeps every file of the app so the
// app opens with no signal. The API is never cached (the app keeps its
// data in IndexedDB). __VERSION__ is a hash of the app's files, filled in
// by the server: a changed app is a new cache.
const CACHE = 'fieldsync-app-__VERSION__';
const FILES = [
  '/app/', '/app/app.js', '/app/fieldsync-client.js', '/app/errors.js', '/app/expr.js', '/app/dom.js', '/app/form.js', '/app/checklist.js', '/app/exif.js', '/app/media.js', '/app/app.css',
  '/app/manifest.webmanifest', '/app/icon.svg', '/app/icon-192.png', '/app/icon-512.png',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || !url.pathname.startsWith('/app')) return;
  // The app from the cache first (it opens at once, signal or not); any
  // page of the app is the one page.
  const key = event.request.mode === 'navigate' ? '/app/' : url.pathname;
  event.respondWith((async () => {
    const cached = await caches.match(key, { ignoreSearch: true });
    if (cached) return cached;
    try {
      return await fetch(event.request);
    } catch {
      return new Response('离线,且此文件未缓存', { status: 503, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
    }
  })());
});
