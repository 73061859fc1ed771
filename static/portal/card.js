// Add a card: Stripe Elements collects it, Stripe.js confirms the SetupIntent (3-D Secure included), then the
// card-added form posts the SetupIntent's id and the portal saves the card Stripe set up (a POST: saving a card
// charges the unpaid invoices to it). The card number never reaches our server.
(function () {
  "use strict";
  var script = document.currentScript;
  var form = document.getElementById("card-form");
  if (!form || typeof Stripe === "undefined") {
    return;
  }
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var button = document.getElementById("card-submit");
  var errorBox = document.getElementById("card-error");
  var label = button.textContent;

  function showError(message) {
    errorBox.textContent = message || script.dataset.failed;
    errorBox.hidden = false;
    button.disabled = false;
    button.textContent = label;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    button.disabled = true;
    button.textContent = script.dataset.saving;
    stripe.confirmCardSetup(form.dataset.clientSecret, {payment_method: {card: card}}).then(function (result) {
      if (result.error) {
        showError(result.error.message);
        return;
      }
      var added = document.getElementById("card-added-form");
      document.getElementById("card-added-setup-intent").value = result.setupIntent.id;
      added.submit();
    }, function () {
      showError();
    });
  });
})();
