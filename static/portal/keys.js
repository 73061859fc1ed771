// API keys page: the "Copy" button puts the new key on the clipboard.
(function () {
  "use strict";
  var copied = document.currentScript.dataset.copied;
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy).textContent.trim();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(text).then(function () { button.textContent = copied; });
      }
    });
  });
})();
