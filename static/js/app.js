// The app shell's behaviour on every page (templates/base.html): the phone menu toggle
// ([data-nav-toggle]) and copy buttons ([data-copy="text"]), also in content htmx swaps in.
// A static file, not inline, so the Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";
  var live = document.getElementById("live-region");

  function announce(text) {
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function copied(button) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = "Copied";
    announce("Link copied to the clipboard");
    window.setTimeout(function () { button.textContent = button.dataset.label; }, 2000);
  }

  function copyText(text, button) {
    function fallback() {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try { if (document.execCommand("copy")) copied(button); } catch (e) { /* nothing to do */ }
      area.remove();
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); }, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-nav-toggle]");
    if (toggle) {
      var header = document.getElementById("app-header");
      var open = header.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      event.preventDefault();
      copyText(copy.getAttribute("data-copy"), copy);
    }
  });

  document.addEventListener("keydown", function (event) {
    var header = document.getElementById("app-header");
    if (event.key === "Escape" && header && header.classList.contains("nav-open")) {
      header.classList.remove("nav-open");
      var toggle = header.querySelector("[data-nav-toggle]");
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
    }
  });
})();
