/*
 * The confirmation page of a payment whose bank wants the customer (3-D Secure): "Confirm with my
 * bank" lets Stripe.js run the bank's check; whatever its answer, the page then comes back with
 * `?returned=1`, where the server asks Stripe what became of the payment and shows it.
 */
(function () {
  "use strict";
  var holder = document.getElementById("bank-check");
  if (!holder) return;
  var button = document.getElementById("confirm-with-bank");
  var error = document.getElementById("bank-error");
  if (typeof window.Stripe !== "function") {
    error.textContent = holder.dataset.loadError;
    error.hidden = false;
    button.disabled = true;
    return;
  }
  var stripe = window.Stripe(holder.dataset.publishableKey, {locale: holder.dataset.locale});
  button.addEventListener("click", function () {
    button.disabled = true;
    error.hidden = true;
    stripe.handleNextAction({clientSecret: holder.dataset.clientSecret}).then(function () {
      window.location.assign(holder.dataset.returnedUrl);
    });
  });
})();
