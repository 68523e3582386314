// The browser knows its time zone: on sign-up it is chosen for the customer, in Settings it is offered
// (a saved choice never changes by itself). Without this script the forms work as they are.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone) {
    return;
  }
  document.querySelectorAll("select[data-time-zone]").forEach(function (select) {
    var option = Array.prototype.find.call(select.options, function (candidate) {
      return candidate.value === zone;
    });
    if (!option) {
      return;
    }
    var likely = select.querySelector("optgroup");
    if (likely && option.parentNode !== likely) {
      likely.insertBefore(option, likely.firstChild);
    }
    if (select.value === zone) {
      return;
    }
    if (select.dataset.timeZone === "detect") {
      select.value = zone;
      return;
    }
    var hint = document.getElementById(select.id + "-suggestion");
    if (!hint) {
      return;
    }
    hint.querySelector("[data-zone-name]").textContent = option.textContent;
    hint.hidden = false;
    hint.querySelector("button").addEventListener("click", function () {
      select.value = zone;
      hint.hidden = true;
      select.focus();
    });
  });
})();
