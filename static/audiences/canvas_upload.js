"use strict";
// The canvas page's CSV upload (templates/admin/audiences/canvas/change_form.html), a file of its own so
// the Content-Security-Policy needs no inline script.
// Sent with XMLHttpRequest so the page can show how much of a large file has
// reached the server; the answer (the import's page, which follows the job) then replaces it.
document.getElementById("upload-form").addEventListener("submit", function (event) {
  event.preventDefault();
  var form = event.target, bar = document.getElementById("upload-bar"), status = document.getElementById("upload-status");
  document.getElementById("upload-progress").hidden = false;
  document.getElementById("upload-submit").disabled = true;
  var request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.upload.onprogress = function (e) {
    if (!e.lengthComputable) return;
    var percent = Math.round(100 * e.loaded / e.total);
    bar.value = percent;
    status.textContent = "Uploading… " + percent + "% of " + Math.max(1, Math.round(e.total / 1048576)) + " MB";
  };
  request.upload.onload = function () {
    bar.removeAttribute("value");
    status.textContent = "Uploaded. Opening the import's page…";
  };
  request.onload = function () {
    document.open(); document.write(request.responseText); document.close();
    history.replaceState(null, "", request.responseURL);
  };
  request.onerror = function () {
    status.textContent = "The upload did not reach the server; check the connection and try again.";
    document.getElementById("upload-submit").disabled = false;
  };
  request.send(new FormData(form));
});
