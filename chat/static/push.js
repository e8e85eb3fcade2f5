// Web Push for this browser: once notifications are allowed, a service worker (sw.js)
// is registered and subscribed with the server's VAPID key (GET /push/key), and the
// subscription is registered with the server (POST /push/subscriptions), which pushes
// the messages each room's level asks for while no page of ours is connected. Logging
// out takes it back (DELETE), so the next person on this browser is not pushed ours.
//
// Where the browser has no push service (a headless test browser, a private window in
// some browsers), notifications still work while a page is open (attention.js).

let registration = null;

// base64url (the key as the server gives it) to the bytes subscribe() takes.
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

// The service worker, whatever happens to the subscription: a click on one of its
// notifications must find the page.
export async function startPush(api, { onOpen }) {
  if (!("serviceWorker" in navigator)) return false;
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data && typeof event.data.open === "number") {
      onOpen(event.data.open, event.data.message);
    }
  });
  if (!("PushManager" in window) || Notification.permission !== "granted") return false;
  try {
    registration = await navigator.serviceWorker.register("/static/sw.js", { scope: "/" });
    await navigator.serviceWorker.ready;
    const { publicKey } = await api("GET", "/push/key");
    let subscription = await registration.pushManager.getSubscription();
    if (subscription === null) {
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(publicKey),
      });
    }
    await api("POST", "/push/subscriptions", subscription.toJSON());
    return true;
  } catch {
    return false;  // no push service here: notifications while a page is open only
  }
}

// Logging out: this browser is pushed nothing more of ours.
export async function stopPush(api) {
  const subscription = await registration?.pushManager.getSubscription();
  if (!subscription) return;
  try {
    await api("DELETE", "/push/subscriptions", { endpoint: subscription.endpoint });
  } catch {
    // Gone already, or the token expired: the server removes it when its service says so.
  }
  await subscription.unsubscribe();
}
