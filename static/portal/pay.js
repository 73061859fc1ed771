// 3-D Secure on the Pay page: Stripe.js asks the cardholder's bank, then the status page re-reads the payment.
(function () {
  "use strict";
  var script = document.currentScript;
  var box = document.getElementById("authenticate");
  if (!box || typeof Stripe === "undefined") {
    return;
  }
  var stripe = Stripe(box.dataset.publishableKey);
  stripe.confirmCardPayment(box.dataset.clientSecret).then(function (result) {
    if (result.error) {
      var error = document.getElementById("authenticate-error");
      error.textContent = result.error.message || script.dataset.failed;
      error.hidden = false;
    }
    window.location.assign(box.dataset.statusUrl);
  });
})();
