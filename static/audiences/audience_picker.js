// The step editor's "new or existing audience" field: search the ad account's
// Pinterest audiences as the marketer types, page through them with Load more,
// and bind the one chosen. Typing a new name and clicking Create Audience
// needs no script at all.
(function () {
  "use strict";

  function init(picker) {
    var form = picker.closest("form");
    var input = picker.querySelector("input[name=audience_name]");
    var hidden = picker.querySelector("input[name=pinterest_audience_id]");
    var list = picker.querySelector(".audience-results");
    var adAccount = form.querySelector("select[name=ad_account]");
    var url = picker.dataset.searchUrl;
    var timer = null;
    var request = 0;

    function hide() { list.hidden = true; }

    function note(text) {
      var li = document.createElement("li");
      li.className = "note";
      li.textContent = text;
      list.appendChild(li);
    }

    function choose(item) {
      input.value = item.name;
      hidden.value = item.id;
      hide();
      var flag = document.createElement("input");
      flag.type = "hidden";
      flag.name = "_use_existing";
      flag.value = "1";
      form.appendChild(flag);
      form.submit();
    }

    function render(data, append) {
      if (!append) { list.innerHTML = ""; }
      var more = list.querySelector("li.more");
      if (more) { more.remove(); }
      (data.items || []).forEach(function (item) {
        var li = document.createElement("li");
        li.className = "result";
        li.dataset.id = item.id;
        li.textContent = item.name;
        var meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = item.id + (item.size != null ? " · " + item.size + " users" : "") + (item.status ? " · " + item.status : "");
        li.appendChild(meta);
        li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(item); });
        list.appendChild(li);
      });
      if (!append && !(data.items || []).length) {
        note(input.value.trim() ? "No existing audience matches. Click Create Audience to create “" + input.value.trim() + "”." : "This ad account has no customer-list audiences yet.");
      }
      if (data.next_bookmark) {
        var li = document.createElement("li");
        li.className = "more";
        li.textContent = "Load more";
        li.addEventListener("mousedown", function (event) { event.preventDefault(); search(data.next_bookmark); });
        list.appendChild(li);
      }
      list.hidden = false;
    }

    function search(bookmark) {
      if (!adAccount || !adAccount.value) {
        list.innerHTML = "";
        note("Choose an ad account to search its audiences.");
        list.hidden = false;
        return;
      }
      var mine = ++request;
      var params = new URLSearchParams({ ad_account: adAccount.value, q: input.value.trim() });
      if (bookmark) { params.set("bookmark", bookmark); }
      fetch(url + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (mine !== request) { return; }
          if (data.error) { list.innerHTML = ""; note(data.error); list.hidden = false; return; }
          render(data, Boolean(bookmark));
        })
        .catch(function () { list.innerHTML = ""; note("Could not reach Pinterest; try again."); list.hidden = false; });
    }

    input.addEventListener("input", function () {
      hidden.value = "";
      clearTimeout(timer);
      timer = setTimeout(function () { search(null); }, 250);
    });
    input.addEventListener("focus", function () { search(null); });
    input.addEventListener("blur", function () { setTimeout(hide, 150); });
    input.addEventListener("keydown", function (event) { if (event.key === "Escape") { hide(); } });
    if (adAccount) { adAccount.addEventListener("change", function () { hidden.value = ""; hide(); }); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".audience-picker").forEach(init);
  });
})();
