// Who sent a message, as its row shows it: the sender's display name when they have one
// (the frame's DisplayName, docs/PROTOCOL.md "Profiles"), with the user name beside it in
// smaller type (what mentions and "Write to" take), else the user name alone; and their
// picture (AvatarURL) in place of the badge with their initial, when they have one; and a
// BOT badge after the name of a bot account's message (the frame's "Bot": true).

export function showSender(item, message) {
  if (message.AvatarURL) {
    const picture = document.createElement("img");
    picture.className = "avatar picture";
    picture.src = message.AvatarURL;
    picture.alt = "";
    item.querySelector(".avatar")?.replaceWith(picture);
  }
  const name = item.querySelector(".name");
  if (message.DisplayName && message.DisplayName !== message.Username) {
    name.textContent = message.DisplayName;
    const login = document.createElement("span");
    login.className = "login-name";
    login.textContent = message.Username;
    login.title = `user name: ${message.Username}`;
    name.append(" ", login);
  }
  if (message.Bot) {
    const badge = document.createElement("span");
    badge.className = "bot-badge";
    badge.textContent = "BOT";
    badge.title = "a bot account";
    name.append(" ", badge);
  }
}
