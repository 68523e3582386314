/*
 * The card page with Stripe: mounts Stripe's Payment Element (cards only) with the SetupIntent's
 * client secret, and on "Save card" lets Stripe.js confirm it. Stripe then sends the browser to our
 * return URL (3-D Secure first, if the bank asks); an error (an incomplete field, a declined card,
 * a failed authentication) is shown here and the customer can try again.
 */
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) return;
  var error = document.getElementById("card-error");
  var button = document.getElementById("save-card");

  function show(message) {
    error.textContent = message;
    error.hidden = false;
    button.disabled = false;
  }

  if (typeof window.Stripe !== "function") {
    show(form.dataset.loadError);
    button.disabled = true;
    return;
  }
  var stripe = window.Stripe(form.dataset.publishableKey, {locale: form.dataset.locale});
  var elements = stripe.elements({clientSecret: form.dataset.clientSecret, locale: form.dataset.locale});
  var payment = elements.create("payment", {
    paymentMethodOrder: ["card"],
    wallets: {applePay: "never", googlePay: "never"}
  });
  payment.mount("#payment-element");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    var back = new URL(form.dataset.returnUrl);
    if (document.getElementById("make-default").checked) back.searchParams.set("default", "1");
    stripe.confirmSetup({elements: elements, confirmParams: {return_url: back.toString()}}).then(function (result) {
      // Reached only when Stripe did not send the browser on: say why, here. An incomplete field is
      // already marked in Stripe's frame, next to the field: only the button comes back.
      if (result && result.error && result.error.type === "validation_error") button.disabled = false;
      else if (result && result.error) show(result.error.message);
    });
  });
})();
