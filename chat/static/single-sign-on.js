// Single sign-on on the login view: a "Sign in with <Name>" link per provider the server
// lists (GET /oidc/providers), each a plain navigation to /oidc/<Name>/login, which sends
// the browser to the provider and, once signed in there, back to / with the session
// cookie (session.js then resumes it as any session). With single sign-on only, the
// password form goes. A sign-in that failed comes back to / with its reason in a
// short-lived cookie (chat/http/oidc.py): shown here, then deleted.

const ERROR_COOKIE = "chat_sso_error";

// The reason the last sign-in failed, if the server left one; deleted as it is read.
function failedSignIn() {
  const entry = document.cookie.split("; ").find((part) => part.startsWith(`${ERROR_COOKIE}=`));
  if (entry === undefined) return null;
  document.cookie = `${ERROR_COOKIE}=; Max-Age=0; Path=/; SameSite=Lax`;
  try {
    return decodeURIComponent(entry.slice(ERROR_COOKIE.length + 1));
  } catch {
    return "Sign-in failed.";
  }
}

// Fill the login view's single sign-on part (and show `showError` a failed sign-in's
// reason). Nothing when the server has no providers, or cannot be asked.
export async function setUpSingleSignOn(showError) {
  const failed = failedSignIn();
  if (failed !== null) showError(failed);
  let listed;
  try {
    const response = await fetch("/oidc/providers");
    if (!response.ok) return;
    listed = await response.json();
  } catch {
    return;   // offline: the login view is not what is shown then
  }
  const box = document.querySelector("#sso");
  const links = listed.Providers.map(({ Name, LoginURL }) => {
    const link = document.createElement("a");
    link.className = "button sso";
    link.href = LoginURL;
    link.textContent = `Sign in with ${Name}`;
    return link;
  });
  box.replaceChildren(...links);
  box.hidden = links.length === 0;
  document.querySelector("#login-form").classList.toggle("sso-only", !listed.PasswordLogin);
}
