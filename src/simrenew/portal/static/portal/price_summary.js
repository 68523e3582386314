// The price summary follows the plan picked (renew and add-an-eSIM pages).
//
// Each plan radio carries, in data attributes, what the summary says when that plan is
// picked (the server wrote them, formatted in the customer's language): picking a plan
// copies them into the elements marked data-summary="<name>", and hides the rows marked
// data-summary-row="<name>" whose value is empty (no discount for this plan, say).
// Without this script the page still works: its "Update price" button asks the server.
(function () {
  "use strict";

  function kebab(name) {
    return name.replace(/[A-Z]/g, function (letter) {
      return "-" + letter.toLowerCase();
    });
  }

  function show(form, radio) {
    Object.keys(radio.dataset).forEach(function (key) {
      var name = kebab(key);
      var value = radio.dataset[key];
      form.querySelectorAll('[data-summary="' + name + '"]').forEach(function (element) {
        element.textContent = value;
      });
      form.querySelectorAll('[data-summary-row="' + name + '"]').forEach(function (element) {
        element.hidden = value === "";
      });
    });
  }

  function follow(form) {
    form.addEventListener("change", function (event) {
      var radio = event.target;
      if (radio instanceof HTMLInputElement && radio.type === "radio" && radio.checked && "total" in radio.dataset) {
        show(form, radio);
      }
    });
    // A page restored from the back/forward cache keeps the radio but may not the summary.
    var checked = form.querySelector('input[type="radio"][data-total]:checked');
    if (checked) {
      show(form, checked);
    }
  }

  document.querySelectorAll("form[data-price-summary]").forEach(follow);
})();
