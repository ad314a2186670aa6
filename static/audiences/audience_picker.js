// The step editor's "new or existing audience" field, an ARIA 1.2 combobox:
// typing searches the ad account's Pinterest audiences; the results list
// floats over the page; Arrow Up/Down move through the results, Enter picks
// the highlighted one (or loads the next page on "Load more"), Escape
// closes; scrolling to the end of the list loads the next page too. Typing a
// new name and clicking Create audience needs no script at all.
//
// Django's admin autocomplete (select2) was not used: it picks rows of our own
// database, whereas this searches Pinterest and must also take a free-text
// new name in the same field.
(function () {
  "use strict";

  function init(picker) {
    var form = picker.closest("form");
    var input = picker.querySelector("input[name=audience_name]");
    var hidden = picker.querySelector("input[name=pinterest_audience_id]");
    // A workspace audience (a draft another step created, not on Pinterest yet) goes by its row id instead.
    var local = picker.querySelector("input[name=audience_id]");
    var list = picker.querySelector(".audience-results");
    var status = picker.querySelector(".audience-status");
    var adAccount = form.querySelector("select[name=ad_account]");
    var url = picker.dataset.searchUrl;
    var timer = null;
    var request = 0;
    var active = -1;
    var nextBookmark = null;
    var loading = false;

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Existing Pinterest audiences");

    function options() { return Array.prototype.slice.call(list.querySelectorAll("[role=option]")); }

    function say(text) { if (status) { status.textContent = text; } }

    function show() { list.hidden = false; input.setAttribute("aria-expanded", "true"); }

    function hide() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      var all = options();
      all.forEach(function (li) { li.classList.remove("active"); li.setAttribute("aria-selected", "false"); });
      if (!all.length) { active = -1; return; }
      active = Math.max(0, Math.min(index, all.length - 1));
      var li = all[active];
      li.classList.add("active");
      li.setAttribute("aria-selected", "true");
      input.setAttribute("aria-activedescendant", li.id);
      li.scrollIntoView({ block: "nearest" });
    }

    function note(text) {
      var li = document.createElement("li");
      li.className = "note";
      li.setAttribute("role", "presentation");
      li.textContent = text;
      list.appendChild(li);
      say(text);
    }

    function choose(item) {
      input.value = item.name;
      hidden.value = item.local ? "" : item.id;
      if (local) { local.value = item.local ? item.local : ""; }
      hide();
      say("Chosen: " + item.name);
      form.submit();
    }

    function pick(li) {
      if (!li) { return; }
      if (li.classList.contains("more")) { search(nextBookmark); return; }
      choose({ id: li.dataset.id, name: li.dataset.name, local: li.dataset.local || "" });
    }

    function sizeText(item) {
      var parts = [];
      if (item.size != null) { parts.push(item.size.toLocaleString("en-US") + " identifiers"); }
      if (item.note) { parts.push(item.note); }
      else if (item.status) { parts.push(item.status === "READY" ? "ready" : item.status.toLowerCase().replace(/_/g, " ")); }
      if (item.id) { parts.push("id " + item.id); }
      return parts.join(" · ");
    }

    function render(data, append) {
      if (!append) { list.innerHTML = ""; active = -1; }
      var more = list.querySelector("li.more");
      if (more) { more.remove(); }
      var start = options().length;
      (data.items || []).forEach(function (item, i) {
        var li = document.createElement("li");
        li.className = "result";
        li.id = "audience-option-" + (start + i);
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.dataset.id = item.id;
        li.dataset.name = item.name;
        if (item.local) { li.dataset.local = item.local; }
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = item.name;
        var meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = sizeText(item);
        li.appendChild(name);
        li.appendChild(meta);
        list.appendChild(li);
      });
      nextBookmark = data.next_bookmark || null;
      if (!append && !(data.items || []).length) {
        var typed = input.value.trim();
        note(typed ? "No existing audience matches “" + typed + "”. Click Create audience to create it."
                   : "This ad account has no customer-list audiences yet. Type a name and click Create audience.");
      } else {
        say(options().length + " audiences found" + (nextBookmark ? "; more can be loaded" : "") + ". Use the arrow keys and Enter to pick one.");
      }
      if (nextBookmark) {
        var li = document.createElement("li");
        li.className = "more";
        li.id = "audience-option-more";
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.textContent = "Load more audiences";
        list.appendChild(li);
      }
      show();
      if (append && start < options().length) { highlight(Math.max(active, start)); }
    }

    function message(text) { list.innerHTML = ""; note(text); show(); }

    function search(bookmark) {
      if (!adAccount || !adAccount.value) { message("Choose an ad account to search its audiences."); return; }
      if (bookmark && loading) { return; }
      var mine = ++request;
      loading = true;
      var params = new URLSearchParams({ ad_account: adAccount.value, q: input.value.trim() });
      if (bookmark) { params.set("bookmark", bookmark); }
      fetch(url + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (mine !== request) { return; }
          loading = false;
          if (data.error) { message(data.error); return; }
          render(data, Boolean(bookmark));
        })
        .catch(function () { if (mine === request) { loading = false; message("Could not reach Pinterest; try again."); } });
    }

    list.addEventListener("mousedown", function (event) {
      var li = event.target.closest("[role=option]");
      event.preventDefault();  // keep the focus in the input
      pick(li);
    });
    list.addEventListener("scroll", function () {
      if (nextBookmark && list.scrollTop + list.clientHeight >= list.scrollHeight - 8) { search(nextBookmark); }
    });
    input.addEventListener("input", function () {
      hidden.value = "";
      if (local) { local.value = ""; }
      clearTimeout(timer);
      timer = setTimeout(function () { search(null); }, 250);
    });
    input.addEventListener("focus", function () { if (list.hidden) { search(null); } });
    input.addEventListener("blur", function () { setTimeout(hide, 150); });
    input.addEventListener("keydown", function (event) {
      var all = options();
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (list.hidden) { search(null); return; }
        highlight(active + 1);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        if (!list.hidden) { highlight(active <= 0 ? all.length - 1 : active - 1); }
      } else if (event.key === "Home" && !list.hidden && all.length) {
        event.preventDefault(); highlight(0);
      } else if (event.key === "End" && !list.hidden && all.length) {
        event.preventDefault(); highlight(all.length - 1);
      } else if (event.key === "Enter") {
        if (!list.hidden && active >= 0) { event.preventDefault(); pick(all[active]); }
        else if (!hidden.value) { event.preventDefault(); }  // Enter alone does not save a half-typed name
      } else if (event.key === "Escape") {
        if (!list.hidden) { event.preventDefault(); hide(); }
      }
    });
    if (adAccount) { adAccount.addEventListener("change", function () { hidden.value = ""; if (local) { local.value = ""; } hide(); }); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".audience-picker").forEach(init);
  });
})();
