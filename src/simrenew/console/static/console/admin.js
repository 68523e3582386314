/* Loaded on every console page (templates/admin/base_site.html).
   Django admin's two-list picker (SelectFilter2.js, the user's groups and permissions) names its
   filter box with an aria-label on a bare <span>, which assistive technology ignores: a span has
   no role that takes a name (axe: aria-prohibited-attr), so the filter box went unnamed.
   Giving the icon role="img" makes the name count. The picker is drawn on the load event by a
   listener its script (in the page's head) adds; this script is deferred, so its listener comes
   after and finds the picker drawn. */
(function () {
  "use strict";
  function nameFilterIcons() {
    document.querySelectorAll(".search-label-icon[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
  }
  window.addEventListener("load", nameFilterIcons);
})();
