// A staff job's page polls its status (JSON) every second until the job is done; without JavaScript the page's
// own refresh does the same.
(function () {
  var box = document.querySelector(".job-status");
  if (!box) { return; }
  var url = box.dataset.statusUrl;
  function show(s) {
    document.getElementById("job-status").textContent = s.status_label;
    document.getElementById("job-bar").value = s.percent || 0;
    document.getElementById("job-bar").setAttribute("aria-valuenow", s.percent || 0);
    document.getElementById("job-progress").textContent = s.progress + (s.total === null ? "" : " / " + s.total);
    document.getElementById("job-message").textContent = s.message;
    if (s.done) { document.getElementById("job-result").textContent = JSON.stringify(s.result, null, 2); }
    document.getElementById("job-error").textContent = s.error;
    return s.done;
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (s) { if (!show(s)) { setTimeout(poll, 1000); } })
      .catch(function () { setTimeout(poll, 5000); });
  }
  if (box.dataset.done !== "true") { setTimeout(poll, 1000); }
})();
