// Who sent a message, as its row shows it: the sender's display name when they have one
// (the frame's DisplayName, docs/PROTOCOL.md "Profiles"), with the user name beside it in
// smaller type (what mentions and "Write to" take), else the user name alone; and their
// picture (AvatarURL) in place of the badge with their initial, when they have one.

export function showSender(item, message) {
  if (message.AvatarURL) {
    const picture = document.createElement("img");
    picture.className = "avatar picture";
    picture.src = message.AvatarURL;
    picture.alt = "";
    item.querySelector(".avatar")?.replaceWith(picture);
  }
  if (!message.DisplayName || message.DisplayName === message.Username) return;
  const name = item.querySelector(".name");
  name.textContent = message.DisplayName;
  const login = document.createElement("span");
  login.className = "login-name";
  login.textContent = message.Username;
  login.title = `user name: ${message.Username}`;
  name.append(" ", login);
}
