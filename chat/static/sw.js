// The service worker, for the whole origin (its response allows it: chat/http/client.py).
// It keeps the app shell (the page, its scripts, style sheet, manifest and icons) in a
// cache and serves it from there when the network fails, so that the page loads offline
// and shows the history offline.js kept, read-only. Online, everything loads from the
// network as ever (and the cache is refreshed with it); nothing but the shell goes
// through it. And it shows a Web Push (the server's, see docs/PROTOCOL.md "Web Push") as
// a notification when no page of ours is open, and opens the room at the message when
// it is clicked.

const SHELL_CACHE = "chat-shell-v1";   // offline.js fills it on each load, too
const SHELL = ["/", "/static/app.js", "/static/style.css", "/static/manifest.webmanifest"];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    await cache.addAll(SHELL).catch(() => {});   // offline.js adds them too
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("chat-shell-") && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

// The shell: from the network (kept in the cache), or from the cache when the network
// fails. Any other request is left alone.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const shell = event.request.method === "GET" && url.origin === self.location.origin
    && (url.pathname === "/" || url.pathname.startsWith("/static/"));
  if (!shell) return;
  event.respondWith((async () => {
    const key = url.pathname;
    try {
      const response = await fetch(event.request);
      if (response.ok) {
        const copy = response.clone();
        caches.open(SHELL_CACHE).then((cache) => cache.put(key, copy)).catch(() => {});
      }
      return response;
    } catch (error) {
      const cached = await caches.match(key, { cacheName: SHELL_CACHE });
      if (cached !== undefined) return cached;
      throw error;
    }
  })());
});

self.addEventListener("push", (event) => {
  let data;
  try {
    data = event.data.json();
  } catch {
    return;  // not one of ours
  }
  const where = data.RoomName ?? "a conversation";
  const title = data.Mention
    ? `${data.Sender} mentioned you in ${where}`
    : `${data.Sender} in ${where}`;
  event.waitUntil(self.registration.showNotification(title, {
    // A message of files alone has no text: its files' names stand for it.
    body: data.Text || (data.Files ? `\u{1F4CE} ${data.Files.join(", ")}` : ""),
    tag: `room-${data.RoomID}`,  // one per room: a newer one replaces it
    data: { room: data.RoomID, message: data.MessageID },
  }));
});

// A click: a page of ours already open goes to the message (attention.js listens);
// else a new one opens at the room.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const { room, message } = event.notification.data ?? {};
  event.waitUntil((async () => {
    const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const page of pages) {
      page.postMessage({ open: room, message });
      return page.focus();
    }
    return self.clients.openWindow(`/#/room/${room}`);
  })());
});
