/*
 * A stand-in for Stripe.js v3, served by the local Stripe (tests/payments/stripe_server.py) at
 * SIMRENEW_STRIPE_JS_URL. It implements the calls simrenew's pages make, the way Stripe.js makes
 * them: the card is typed into a frame served from Stripe's origin (never our page), which creates
 * a PaymentMethod and confirms the intent with the publishable key and the intent's client secret;
 * when the bank asks for 3-D Secure, a challenge frame covers the page; then the browser is sent to
 * the return URL with the intent's id and `redirect_status`, as Stripe does.
 *
 *   Stripe(publishableKey, {locale}) -> stripe
 *   stripe.elements({clientSecret, locale}) -> elements; elements.create("payment", options) -> element
 *   element.mount(selector); element.on("ready" | "change", handler)
 *   stripe.confirmSetup({elements, confirmParams: {return_url}})   -> {error} or navigates
 *   stripe.confirmPayment({elements?, clientSecret?, confirmParams: {return_url}}) -> {error} or navigates
 *   stripe.handleNextAction({clientSecret}) -> {paymentIntent} | {setupIntent} | {error}
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var origin = new URL(script.src).origin;

  function intentId(clientSecret) {
    return String(clientSecret || "").split("_secret_")[0];
  }

  function api(key, method, path, form) {
    var body = form ? new URLSearchParams(form).toString() : null;
    return fetch(origin + path, {
      method: method,
      headers: {
        "Authorization": "Bearer " + key,
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: body
    }).then(function (answer) {
      return answer.json();
    });
  }

  function challenge(id) {
    // Stripe.js covers the page with the bank's 3-D Secure frame and waits for its answer.
    return new Promise(function (resolve) {
      var frame = document.createElement("iframe");
      frame.src = origin + "/3ds/" + encodeURIComponent(id);
      frame.title = "3D Secure";
      frame.setAttribute("name", "stripe-challenge");
      frame.style.cssText = "position:fixed;inset:0;width:100%;height:100%;border:0;z-index:2147483647;background:#fff";
      function done(event) {
        if (event.origin !== origin || !event.data || event.data.type !== "stripe-3ds-done") return;
        window.removeEventListener("message", done);
        frame.remove();
        resolve(event.data.approved === true);
      }
      window.addEventListener("message", done);
      document.body.appendChild(frame);
    });
  }

  function Element(elements, kind, options) {
    this.elements = elements;
    this.kind = kind;
    this.options = options || {};
    this.frame = null;
    this.handlers = {};
  }
  Element.prototype.mount = function (where) {
    var host = typeof where === "string" ? document.querySelector(where) : where;
    var frame = document.createElement("iframe");
    var query = new URLSearchParams({locale: this.elements.locale || "auto"});
    frame.src = origin + "/elements/payment?" + query.toString();
    frame.title = this.elements.locale && this.elements.locale.indexOf("zh") === 0 ? "安全付款输入框" : "Secure payment input frame";
    frame.setAttribute("name", "stripe-payment-element");
    frame.style.cssText = "width:100%;height:196px;border:0;display:block";
    host.appendChild(frame);
    this.frame = frame;
    var element = this;
    frame.addEventListener("load", function () {
      (element.handlers.ready || []).forEach(function (handler) { handler({elementType: "payment"}); });
    });
  };
  Element.prototype.on = function (name, handler) {
    (this.handlers[name] = this.handlers[name] || []).push(handler);
  };
  Element.prototype.ask = function (message) {
    // The card never leaves the frame: the page asks it to create the PaymentMethod.
    var frame = this.frame;
    return new Promise(function (resolve) {
      var channel = new MessageChannel();
      channel.port1.onmessage = function (event) { resolve(event.data); };
      frame.contentWindow.postMessage(message, origin, [channel.port2]);
    });
  };

  function Elements(stripe, options) {
    this.stripe = stripe;
    this.clientSecret = options.clientSecret;
    this.locale = options.locale || stripe.locale;
    this.element = null;
  }
  Elements.prototype.create = function (kind, options) {
    if (kind !== "payment") throw new Error("The stand-in Stripe.js has the Payment Element only.");
    this.element = new Element(this, kind, options);
    return this.element;
  };
  Elements.prototype.getElement = function () { return this.element; };

  function StripeStandIn(key, options) {
    if (!/^pk_/.test(String(key))) throw new Error("Stripe(): a publishable key (pk_...) is required.");
    this.key = key;
    this.locale = (options && options.locale) || "auto";
  }
  StripeStandIn.prototype.elements = function (options) {
    return new Elements(this, options || {});
  };

  StripeStandIn.prototype._confirm = function (kind, elements, clientSecret, returnUrl) {
    var stripe = this;
    var id = intentId(clientSecret);
    var path = (kind === "setup" ? "/v1/setup_intents/" : "/v1/payment_intents/") + encodeURIComponent(id);
    var paying = elements && elements.element ? elements.element.ask({type: "stripe-create-payment-method", key: stripe.key}) : Promise.resolve({});
    return paying.then(function (created) {
      if (created.error) return {error: created.error};
      var form = {client_secret: clientSecret, return_url: returnUrl};
      if (created.id) form.payment_method = created.id;
      return api(stripe.key, "POST", path + "/confirm", form).then(function (intent) {
        if (intent.error) return {error: intent.error};
        return stripe._finish(kind, intent, clientSecret, returnUrl);
      });
    });
  };

  StripeStandIn.prototype._finish = function (kind, intent, clientSecret, returnUrl) {
    var stripe = this;
    var path = (kind === "setup" ? "/v1/setup_intents/" : "/v1/payment_intents/") + encodeURIComponent(intent.id);
    var settled = intent.status === "requires_action"
      ? challenge(intent.id).then(function () {
          return api(stripe.key, "GET", path + "?" + new URLSearchParams({client_secret: clientSecret}).toString());
        })
      : Promise.resolve(intent);
    return settled.then(function (final) {
      var succeeded = final.status === "succeeded" || final.status === "processing";
      if (!succeeded) {  // Stripe.js answers a failed authentication on the page, never by redirect
        var error = final.last_setup_error || final.last_payment_error || {};
        return {error: {type: "card_error", code: error.code, message: authenticationFailed(stripe.locale)}};
      }
      if (!returnUrl) {
        return kind === "setup" ? {setupIntent: final} : {paymentIntent: final};
      }
      var back = new URL(returnUrl);
      back.searchParams.set(kind === "setup" ? "setup_intent" : "payment_intent", final.id);
      back.searchParams.set(kind === "setup" ? "setup_intent_client_secret" : "payment_intent_client_secret", clientSecret);
      back.searchParams.set("redirect_status", "succeeded");
      window.location.assign(back.toString());
      return new Promise(function () {});  // the page is leaving, as with Stripe.js
    });
  };

  function authenticationFailed(locale) {
    return String(locale).indexOf("zh") === 0
      ? "我们无法验证您的付款方式。请选择其他付款方式后重试。"
      : "We are unable to authenticate your payment method. Please choose a different payment method and try again.";
  }

  StripeStandIn.prototype.confirmSetup = function (options) {
    return this._confirm("setup", options.elements, options.clientSecret || options.elements.clientSecret,
      options.confirmParams && options.confirmParams.return_url);
  };
  StripeStandIn.prototype.confirmPayment = function (options) {
    var elements = options.elements || null;
    return this._confirm("payment", elements, options.clientSecret || (elements && elements.clientSecret),
      options.confirmParams && options.confirmParams.return_url);
  };
  StripeStandIn.prototype.handleNextAction = function (options) {
    var kind = String(options.clientSecret).indexOf("seti_") === 0 ? "setup" : "payment";
    var stripe = this;
    var path = (kind === "setup" ? "/v1/setup_intents/" : "/v1/payment_intents/") + encodeURIComponent(intentId(options.clientSecret));
    return api(stripe.key, "GET", path + "?" + new URLSearchParams({client_secret: options.clientSecret}).toString())
      .then(function (intent) {
        if (intent.error) return {error: intent.error};
        return stripe._finish(kind, intent, options.clientSecret, null);
      });
  };

  window.Stripe = function (key, options) {
    return new StripeStandIn(key, options);
  };
})();
