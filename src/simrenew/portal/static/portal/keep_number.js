// "Keep my number" on the add-an-eSIM page: the old carrier's account number and PIN are asked
// for only while a number to keep is chosen, and the order summary says which number the new
// eSIM gets (each number radio carries the sentence in data-number-note, written by the server
// in the customer's language). Without this script the fields stay shown and the summary says
// what the server last saw: the page still works.
(function () {
  "use strict";

  function follow(form) {
    var details = form.querySelector("[data-port-details]");
    var notes = form.querySelectorAll('[data-summary="number"]');
    var ending = form.querySelector('select[name="end_subscription"]');

    function show(radio) {
      notes.forEach(function (element) {
        element.textContent = radio.dataset.numberNote;
      });
      if (details) {
        details.hidden = radio.value === "new";
      }
      // Keeping a number ends the plan that has it: the "plan to end" choice says so too.
      if (ending && radio.value !== "new") {
        ending.value = radio.value;
      }
    }

    form.addEventListener("change", function (event) {
      var radio = event.target;
      var isNumber = radio instanceof HTMLInputElement && radio.type === "radio" && "numberNote" in radio.dataset;
      if (isNumber && radio.checked) {
        show(radio);
      }
    });
    var checked = form.querySelector("input[type=radio][data-number-note]:checked");
    if (checked) {
      show(checked);
    }
  }

  document.querySelectorAll("form[data-keep-number]").forEach(follow);
})();
