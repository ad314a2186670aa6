"use strict";
// An import's page (templates/audiences/import_job.html) follows the job while it runs: its figures
// from the status URL every second, then the page again once the job has ended, with its result.
(function () {
  var box = document.getElementById("import-job");
  var url = box && box.getAttribute("data-status-url");
  if (!url) return;
  var number = new Intl.NumberFormat("en-US");
  function show(status) {
    document.getElementById("import-state").textContent = status.state_label;
    document.getElementById("rows-read").textContent = number.format(status.rows_read);
    document.getElementById("rows-entered").textContent = number.format(status.rows_entered);
    document.getElementById("rows-refused").textContent = number.format(status.rows_refused);
    var bar = document.getElementById("import-bar");
    if (status.state === "entering") {
      bar.max = Math.max(1, status.rows_read);
      bar.value = status.rows_entered;
    }
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (!status) { setTimeout(poll, 3000); return; }
        show(status);
        if (status.finished) { window.location.reload(); return; }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
