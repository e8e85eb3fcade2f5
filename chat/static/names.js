// The people the page knows by name (from messages, rooms, presence and searches):
// offered in the forms that take a name (Write to, Invite), and found by name, asking
// the server (GET /users?prefix=) about those the page has not met.

import { api } from "./api.js";
import { state } from "./state.js";

const $ = (selector) => document.querySelector(selector);

// The people the page has seen (in messages, rooms and searches), offered by name to the
// direct message form before anything is typed there; typing searches everyone.
export function learnName(uid, name) {
  if (state.names.get(uid) === name) return;
  state.names.set(uid, name);
  offer($("#people"), knownNames());
}

export function knownNames() {
  return [...state.names]
    .filter(([uid, name]) => uid !== state.me.uid && name !== `#${uid}`)
    .map(([, name]) => name);
}

// The people whose names start with what was typed in `input` (GET /users?prefix=),
// offered in its datalist, together with `known` names; remembered by name for `findUser`.
// An input marked data-several takes names separated by commas: the last one is looked
// for, and each suggestion keeps the names before it.
const found = new Map();   // lower-case name -> UID, from searches
export async function suggestPeople(input, known = []) {
  const typed = input.value;
  const lead = input.dataset.several === undefined ? "" : typed.slice(0, typed.lastIndexOf(",") + 1);
  const prefix = typed.slice(lead.length).trim();
  let people = [];
  if (prefix) {
    try {
      people = await api("GET", `/users?prefix=${encodeURIComponent(prefix)}`);
    } catch {
      return;   // suggestions are a help: typing on works without them
    }
    if (input.value !== typed) return;   // typed on meanwhile: a later search answers
  }
  for (const { UID, Username } of people) {
    found.set(Username.toLowerCase(), UID);
    learnName(UID, Username);
  }
  const names = [...known, ...people.map(({ Username }) => Username)];
  offer(input.list, lead ? names.map((name) => `${lead} ${name}`) : names);
}

function offer(datalist, names) {
  const options = [...new Set(names)].map((name) => {
    const option = document.createElement("option");
    option.value = name;
    return option;
  });
  datalist.replaceChildren(...options);
}

// The UID of the user called `name` (in any case), asking the server if the page has
// not met them yet; null if there is no such user.
export async function findUser(name) {
  const wanted = name.trim().toLowerCase();
  if (!wanted) return null;
  const seen = [...state.names].find(([, known]) => known.toLowerCase() === wanted);
  if (seen !== undefined) return seen[0];
  if (!found.has(wanted)) {
    const people = await api("GET", `/users?prefix=${encodeURIComponent(wanted)}`);
    for (const { UID, Username } of people) {
      found.set(Username.toLowerCase(), UID);
      learnName(UID, Username);
    }
  }
  return found.get(wanted) ?? null;
}
