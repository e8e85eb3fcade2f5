// The service worker: shows a Web Push (the server's, see docs/PROTOCOL.md "Web Push")
// as a notification when no page of ours is open, and opens the room at the message when
// it is clicked. It fetches nothing and caches nothing: pages load as they always do.

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
