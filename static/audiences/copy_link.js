"use strict";
// The Copy button beside a link to send on (the invite page's one-time link): <button data-copy="ID"
// data-copy-status="ID" hidden>. A file rather than an inline script, so the Content-Security-Policy needs no
// nonce for it. The button stays hidden without JavaScript (the link is plain text to select then).
// navigator.clipboard exists only in a secure context (https, or this machine): elsewhere the link is
// selected and the status says to press the copy keys.
(function () {
  function select(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    var status = document.getElementById(button.dataset.copyStatus);
    if (!source || !status) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = source.textContent.trim();
      var selectInstead = function () {
        select(source);
        status.textContent = "Selected: press Ctrl+C (⌘C on a Mac) to copy";
      };
      if (!navigator.clipboard || !window.isSecureContext) {
        selectInstead();
        return;
      }
      navigator.clipboard.writeText(text).then(function () {
        status.textContent = "Copied";
      }, selectInstead);
    });
  });
})();
