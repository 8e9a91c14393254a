// The sections beside the object store: the menu in the header and the routes of the image,
// application credential and admin pages (#/images, #/credentials, #/admin/<tab>). The Admin
// entry shows for users with the `admin` role; Keystone refuses everyone else anyway.

import { showAdmin } from "./admin.js";
import { showCredentials } from "./credentials.js";
import { showImages } from "./images.js";

export function showMenu(session) {
  const admin = document.getElementById("menu-admin");
  admin.hidden = !(session.roles || []).includes("admin");
  const here = location.hash.replace(/^#\/?/, "").split("/")[0] || "";
  for (const link of document.querySelectorAll("#menu a")) {
    const section = link.getAttribute("href").replace(/^#\/?/, "").split("/")[0];
    if (section === here || (section === "" && here === "a")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** Shows the section `parts` names and returns true, or false when it is not one of these. */
export function routeSection(view, session, parts) {
  showMenu(session);
  if (parts[0] === "images") showImages(view, session);
  else if (parts[0] === "credentials") showCredentials(view, session);
  else if (parts[0] === "admin") showAdmin(view, session, parts[1]);
  else return false;
  return true;
}
